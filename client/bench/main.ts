/**
 * `deno task bench`: measures the daemon side by side with its ceilings in
 * the same run — a minimal NDJSON echo server, the daemon with `--sync
 * normal` and `--sync full`, end to end to `listo`, and Redis with a durable
 * ack when `redis-server` is installed — then probes the daemon's memory,
 * and writes `docs/benchmarks.md`.
 *
 * ```sh
 * deno task bench               # about 3½ minutes
 * deno task bench --quick       # well under a minute
 * deno task bench --only waits  # only the many-waits memory probe, about 35 s
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { headline } from "./report.ts";
import { type BenchOptions, runBench, runManyWaitsOnly } from "./run_bench.ts";

const USAGE = `Usage: deno task bench [--quick] [--out PATH] [--rounds N] [--seconds S]
                        [--conns 1,16,64] [--idle N] [--no-redis]
                        [--daemon-root ABSOLUTE_PATH] [--only waits]

Measures the daemon beside an echo ceiling and Redis in the same run and
writes the report (default docs/benchmarks.md; with --quick, a rough look,
/tmp/pedidos-bench-quick.md, leaving the committed report alone). About 3½
minutes; --quick well under one. --daemon-root measures the daemon of another checkout
(e.g. a git worktree of an older commit) with this bench. --only waits runs
only the probe of many ESTADO esperar waits on one big order (about 35 s;
--quick, about 15) and rewrites only its section of the report.
`;

/** Where `--quick` writes its report unless `--out` says: not over the committed one. */
const QUICK_OUT = "/tmp/pedidos-bench-quick.md";

/** `path` with a trailing slash. @throws {RangeError} When it is not absolute. */
function absoluteDir(path: string): string {
  if (!path.startsWith("/")) throw new RangeError(`--daemon-root "${path}": give an absolute path`);
  return path.endsWith("/") ? path : `${path}/`;
}

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
        out: { type: "string" },
        rounds: { type: "string" },
        seconds: { type: "string" },
        conns: { type: "string" },
        idle: { type: "string" },
        "no-redis": { type: "boolean" },
        "daemon-root": { type: "string" },
        only: { type: "string" },
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
    if (values.only !== undefined && values.only !== "waits") {
      throw new RangeError(`--only "${values.only}" (the one part: waits)`);
    }
    options = {
      quick: values.quick ?? false,
      rounds: num(values.rounds, "rounds"),
      seconds: num(values.seconds, "seconds"),
      conns: values.conns?.split(",").map((c) => num(c.trim(), "conns")!),
      idleConnections: num(values.idle, "idle"),
      redis: !values["no-redis"],
      ...(values["daemon-root"] ? { daemonRoot: absoluteDir(values["daemon-root"]) } : {}),
      out: values.out ?? (values.quick ? QUICK_OUT : "docs/benchmarks.md"),
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
    if (values.only === "waits") {
      const { section } = await runManyWaitsOnly({
        quick: options.quick ?? false,
        ...(options.daemonRoot ? { daemonRoot: options.daemonRoot } : {}),
        out: options.out ?? null,
        signal: controller.signal,
        log: (line) => printError(`${line}\n`),
      });
      print(`${section}\n`);
      if (options.out) print(`Wrote ${options.out}\n`);
      return 0;
    }
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
