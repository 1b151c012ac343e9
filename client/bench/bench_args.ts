/**
 * The flags of `deno task bench`, and the check of `--out` made before the
 * run: a report that cannot be written is said at once, not after minutes
 * of measuring.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { wholeNumber } from "../../server/config/value_parsers.ts";
import type { BenchOptions } from "./run_bench.ts";

/** Where `--quick` writes its report unless `--out` says: not over the committed one. */
export const QUICK_OUT = "/tmp/pedidos-bench-quick.md";

/** The committed report, written by a full run unless `--out` says. */
export const DEFAULT_OUT = "docs/benchmarks.md";

/** A parsed bench command line. */
export interface BenchArgs {
  /** `--help` or `-h` was given. */
  help: boolean;
  /** `--only waits`: only the probe of many waits. */
  onlyWaits: boolean;
  /**
   * Then the PostgreSQL part (`deno task bench:pg`'s), when a PostgreSQL
   * answers; false with `--no-pg` (and with `--only waits`).
   */
  postgres: boolean;
  /** What {@linkcode runBench} gets; `out` always set. */
  options: BenchOptions & { out: string };
}

/** `path` with a trailing slash. @throws {RangeError} When it is not absolute. */
function absoluteDir(path: string): string {
  if (!path.startsWith("/")) throw new RangeError(`--daemon-root "${path}": give an absolute path`);
  return path.endsWith("/") ? path : `${path}/`;
}

/** `parse(text)`, its error naming the flag. */
function flag<T>(name: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (error) {
    throw new RangeError(`--${name} "${text}": ${(error as Error).message}`);
  }
}

/** A plain decimal above 0 (`1.5`, `.5`): seconds of sending. */
function positiveDecimal(text: string): number {
  const value = /^\s*(\d+\.?\d*|\.\d+)\s*$/.test(text) ? Number(text) : NaN;
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError("must be a decimal number above 0, such as 1.5");
  }
  return value;
}

/**
 * Parses the arguments of `deno task bench`.
 *
 * @example Usage
 * ```ts
 * import { parseBenchArgs } from "./bench_args.ts";
 * console.log(parseBenchArgs(["--quick", "--conns", "1,16"]).options.conns); // [1, 16]
 * ```
 * @throws {TypeError} From parseArgs, on an unknown flag or a missing value.
 * @throws {RangeError} On a bad value, naming the flag.
 */
export function parseBenchArgs(args: string[]): BenchArgs {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean" },
      out: { type: "string" },
      rounds: { type: "string" },
      seconds: { type: "string" },
      conns: { type: "string" },
      idle: { type: "string" },
      "no-redis": { type: "boolean" },
      "no-pg": { type: "boolean" },
      "daemon-root": { type: "string" },
      only: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const out = values.out ?? (values.quick ? QUICK_OUT : DEFAULT_OUT);
  // Help is shown whatever else is wrong.
  if (values.help) return { help: true, onlyWaits: false, postgres: false, options: { out } };
  if (values.only !== undefined && values.only !== "waits") {
    throw new RangeError(`--only "${values.only}" (the one part: waits)`);
  }
  if (values.out === "") throw new RangeError('--out "": must name a file');
  const options: BenchArgs["options"] = {
    quick: values.quick ?? false,
    redis: !values["no-redis"],
    out,
  };
  // Zero rounds, or an empty item of a list (`1,,16`, read as 0 connections), would
  // measure nothing; a fraction of a round or connection is not one.
  if (values.rounds !== undefined) options.rounds = flag("rounds", values.rounds, wholeNumber(1));
  if (values.seconds !== undefined) {
    options.seconds = flag("seconds", values.seconds, positiveDecimal);
  }
  if (values.conns !== undefined) {
    const text = values.conns;
    options.conns = flag("conns", text, (list) => list.split(",").map(wholeNumber(1)));
  }
  // 0 skips the probe of idle connections.
  if (values.idle !== undefined) {
    options.idleConnections = flag("idle", values.idle, wholeNumber(0));
  }
  if (values["daemon-root"]) options.daemonRoot = absoluteDir(values["daemon-root"]);
  const onlyWaits = values.only === "waits";
  return { help: false, onlyWaits, postgres: !onlyWaits && !values["no-pg"], options };
}

/**
 * Throws unless `path` may be written (a file that exists is left as it
 * was; one that did not is removed again), so that a run is not measured
 * for minutes to fail at its end.
 *
 * @throws {Error} Deno's: no permission (`deno task bench` writes only
 * under /tmp and to docs/benchmarks.md), no such folder, a directory.
 */
export async function checkWritable(path: string): Promise<void> {
  try {
    (await Deno.open(path, { write: true, createNew: true })).close();
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    // Opened without truncating: what it holds is kept (the run keeps marked sections of it).
    (await Deno.open(path, { write: true })).close();
  }
}
