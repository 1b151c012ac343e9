/**
 * The arguments of `pedidos load`: which load, where. Pure: no I/O beyond
 * the injected config sources.
 *
 * @module
 */

import { CLIENT_SETTINGS, type ClientConfig } from "../client_config.ts";
import {
  ConfigError,
  type ConfigSources,
  type ExtraFlag,
  formatUsage,
  resolveConfig,
} from "../../server/config/settings.ts";
import { MAX_TIMER_MS, wholeNumber } from "../../server/config/value_parsers.ts";
import type { LoadOptions } from "./load_settings.ts";

/** A parsed `load` command line. */
export interface LoadCommand {
  /** `--help` was asked for. */
  help: boolean;
  /** Print the spec's JSON object instead of the summary for people. */
  json: boolean;
  /** Where the daemon is. */
  config: ClientConfig;
  /** What {@linkcode runLoad} gets. */
  options: LoadOptions & {
    clientes: number;
    pedidos: number;
    pipeline: number;
    esperar: boolean;
  };
}

const EXTRA_FLAGS: Record<string, ExtraFlag> = {
  clientes: { type: "string", parse: wholeNumber(1, 100_000) },
  pedidos: { type: "string", parse: wholeNumber(1) },
  pipeline: { type: "string", parse: wholeNumber(1, 10_000) },
  tasa: { type: "string", parse: (text) => rate(text) },
  duracion: { type: "string", parse: (text) => duration(text) },
  "clave-prefijo": { type: "string", parse: (text) => prefix(text) },
  esperar: { type: "boolean" },
  "timeout-ms": { type: "string", parse: wholeNumber(1, MAX_TIMER_MS) },
  json: { type: "boolean" },
};

/** The usage text of `load`, printed with a usage error and with `--help`. */
export const LOAD_USAGE: string = formatUsage(
  `Usage:
  pedidos load [--clientes N] [--pedidos M] [--pipeline K] [--tasa R] [--duracion S]
               [--clave-prefijo P] [--esperar [--timeout-ms MS]] [--json]

Opens N connections to the daemon and sends M orders on each, one at a time
(or K in flight with --pipeline), then prints what happened: sent, accepted,
rejected (queue_full), errors, orders per second and latency. A live line
shows progress on a terminal. Ctrl-C stops and still prints the summary.
With several hosts, each connection opens to the first that accepts it; one
lost mid-run, turned away (busy) or answered shutting_down moves to the next
host (hosts - 1 moves at most) and sends there the orders it had not sent;
the orders in flight when it was lost count as errors, never resent. The
--esperar wait goes on from the next host too. A connection answered
shutting_down sends no more orders there (with one host, it ends).
Exit status: 0 done, 1 errors, 2 bad usage, 3 cannot connect, 130 interrupted.
The summary goes to stdout; why a run failed (1, 3) goes to stderr.`,
  {
    ...CLIENT_SETTINGS,
    hosts: {
      ...CLIENT_SETTINGS.hosts,
      help: "daemon hosts, tried in order; a connection lost moves to the next; repeatable",
    },
  },
  [
    ["--clientes N", "concurrent connections (default 10)"],
    ["--pedidos M", "orders per connection (default 10; no limit with --duracion)"],
    ["--pipeline K", "orders in flight per connection (default 1: one at a time)"],
    [
      "--tasa R",
      "orders per second over all (at most 1000000; default: as fast as it answers)",
    ],
    ["--duracion S", "stop sending after S seconds"],
    ["--clave-prefijo P", "orders carry clave P-CONN-N, so a rerun is deduplicated"],
    ["--esperar", "then wait until every accepted order is listo, and report the time"],
    ["--timeout-ms MS", "with --esperar, how long to wait (default 60000)"],
    ["--json", "print one JSON object: the summary of docs/protocol.md §7"],
  ],
);

function flagValue<T>(
  flags: Record<string, unknown>,
  flag: string,
  parse: (text: string) => T,
): T | null {
  const text = flags[flag];
  if (typeof text !== "string") return null;
  try {
    return parse(text);
  } catch (error) {
    throw new ConfigError(`Invalid --${flag} "${text}": ${(error as Error).message}`);
  }
}

/** A plain decimal (`2`, `2.5`, `.5`), or NaN. */
function decimal(text: string): number {
  return /^\s*(\d+\.?\d*|\.\d+)\s*$/.test(text) ? Number(text) : NaN;
}

/**
 * The highest `--tasa`, orders per second: more than one load process sends
 * (a pace that fast paces nothing), so a larger value is a typo, not a wish.
 */
const MAX_TASA = 1_000_000;

/**
 * A rate of orders per second: one every 1000 s at the slowest. Written as
 * the server's numbers are (`1e2` is refused there too), and said so.
 */
function rate(text: string): number {
  const value = decimal(text);
  if (!(value >= 0.001 && value <= MAX_TASA)) {
    throw new RangeError(`must be a decimal number such as 2.5, from 0.001 to ${MAX_TASA}`);
  }
  return value;
}

/** The longest `--duracion`, in seconds: what one timer can wait. */
const MAX_DURACION_S = Math.floor(MAX_TIMER_MS / 1000);

function duration(text: string): number {
  const value = decimal(text);
  if (!(value > 0) || value > MAX_DURACION_S) {
    throw new RangeError(
      `must be a decimal number of seconds such as 2.5, above 0 and at most ${MAX_DURACION_S}`,
    );
  }
  return value;
}

function prefix(text: string): string {
  if (text.length < 1 || text.length > 100) throw new RangeError("must be 1 to 100 characters");
  return text;
}

/**
 * Parses the arguments of `load` (after the word `load`).
 *
 * @example Usage
 * ```ts
 * import { parseLoadArgs } from "./load_args.ts";
 * const command = parseLoadArgs(["--clientes", "50", "--pedidos", "20"], { getEnv: () => undefined, readFile: () => null });
 * console.log(command.options.clientes, command.options.pedidos); // 50 20
 * ```
 * @param args The command line after `load`.
 * @param sources Where the environment and env file are read.
 * @returns The command.
 * @throws {ConfigError} On an unknown flag or a bad value.
 */
export function parseLoadArgs(args: string[], sources: ConfigSources = {}): LoadCommand {
  const resolved = resolveConfig(args, CLIENT_SETTINGS, {
    ...sources,
    extraFlags: EXTRA_FLAGS,
    checkOverridden: false,
  });
  const { config, flags, help } = resolved;
  const duracion = flagValue(flags, "duracion", duration);
  const esperar = flags.esperar === true;
  const timeoutMs = flagValue(flags, "timeout-ms", wholeNumber(1, MAX_TIMER_MS));
  if (timeoutMs !== null && !esperar) {
    throw new ConfigError("Unexpected --timeout-ms: needs --esperar");
  }
  const options: LoadCommand["options"] = {
    hosts: config.hosts,
    port: config.port,
    clientes: flagValue(flags, "clientes", wholeNumber(1, 100_000)) ?? 10,
    pedidos: flagValue(flags, "pedidos", wholeNumber(1)) ?? (duracion === null ? 10 : Infinity),
    pipeline: flagValue(flags, "pipeline", wholeNumber(1, 10_000)) ?? 1,
    tasa: flagValue(flags, "tasa", rate),
    duracionMs: duracion === null ? null : duracion * 1000,
    clavePrefijo: flagValue(flags, "clave-prefijo", prefix),
    esperar,
  };
  if (timeoutMs !== null) options.esperarTimeoutMs = timeoutMs;
  return { help, json: flags.json === true, config, options };
}
