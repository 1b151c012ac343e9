/**
 * `deno task bench:retention`: what retention (§4) costs the daemon.
 *
 * - `--mode prune` (default): a database holding a backlog of old finished
 *   orders (1 000 000 by default, `fecha_fin` 30 days ago) is given to a
 *   daemon with `--retain-s 604800`, which starts deleting them at once, a
 *   batch at a time; meanwhile the load generator measures intake (orders
 *   acked per second, latency p50/p99). The same run on the same file with
 *   `--retain-s 0` (no pruning) is the control. The metrics endpoint says
 *   how far the prune got, to show it ran for the whole measurement.
 * - `--mode soak`: a steady stream of orders (`--rate`, per second) for
 *   `--seconds`, with `--retain-s 60`: the database file grows for the first
 *   minute, then SQLite reuses the pages freed by each prune and the file
 *   stops growing. Prints the file sizes (main file and WAL) over time.
 *
 * ```sh
 * deno task bench:retention                         # prune, ~1 minute
 * deno task bench:retention --mode soak --seconds 300
 * ```
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { type LoadSummary, runLoad } from "../load/mod.ts";
import { migrate } from "../../workers/sqlite/schema.ts";
import { ServiceProcess } from "./service_process.ts";
import { ROOT, runMain } from "./targets.ts";
import { parseToolArgs } from "./tool_args.ts";

/** A daemon started for this bench, with its metrics address. */
interface Daemon extends AsyncDisposable {
  port: number;
  metricsPort: number;
  process: ServiceProcess;
}

async function startDaemon(dir: string, flags: string[]): Promise<Daemon> {
  const process = await ServiceProcess.spawn("daemon", Deno.execPath(), [
    ...runMain(ROOT, dir),
    "server",
    "--host=127.0.0.1",
    "--port=0",
    `--db=${dir}/pedidos.db`,
    "--workers=2",
    "--max-pedidos=100000000",
    "--process-ms=0",
    "--metrics-port=0",
    "--log=info",
    ...flags,
  ], {
    cwd: dir,
    ready: (out) => /listening on/.test(out) && /metrics\.listening/.test(out),
    timeoutMs: 120_000,
  });
  const port = Number(/listening on \S*?:(\d+)/.exec(process.output)![1]);
  const metricsPort = Number(/127\.0\.0\.1:(\d+)\/metrics/.exec(process.output)![1]);
  return {
    port,
    metricsPort,
    process,
    [Symbol.asyncDispose]: async () => void await process.stop(),
  };
}

