/**
 * `deno task bench:pg`: the PostgreSQL store measured with the bench's own
 * load code, on the local PostgreSQL, side by side in one run: the plain
 * one-row-per-commit ceiling (same driver), our SQLite daemon, and 1, 2 and
 * 3 daemons on one database — intake and end to end (`--process-ms 0`) at
 * 1, 16 and 64 connections — then draining a backlog of 20,000 `pendiente`
 * orders with 1, 2 and 3 daemons. Writes its section of `docs/benchmarks.md`.
 *
 * A load over several daemons opens its connections round-robin over them
 * and sums their replies per second; `p50` is the mean of the daemons'
 * p50s weighted by replies, `p99` the largest of their p99s.
 *
 * ```sh
 * deno task bench:pg            # about 4 minutes
 * deno task bench:pg --quick    # about 1 minute
 * ```
 *
 * @module
 */

import postgres from "postgres";
import { type LoadSummary, runLoad } from "../load/mod.ts";
import { median } from "./driver.ts";
import { PedidosClient } from "../client.ts";
import {
  createDatabase,
  dropDatabase,
  type MultiTarget,
  postgresVersion,
  startPgDaemons,
  startPlainInsert,
  startSqliteDaemon,
} from "./postgres_targets.ts";
import { type PgRow, renderPostgresSection } from "./postgres_report.ts";
import { cpuSeconds, postgresCpuSeconds } from "./cpu_ticks.ts";
import { ROOT } from "./targets.ts";
import { parseToolArgs } from "./tool_args.ts";

/** One measurement: intake, and (for daemons) end to end. */
interface PgSample {
  target: string;
  conns: number;
  reqPerS: number;
  p50: number | null;
  p99: number | null;
  e2ePerS: number | null;
  errors: number;
  /**
   * CPU per accepted order during the measurement, µs: the target's
   * processes, PostgreSQL's, and the load generator's (this process, which
   * does nothing else meanwhile).
   */
  cpuUs: { target: number; postgres: number; load: number } | null;
}

function spread(total: number, ports: number[]): [port: number, conns: number][] {
  return ports.map((port, i): [number, number] => [
    port,
    Math.floor(total / ports.length) + (i < total % ports.length ? 1 : 0),
  ]).filter(([, n]) => n > 0);
}

async function measure(
  target: MultiTarget,
  conns: number,
  seconds: number,
  endToEnd = target.processesOrders,
): Promise<PgSample> {
  // A moment unrecorded first, so that every target meets the load warm (pools
  // open): the ceiling closes its idle connections while the others take their turn.
  await Promise.all(
    spread(conns, target.ports).map(([port, clientes]) =>
      runLoad({ hosts: ["127.0.0.1"], port, clientes, pedidos: Infinity, duracionMs: 200 })
    ),
  );
  await settle(target);
  const cpuBefore = await cpuNow(target);
  const runs: LoadSummary[] = await Promise.all(
    spread(conns, target.ports).map(([port, clientes]) =>
      runLoad({
        hosts: ["127.0.0.1"],
        port,
        clientes,
        pedidos: Infinity,
        pipeline: 1,
        duracionMs: seconds * 1000,
        esperar: endToEnd,
        esperarTimeoutMs: 120_000,
        replyTimeoutMs: 10_000,
      })
    ),
  );
  const cpuAfter = await cpuNow(target);
  await settle(target);
  const replies = runs.reduce((n, r) => n + r.aceptados + r.rechazados + r.errores, 0);
  const weighted = runs.reduce(
    (sum, r) => sum + (r.latenciaMs.p50 ?? 0) * (r.aceptados + r.rechazados + r.errores),
    0,
  );
  const waits = runs.map((r) => r.esperar?.hastaListosS ?? null);
  const accepted = runs.reduce((n, r) => n + r.aceptados, 0);
  return {
    target: target.name,
    conns,
    reqPerS: runs.reduce((n, r) => n + r.porSegundo, 0),
    p50: replies > 0 ? weighted / replies : null,
    p99: Math.max(...runs.map((r) => r.latenciaMs.p99 ?? 0)),
    e2ePerS: endToEnd && waits.every((w) => w !== null)
      ? accepted / Math.max(...(waits as number[]))
      : null,
    errors: runs.reduce((n, r) => n + r.errores, 0),
    cpuUs: cpuBefore === null || cpuAfter === null || accepted === 0 ? null : {
      target: (cpuAfter.target - cpuBefore.target) / accepted * 1e6,
      postgres: (cpuAfter.postgres - cpuBefore.postgres) / accepted * 1e6,
      load: (cpuAfter.load - cpuBefore.load) / accepted * 1e6,
    },
  };
}

