/**
 * `deno task bench`: measures the daemon side by side with its ceilings in
 * the same run — a minimal NDJSON echo server, the daemon with `--sync
 * normal` and `--sync full`, end to end to `listo`, and Redis with a durable
 * ack when `redis-server` is installed — then probes the daemon's memory,
 * and writes `docs/benchmarks.md`.
 *
 * ```sh
 * deno task bench            # about 3 minutes
 * deno task bench --quick    # well under a minute
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import os from "node:os";
import { type Row, runRounds, type Sample, summarise } from "./driver.ts";
import { type IdleResult, type NonReaderResult, probeIdle, probeNonReader } from "./memory.ts";
import { type BenchResult, headline, type Machine, renderReport, TARGET_NAMES } from "./report.ts";
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
  /** Idle connections opened on the daemon (0 skips the probe). @default {10000, or 2000 quick} */
  idleConnections?: number;
  /** Seconds the never-reading client stays held back (0 skips the probe). @default {3, or 1 quick} */
  nonReaderSeconds?: number;
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

/** What {@linkcode runBench} returns. */
export interface BenchOutput {
  result: BenchResult;
  /** The Markdown report. */
  report: string;
}

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
  return `round ${s.round + 1}  ${s.target.padEnd(28)} ${String(s.conns).padStart(3)} conns  ` +
    `${s.reqPerS.toFixed(0).padStart(7)} req/s  p50 ${s.p50?.toFixed(2) ?? "—"} ms  ` +
    `p99 ${s.p99?.toFixed(2) ?? "—"} ms${e2e}${s.errors ? `  ${s.errors} errors` : ""}`;
}

/**
 * Runs the whole bench and renders the report (and writes it to `out`).
 *
 * @example Usage
 * ```ts ignore
 * import { runBench } from "./main.ts";
 * const { report } = await runBench({ quick: true, out: "docs/benchmarks.md" });
 * ```
 */
export async function runBench(options: BenchOptions = {}): Promise<BenchOutput> {
  const quick = options.quick ?? false;
  const rounds = options.rounds ?? (quick ? 2 : 5);
  const seconds = options.seconds ?? (quick ? 0.5 : 1.5);
  const conns = options.conns ?? [1, 16, 64];
  const idleCount = options.idleConnections ?? (quick ? 2000 : 10_000);
  const nonReaderSeconds = options.nonReaderSeconds ?? (quick ? 1 : 3);
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
  const peakKiB: Record<string, number | null> = {};
  try {
    log("starting the targets…");
    const dirs = ["normal", "full", "redis", "memory"].map((name) => `${tmp}/${name}`);
    for (const dir of dirs) await Deno.mkdir(dir);
    const [normalDir, fullDir, redisDir, memoryDir] = dirs as [string, string, string, string];
    const starting = [
      startEcho(),
      startDaemon({ dir: normalDir, sync: "normal" }),
      startDaemon({ dir: fullDir, sync: "full" }),
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
  const result: BenchResult = {
    date: new Date(),
    machine: machine(redis),
    quick,
    rounds,
    seconds,
    conns,
    rows,
    samples,
    peakKiB,
    idle,
    nonReader,
    elapsedS: (performance.now() - started) / 1000,
    redisNote,
  };
  const report = renderReport(result);
  if (options.out) await Deno.writeTextFile(options.out, report);
  return { result, report };
}

const USAGE = `Usage: deno task bench [--quick] [--out PATH] [--rounds N] [--seconds S]
                        [--conns 1,16,64] [--idle N] [--no-redis]

Measures the daemon beside an echo ceiling and Redis in the same run and
writes the report (default docs/benchmarks.md). About 3 minutes; --quick
well under one.
`;

async function main(args: string[]): Promise<number> {
  const encoder = new TextEncoder();
  // A closed pipe must not kill the bench before it stops its processes.
  const write = (file: typeof Deno.stdout, text: string) => {
    try {
      const bytes = encoder.encode(text);
      for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
    } catch {
      // nobody is reading
    }
  };
  const print = (text: string) => write(Deno.stdout, text);
  const printError = (text: string) => write(Deno.stderr, text);
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        quick: { type: "boolean" },
        out: { type: "string", default: "docs/benchmarks.md" },
        rounds: { type: "string" },
        seconds: { type: "string" },
        conns: { type: "string" },
        idle: { type: "string" },
        "no-redis": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    printError(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    print(USAGE);
    return 0;
  }
  const num = (text: string | undefined, name: string) => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!(value >= 0) || !Number.isFinite(value)) throw new RangeError(`--${name} "${text}"`);
    return value;
  };
  let options: BenchOptions;
  try {
    options = {
      quick: values.quick ?? false,
      rounds: num(values.rounds, "rounds"),
      seconds: num(values.seconds, "seconds"),
      conns: values.conns?.split(",").map((c) => num(c.trim(), "conns")!),
      idleConnections: num(values.idle, "idle"),
      redis: !values["no-redis"],
      out: values.out,
    };
  } catch (error) {
    printError(`bench: invalid ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const controller = new AbortController();
  // The first Ctrl-C stops after the current measurement and cleans up; a second one exits now.
  const onSignal = () => controller.signal.aborted ? Deno.exit(130) : controller.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const { result, report } = await runBench({
      ...options,
      signal: controller.signal,
      log: (line) => printError(`${line}\n`),
    });
    print(report.slice(report.indexOf("## Throughput"), report.indexOf("## Memory")));
    print(`Headline: ${headline(result)}\n`);
    if (options.out) print(`Wrote ${options.out}\n`);
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