/** One series of the daemon's metrics (0 when absent). */
async function metric(daemon: Daemon, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${daemon.metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

/** Writes `rows` finished orders, `fecha_fin` 30 days ago, into a new database file. */
function prepareBacklog(path: string, rows: number): void {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    migrate(db);
    const insert = db.prepare(
      `INSERT INTO pedidos (cliente, productos, direccion, estado, fecha_recibido,
                            fecha_inicio, fecha_fin, worker, intentos)
       VALUES ('Ana', '["pan","agua"]', 'Av. Siempre Viva 742', 'listo', ?, ?, ?, 1, 1)`,
    );
    const old = Date.now() - 30 * 86_400_000;
    for (let done = 0; done < rows; done += 50_000) {
      db.exec("BEGIN");
      for (let i = done; i < Math.min(rows, done + 50_000); i++) {
        const at = new Date(old + i).toISOString();
        insert.run(at, at, at);
      }
      db.exec("COMMIT");
    }
  } finally {
    db.close();
  }
}

function line(label: string, summary: LoadSummary): string {
  const { p50, p99, max } = summary.latenciaMs;
  return `${label.padEnd(26)} ${String(Math.round(summary.porSegundo)).padStart(7)} orders/s` +
    `  p50 ${p50} ms  p99 ${p99} ms  max ${max} ms  errors ${summary.errores}`;
}

async function measure(daemon: Daemon, seconds: number, conns: number): Promise<LoadSummary> {
  return await runLoad({
    hosts: ["127.0.0.1"],
    port: daemon.port,
    clientes: conns,
    pedidos: Infinity,
    pipeline: 1,
    duracionMs: seconds * 1000,
  });
}

async function prune(rows: number, seconds: number, conns: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pedidos-retention-" });
  try {
    const seed = `${dir}/seed.db`;
    const started = performance.now();
    prepareBacklog(seed, rows);
    console.log(
      `backlog: ${rows} old orders written in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s, ` +
        `${(Deno.statSync(seed).size / 2 ** 20).toFixed(0)} MiB`,
    );
    for (const [label, retain] of [["control (--retain-s 0)", "0"], ["while pruning", "604800"]]) {
      await Deno.copyFile(seed, `${dir}/pedidos.db`);
      await using daemon = await startDaemon(dir, [`--retain-s=${retain}`, "--sync=full"]);
      const summary = await measure(daemon, seconds, conns);
      const deleted = await metric(daemon, "pedidos_retencion_borrados_total");
      const batches = await metric(daemon, "pedidos_retencion_lotes_total");
      console.log(
        line(label!, summary) +
          (retain === "0" ? "" : `  (deleted ${deleted} in ${batches} batches so far)`),
      );
      const commits = await metric(daemon, "pedidos_escritor_commit_segundos_count");
      const sum = await metric(daemon, "pedidos_escritor_commit_segundos_sum");
      console.log(
        `${"".padEnd(26)} writer: ${commits} commits, mean ${(sum / commits * 1000).toFixed(2)} ms`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function soak(seconds: number, rate: number, everyS: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pedidos-soak-" });
  try {
    await using daemon = await startDaemon(dir, ["--retain-s=60", "--sync=normal"]);
    const size = (name: string) => {
      try {
        return Deno.statSync(`${dir}/${name}`).size;
      } catch {
        return 0;
      }
    };
    const load = runLoad({
      hosts: ["127.0.0.1"],
      port: daemon.port,
      clientes: 4,
      pedidos: Infinity,
      pipeline: 1,
      tasa: rate,
      duracionMs: seconds * 1000,
    });
    console.log("   s   main KiB    WAL KiB   orders  deleted");
    const start = performance.now();
    for (let t = 0; t <= seconds; t += everyS) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, start + t * 1000 - performance.now()))
      );
      const accepted = await metric(daemon, "pedidos_aceptados_total");
      const deleted = await metric(daemon, "pedidos_retencion_borrados_total");
      console.log(
        `${String(t).padStart(4)} ${String(Math.round(size("pedidos.db") / 1024)).padStart(10)} ` +
          `${String(Math.round(size("pedidos.db-wal") / 1024)).padStart(10)} ` +
          `${String(accepted).padStart(8)} ${String(deleted).padStart(8)}`,
      );
    }
    console.log(line("steady stream", await load));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const USAGE = `Usage: deno task bench:retention [--mode prune|soak] [options]

  --mode prune     intake while a backlog of old orders is pruned, against no pruning (default)
  --rows N         prune: the backlog of old finished orders (default 1000000)
  --conns N        prune: the load's connections (default 16)
  --mode soak      a steady stream of orders with --retain-s 60: the file's size over time
  --rate N         soak: orders a second (default 300)
  --every S        soak: seconds between size readings (default 15)
  --seconds S      how long to measure (prune: default 10; soak: default 300)
  -h, --help       this text
`;

if (import.meta.main) {
  const values = parseToolArgs(Deno.args, {
    name: "bench:retention",
    usage: USAGE,
    options: {
      mode: { type: "string", default: "prune" },
      rows: { type: "string", default: "1000000" },
      seconds: { type: "string" },
      conns: { type: "string", default: "16" },
      rate: { type: "string", default: "300" },
      every: { type: "string", default: "15" },
    },
    positive: ["rows", "seconds", "conns", "rate", "every"],
    check: (v) =>
      v.mode === "prune" || v.mode === "soak"
        ? null
        : `invalid --mode "${v.mode}": must be prune or soak`,
  });
  if (values.mode === "soak") {
    await soak(Number(values.seconds ?? 300), Number(values.rate), Number(values.every));
  } else {
    await prune(Number(values.rows), Number(values.seconds ?? 10), Number(values.conns));
  }
}