/**
 * CPU seconds so far of the target's processes, of PostgreSQL and of this
 * process (the load generator); null where unreadable.
 */
async function cpuNow(
  target: MultiTarget,
): Promise<{ target: number; postgres: number; load: number } | null> {
  const [own, postgres, load] = await Promise.all([
    cpuSeconds(target.processes.map((p) => p.pid)),
    postgresCpuSeconds(),
    cpuSeconds([Deno.pid]),
  ]);
  return own === null || postgres === null || load === null
    ? null
    : { target: own, postgres, load };
}

/**
 * Waits until the target has nothing unfinished (its daemons' STATS), so
 * rounds do not overlap; nothing to wait for where orders wait on purpose.
 */
async function settle(target: MultiTarget): Promise<void> {
  if (!target.processesOrders) return;
  const deadline = Date.now() + 60_000;
  for (const port of target.ports) {
    await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port });
    while (Date.now() < deadline) {
      const stats = (await client.request({ op: "STATS" })).stats as
        | Record<string, number>
        | undefined;
      if (!stats || (stats.pendientes ?? 0) + (stats.en_proceso ?? 0) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * Orders drained, unrecorded, before the measured backlog: as many as it
 * holds for each process that drains (each daemon, or graphile-worker's one).
 */
export function warmUpBacklog(backlog: number, processes: number): number {
  return backlog * processes;
}

/**
 * Stores `backlog` orders `pendiente` in one transaction (the daemons woken
 * by it) and waits until none is left unfinished; seconds from that commit.
 */
async function drainOnce(sql: postgres.Sql, backlog: number): Promise<number> {
  await sql.begin(async (tx) => {
    await tx`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido)
      SELECT 'Bench ' || n, '["pan"]'::jsonb, 'Calle 1', now()
      FROM generate_series(1, ${backlog}) AS n`;
    await tx`SELECT pg_notify('pedidos_nuevos', '')`;
  });
  // From the commit (the daemons are woken by it): storing the backlog is not draining it.
  const started = performance.now();
  // Watched through the daemons' count of unfinished orders (16 rows): counting
  // the table itself every 10 ms would take a good share of PostgreSQL's CPU.
  for (;;) {
    const [row] = await sql`SELECT coalesce(sum(n), 0)::int AS n FROM pedidos_sin_terminar`;
    if (row?.n === 0) break;
    if (performance.now() - started > 300_000) throw new Error("the backlog did not drain");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return (performance.now() - started) / 1000;
}

/**
 * Drains a backlog: `count` daemons start on a fresh database and drain
 * one first, unrecorded ({@linkcode warmUpBacklog}), to be as a cluster
 * that has been running is (the intake's measurements meet warm daemons
 * the same way); then `backlog` orders are stored `pendiente` in one
 * transaction (and the daemons woken), timed from that commit until every
 * one is `listo`.
 */
export async function measureDrain(count: number, backlog: number): Promise<number> {
  await using target = await startPgDaemons(`pedidos_bench_drain${count}`, count);
  const sql = postgres(target.url!, { max: 1, onnotice: () => {} });
  try {
    const warmUp = warmUpBacklog(backlog, count);
    await drainOnce(sql, warmUp);
    const seconds = await drainOnce(sql, backlog);
    const [done] = await sql`SELECT count(*)::int AS n FROM pedidos WHERE estado = 'listo'`;
    if (done?.n !== warmUp + backlog) {
      throw new Error(`${done?.n} of ${warmUp + backlog} orders listo after the drain`);
    }
    return backlog / seconds;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * Drains the same backlog with graphile-worker, the issue's reference
 * (`graphile_drain.ts`, a process of its own on a fresh database); jobs/s.
 */
export async function measureGraphileDrain(backlog: number): Promise<number> {
  const db = "pedidos_bench_graphile";
  const url = await createDatabase(db);
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--frozen",
        `--config=${ROOT}deno.json`,
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-read",
        "--allow-sys",
        `${ROOT}client/bench/graphile_drain.ts`,
        "--db",
        url,
        "--jobs",
        String(backlog),
        "--warm-up",
        String(warmUpBacklog(backlog, 1)),
      ],
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).output();
    const out = new TextDecoder().decode(stdout).trim().split("\n").at(-1) ?? "";
    if (code !== 0 || !out.startsWith("{")) {
      throw new Error(
        `graphile-worker's drain failed (exit ${code}): ${new TextDecoder().decode(stderr)}`,
      );
    }
    return (JSON.parse(out) as { perS: number }).perS;
  } finally {
    await dropDatabase(db);
  }
}

/** Options of {@linkcode runPostgresBench}. */
export interface PgBenchOptions {
  /** @default {false} */
  quick?: boolean;
  /** @default {3, or 1 quick} */
  rounds?: number;
  /** Seconds of sending per measurement. @default {1.5, or 0.5 quick} */
  seconds?: number;
  /** @default {[1, 16, 64]} */
  conns?: number[];
  /** Orders in the drained backlog. @default {20000, or 5000 quick} */
  backlog?: number;
  log?: (line: string) => void;
  /** The command the report names. @default {"deno task bench:pg", with " --quick" when quick} */
  command?: string;
}

/** Runs the PostgreSQL bench; returns its Markdown section. */
export async function runPostgresBench(options: PgBenchOptions = {}): Promise<string> {
  const quick = options.quick ?? false;
  const rounds = options.rounds ?? (quick ? 1 : 3);
  const seconds = options.seconds ?? (quick ? 0.5 : 1.5);
  const conns = options.conns ?? [1, 16, 64];
  const backlog = options.backlog ?? (quick ? 5000 : 20_000);
  const log = options.log ?? (() => {});
  const version = await postgresVersion();
  if (version === null) throw new Error("PostgreSQL is not reachable (set PEDIDOS_BENCH_PG)");
  const began = performance.now();
  const load: number[] = [Deno.loadavg()[0] ?? 0];
  const samples: PgSample[] = [];
  const note = (sample: PgSample) =>
    log(
      `${sample.target.padEnd(36)} ${String(sample.conns).padStart(2)} conns ` +
        `${sample.reqPerS.toFixed(0).padStart(6)} req/s  e2e ${
          sample.e2ePerS?.toFixed(0) ?? "—"
        }/s`,
    );
  // The ceiling first, alone: its 64 connections and the daemons' pools together
  // would pass the server's max_connections (100 by default).
  {
    await using plain = await startPlainInsert("pedidos_bench_plain");
    await measure(plain, Math.max(...conns), 1);
    for (let round = 0; round < rounds; round++) {
      for (const count of conns) {
        const sample = await measure(plain, count, seconds);
        samples.push(sample);
        note(sample);
      }
    }
  }
  // Then intake alone, then end to end: each phase's daemons take turns, in a
  // rotated order each round (and stay within max_connections).
  for (const mode of ["intake", "end to end"] as const) {
    const targets: MultiTarget[] = [];
    try {
      targets.push(await startSqliteDaemon(mode));
      for (const n of [1, 2, 3]) {
        targets.push(
          await startPgDaemons(`pedidos_bench_${mode === "intake" ? "i" : "e"}${n}`, n, mode),
        );
      }
      // Warm up every target (JIT, connections, prepared statements).
      for (const target of targets) await measure(target, Math.max(...conns), 0.5, false);
      for (let round = 0; round < rounds; round++) {
        for (const count of conns) {
          const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
          for (const target of order) {
            const sample = await measure(target, count, seconds);
            samples.push(sample);
            note(sample);
          }
        }
      }
    } finally {
      await Promise.all(targets.map((t) => t[Symbol.asyncDispose]()));
    }
  }
  // The drains, ours and graphile-worker's, taking turns in a rotated order each round.
  const drainSamples = new Map<number, number[]>();
  const drainers = [0, 1, 2, 3]; // 0: graphile-worker
  for (let round = 0; round < rounds; round++) {
    for (const n of drainers.map((_, i) => drainers[(i + round) % drainers.length]!)) {
      const perS = n === 0 ? await measureGraphileDrain(backlog) : await measureDrain(n, backlog);
      drainSamples.set(n, [...drainSamples.get(n) ?? [], perS]);
      log(
        `drain ${backlog} with ${n === 0 ? "graphile-worker" : `${n} daemon(s)`}: ${
          perS.toFixed(0)
        }/s`,
      );
    }
  }
  const drains = [1, 2, 3].map((n) => ({ daemons: n, perS: median(drainSamples.get(n)!)! }));
  const graphileDrain = median(drainSamples.get(0)!);
  load.push(Deno.loadavg()[0] ?? 0);

  const rows: PgRow[] = [];
  for (const name of [...new Set(samples.map((s) => s.target))]) {
    for (const count of conns) {
      const mine = samples.filter((s) => s.target === name && s.conns === count);
      const pick = (f: (s: PgSample) => number | null) =>
        median(mine.map(f).filter((v): v is number => v !== null));
      rows.push({
        target: name,
        conns: count,
        reqPerS: pick((s) => s.reqPerS),
        p50: pick((s) => s.p50),
        p99: pick((s) => s.p99),
        e2ePerS: pick((s) => s.e2ePerS),
        errors: mine.reduce((n, s) => n + s.errors, 0),
        cpuTargetUs: pick((s) => s.cpuUs?.target ?? null),
        cpuPostgresUs: pick((s) => s.cpuUs?.postgres ?? null),
        cpuLoadUs: pick((s) => s.cpuUs?.load ?? null),
      });
    }
  }
  return renderPostgresSection({
    command: options.command ?? `deno task bench:pg${quick ? " --quick" : ""}`,
    date: new Date(),
    postgres: version,
    cores: navigator.hardwareConcurrency,
    rounds,
    seconds,
    backlog,
    loadavg: load,
    elapsedS: (performance.now() - began) / 1000,
    rows,
    drains,
    graphileDrain,
  });
}

/** Puts `section` into `path` between its markers (appended the first time). */
export async function writeSection(path: string, section: string): Promise<void> {
  const start = "<!-- postgres-bench:start -->";
  const end = "<!-- postgres-bench:end -->";
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch {
    // a new file
  }
  const block = `${start}\n${section.trim()}\n${end}\n`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text = from !== -1 && to > from
    ? text.slice(0, from) + block + text.slice(to + end.length + 1)
    : `${text.trimEnd()}\n\n${block}`;
  await Deno.writeTextFile(path, text);
}

const USAGE = `Usage: deno task bench:pg [--quick] [options]

The PostgreSQL part of deno task bench, alone (about 4 minutes; --quick,
about 1): the PostgreSQL store beside the plain insert, the SQLite daemon
and graphile-worker, on the PostgreSQL at 127.0.0.1:5432 (or PEDIDOS_BENCH_PG).

  --quick          fewer rounds, shorter measurements, a smaller backlog
  --rounds N       rounds of each measurement
  --seconds S      each measurement
  --backlog N      orders drained (default 20000)
  --out FILE       the report whose section it rewrites (default docs/benchmarks.md)
  -h, --help       this text
`;

if (import.meta.main) {
  const values = parseToolArgs(Deno.args, {
    name: "bench:pg",
    usage: USAGE,
    options: {
      quick: { type: "boolean" },
      rounds: { type: "string" },
      seconds: { type: "string" },
      backlog: { type: "string" },
      out: { type: "string", default: "docs/benchmarks.md" },
    },
    positive: ["rounds", "seconds", "backlog"],
  });
  const section = await runPostgresBench({
    quick: values.quick ?? false,
    ...(values.rounds ? { rounds: Number(values.rounds) } : {}),
    ...(values.seconds ? { seconds: Number(values.seconds) } : {}),
    ...(values.backlog ? { backlog: Number(values.backlog) } : {}),
    log: (line) => console.error(line),
  });
  console.log(section);
  if (values.out) {
    await writeSection(values.out, section);
    console.log(`Wrote ${values.out}`);
  }
}
