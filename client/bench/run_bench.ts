/**
 * The whole bench in one call: measures the daemon side by side with its
 * ceilings in the same run — a minimal NDJSON echo server, the daemon with
 * `--sync normal` and `--sync full`, end to end to `listo`, and Redis with a
 * durable ack when `redis-server` is installed — request/response at each
 * connection count, one order per connection, and pipelined; then probes
 * the daemon's memory and renders the report. `main.ts` is its command line.
 *
 * @module
 */

import os from "node:os";
import { type Mode, type Row, runRounds, type Sample, summarise } from "./driver.ts";
import { type IdleResult, type NonReaderResult, probeIdle, probeNonReader } from "./memory.ts";
import { type ManyWaitsOptions, type ManyWaitsResult, probeManyWaits } from "./many_waits.ts";
import { type BenchResult, type Machine, renderReport, TARGET_NAMES } from "./report.ts";
import { keepMarkedSections } from "./report_modes.ts";
import { MANY_WAITS_MARK, renderManyWaits, replaceMarkedSection } from "./report_waits.ts";
import { redisVersion, startDaemon, startEcho, startRedis, type Target } from "./targets.ts";

/** Options of {@linkcode runBench}. */
export interface BenchOptions {
  /** Fewer rounds, shorter measurements, fewer idle connections. @default {false} */
  quick?: boolean;
  /** Rounds per target and connection count. @default {5, or 2 quick} */
  rounds?: number;
  /** Seconds of sending per measurement. @default {1.5, or 0.5 quick} */
  seconds?: number;
  /** Connection counts. @default {[1, 16, 64]} */
  conns?: number[];
  /** Loops of the one-order-per-connection mode (0 skips it). @default {50} */
  perOrderClients?: number;
  /** Connections of the pipelined mode, 32 in flight each (0 skips it). @default {16} */
  pipelineConns?: number;
  /** Idle connections opened on the daemon (0 skips the probe). @default {10000, or 2000 quick} */
  idleConnections?: number;
  /** Seconds the never-reading client stays held back (0 skips the probe). @default {3, or 1 quick} */
  nonReaderSeconds?: number;
  /**
   * The probe of many waits on one big order (`many_waits.ts`): its sizes, or
   * false to skip it. @default {its own; quick: 2000 waits, `timeoutMs` 2000, `notReadingS` 1}
   */
  manyWaits?: ProbeSizes | false;
  /** The checkout whose daemon is measured (a before/after comparison). @default {this one} */
  daemonRoot?: string;
  /** Include Redis when `redis-server` is installed. @default {true} */
  redis?: boolean;
  /** A short unrecorded run per target first. @default {true} */
  warmUp?: boolean;
  /** Where the report is written; null writes nothing. @default {null} */
  out?: string | null;
  /** Progress lines, for people. @default {nothing} */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** The sizes of the probe of many waits, as {@linkcode BenchOptions.manyWaits} takes them. */
export type ProbeSizes = Omit<ManyWaitsOptions, "dir" | "root" | "log" | "signal">;

/** What {@linkcode runBench} returns. */
export interface BenchOutput {
  result: BenchResult;
  /** The Markdown report. */
  report: string;
}

/** The probe of many waits under `--quick`: fewer waits, shorter timeouts and watch. */
const QUICK_WAITS: ProbeSizes = { waits: 2000, timeoutMs: 2000, notReadingS: 1 };

function machine(redis: string | null): Machine {
  // Each fact needs --allow-sys; without it (as under `deno task test`) it is left out.
  let cpu = "unknown CPU";
  let memoryGiB: number | null = null;
  let release = "";
  try {
    cpu = os.cpus()[0]?.model.trim() || cpu;
  } catch {
    // not allowed
  }
  try {
    memoryGiB = Deno.systemMemoryInfo().total / 2 ** 30;
    release = ` ${Deno.osRelease()}`;
  } catch {
    // not allowed
  }
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memoryGiB,
    os: `${Deno.build.os}${release}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    redis,
  };
}

function formatSample(s: Sample): string {
  const e2e = s.e2ePerS === null ? "" : `  e2e ${s.e2ePerS.toFixed(0)}/s`;
  return `round ${s.round + 1}  ${s.mode.padEnd(3)} ${s.target.padEnd(28)} ${
    String(s.conns).padStart(3)
  } conns  ` +
    `${s.reqPerS.toFixed(0).padStart(7)} req/s  p50 ${s.p50?.toFixed(2) ?? "—"} ms  ` +
    `p99 ${s.p99?.toFixed(2) ?? "—"} ms${e2e}${s.errors ? `  ${s.errors} errors` : ""}`;
}

/**
 * Runs the whole bench and renders the report (and writes it to `out`).
 *
 * @example Usage
 * ```ts ignore
 * import { runBench } from "./run_bench.ts";
 * const { report } = await runBench({ quick: true, out: "docs/benchmarks.md" });
 * ```
 */
export async function runBench(options: BenchOptions = {}): Promise<BenchOutput> {
  const quick = options.quick ?? false;
  const rounds = options.rounds ?? (quick ? 2 : 5);
  const seconds = options.seconds ?? (quick ? 0.5 : 1.5);
  const conns = options.conns ?? [1, 16, 64];
  const perOrderClients = options.perOrderClients ?? 50;
  const pipelineConns = options.pipelineConns ?? 16;
  const extra = [
    ...(perOrderClients > 0 ? [{ mode: "cpo" as Mode, conns: perOrderClients }] : []),
    ...(pipelineConns > 0 ? [{ mode: "p32" as Mode, conns: pipelineConns }] : []),
  ];
  const idleCount = options.idleConnections ?? (quick ? 2000 : 10_000);
  const nonReaderSeconds = options.nonReaderSeconds ?? (quick ? 1 : 3);
  const waitSizes = options.manyWaits ?? (quick ? QUICK_WAITS : {});
  const log = options.log ?? (() => {});
  const { signal } = options;
  const started = performance.now();

  const redis = options.redis === false ? null : await redisVersion();
  const redisNote = options.redis === false
    ? "Redis was left out (--no-redis)."
    : redis === null
    ? "Redis is not installed here (no `redis-server`), so there is no Redis row or ratio."
    : null;
  const tmp = await Deno.makeTempDir({ prefix: "pedidos-bench-" });
  const targets: Target[] = [];
  let samples: Sample[] = [];
  let idle: IdleResult | null = null;
  let nonReader: NonReaderResult | null = null;
  let manyWaits: ManyWaitsResult | null = null;
  const peakKiB: Record<string, number | null> = {};
  try {
    log("starting the targets…");
    const dirs = ["normal", "full", "redis", "memory"].map((name) => `${tmp}/${name}`);
    for (const dir of dirs) await Deno.mkdir(dir);
    const [normalDir, fullDir, redisDir, memoryDir] = dirs as [string, string, string, string];
    const starting = [
      startEcho(),
      startDaemon({ dir: normalDir, sync: "normal", root: options.daemonRoot }),
      startDaemon({ dir: fullDir, sync: "full", root: options.daemonRoot }),
      ...(redis === null ? [] : [startRedis(redisDir)]),
    ];
    const settled = await Promise.allSettled(starting);
    for (const s of settled) if (s.status === "fulfilled") targets.push(s.value);
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;

    samples = await runRounds({
      targets,
      endToEnd: new Set([TARGET_NAMES.full]),
      conns,
      extra,
      rounds,
      seconds,
      warmUp: options.warmUp ?? true,
      signal,
      onSample: (sample) => log(formatSample(sample)),
    });
    for (const target of targets) {
      const values = samples.filter((s) => s.target === target.name && s.rssKiB !== null)
        .map((s) => s.rssKiB!);
      peakKiB[target.name] = values.length > 0 ? Math.max(...values) : null;
    }
    await Promise.all(targets.splice(0).map((target) => target.process.stop()));

    if ((idleCount > 0 || nonReaderSeconds > 0) && !signal?.aborted) {
      log("memory probes on a fresh daemon…");
      await using daemon = await startDaemon({
        dir: memoryDir,
        sync: "full",
        root: options.daemonRoot,
        maxConnections: idleCount + 64,
        maxPedidos: 1000,
      });
      if (idleCount > 0) {
        idle = await probeIdle(daemon, idleCount);
        log(`idle: ${idle.held} connections held, RSS ${idle.beforeKiB} → ${idle.withKiB} KiB`);
      }
      if (nonReaderSeconds > 0) {
        nonReader = await probeNonReader(daemon, {
          holdSeconds: nonReaderSeconds,
          maxSeconds: nonReaderSeconds + 10,
        });
        log(
          `never-reading client: wrote ${nonReader.writtenBytes} B, RSS ${nonReader.beforeKiB} → ` +
            `${nonReader.stalledKiB} (held back) → ${nonReader.endKiB} KiB`,
        );
      }
    }
    if (waitSizes !== false && !signal?.aborted) {
      manyWaits = await probeManyWaits({
        ...waitSizes,
        dir: tmp,
        root: options.daemonRoot,
        log,
        signal,
      });
    }
  } finally {
    await Promise.all(targets.map((target) => target.process.stop()));
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }

  const intake = [TARGET_NAMES.echo, TARGET_NAMES.normal, TARGET_NAMES.full];
  const rows: Row[] = [
    ...summarise(samples, intake, conns),
    ...summarise(samples, [TARGET_NAMES.full], conns, "e2e").map((r) => ({
      ...r,
      target: TARGET_NAMES.e2e,
    })),
    ...(redis === null ? [] : summarise(samples, [TARGET_NAMES.redis], conns)),
  ];
  const everyTarget = [...intake, ...(redis === null ? [] : [TARGET_NAMES.redis])];
  const perConnection = perOrderClients > 0
    ? summarise(samples, everyTarget, [perOrderClients], "intake", "cpo")
    : [];
  const pipelined = pipelineConns > 0
    ? summarise(samples, everyTarget, [pipelineConns], "intake", "p32")
    : [];
  const result: BenchResult = {
    date: new Date(),
    machine: machine(redis),
    quick,
    rounds,
    seconds,
    conns,
    rows,
    perConnection,
    pipelined,
    samples,
    peakKiB,
    idle,
    nonReader,
    manyWaits,
    elapsedS: (performance.now() - started) / 1000,
    redisNote,
  };
  const report = renderReport(result);
  if (options.out) {
    let previous = "";
    try {
      previous = await Deno.readTextFile(options.out);
    } catch {
      // a new file
    }
    await Deno.writeTextFile(options.out, keepMarkedSections(report, previous));
  }
  return { result, report };
}

/** Options of {@linkcode runManyWaitsOnly}. */
export interface ManyWaitsOnlyOptions {
  /** Shorter timeouts and watch, as the whole bench's `--quick`. @default {false} */
  quick?: boolean;
  /** The probe's sizes. @default {its own, or quick's} */
  sizes?: ProbeSizes;
  /** The checkout whose daemon is measured. @default {this one} */
  daemonRoot?: string;
  /** The report whose many-waits section is rewritten (the rest kept); null writes nothing. @default {null} */
  out?: string | null;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * `deno task bench --only waits`: runs only the probe of many waits on one
 * big order and rewrites only its section of `out`.
 *
 * @returns The probe's result and its section, markers included.
 */
export async function runManyWaitsOnly(
  options: ManyWaitsOnlyOptions = {},
): Promise<{ result: ManyWaitsResult; section: string }> {
  const quick = options.quick ?? false;
  const tmp = await Deno.makeTempDir({ prefix: "pedidos-bench-waits-" });
  let result: ManyWaitsResult;
  try {
    result = await probeManyWaits({
      ...(options.sizes ?? (quick ? QUICK_WAITS : {})),
      dir: tmp,
      root: options.daemonRoot,
      log: options.log,
      signal: options.signal,
    });
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  const command = `deno task bench${quick ? " --quick" : ""} --only waits`;
  const section = renderManyWaits(result, { date: new Date(), command, alone: true }).join("\n");
  if (options.out) {
    let previous = "";
    try {
      previous = await Deno.readTextFile(options.out);
    } catch {
      // a new file
    }
    await Deno.writeTextFile(options.out, replaceMarkedSection(previous, MANY_WAITS_MARK, section));
  }
  return { result, section };
}
