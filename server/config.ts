/**
 * Configuration: the only module that reads `Deno.env` and env files.
 *
 * Every key comes from one table ({@linkcode SERVER_SETTINGS},
 * {@linkcode CLIENT_SETTINGS}) that names its flag, its default and its
 * parser; the environment variable is `PEDIDOS_` plus the flag in upper case
 * with `_` for `-`. Precedence, key by key: command-line flag > environment
 * variable > env file (`--env-file`, `PEDIDOS_ENV_FILE`, else `.env.local`
 * when present) > default. Env files are parsed with `node:util` `parseEnv`
 * and never written into `Deno.env`.
 *
 * @module
 */

import { parseArgs, parseEnv } from "node:util";
import { LOG_LEVELS, type LogLevel } from "./log.ts";

/** The daemon's configuration (PROTOCOL.md §7). */
export interface ServerConfig {
  /** Addresses to listen on; `["*"]` means every address of both families. */
  hosts: string[];
  /** TCP port, `0` picks a free one. */
  port: number;
  /** Processing workers, ≥ 1. */
  workers: number;
  /** Capacity: orders accepted but not finished, ≥ 1. */
  maxPedidos: number;
  /** Simulated processing time range in ms; `{ min: 0, max: 0 }` means no wait. */
  processMs: { min: number; max: number };
  /** SQLite file, or `:memory:`. */
  db: string;
  /** SQLite `synchronous` mode. */
  sync: "full" | "normal";
  /** How long a stop waits for running orders. */
  drainTimeoutMs: number;
  /** An idle connection is closed after this long. */
  idleTimeoutMs: number;
  /** Largest request, in bytes, without its final newline. */
  maxRequestBytes: number;
  /** Connections open at once. */
  maxConnections: number;
  /** Least severe log level written. */
  log: LogLevel;
  /**
   * How long a LOGIN session token is valid, in seconds (§2.6). Optional so
   * that settings written before accounts existed stay valid.
   *
   * @default {86400}
   */
  sessionTtlS?: number;
  /** The env file that was read, or null. */
  envFile: string | null;
}

/** The default of {@linkcode ServerConfig.sessionTtlS}: one day. */
export const DEFAULT_SESSION_TTL_S = 86400;

/** Where a client finds the daemon. */
export interface ClientConfig {
  /** Hosts to try in order. */
  hosts: string[];
  /** The daemon's port. */
  port: number;
  /** The env file that was read, or null. */
  envFile: string | null;
}

/** A bad flag, environment variable or env file; the message says which, the value and why. */
export class ConfigError extends Error {
  /**
   * @param message What was wrong, e.g. `Invalid --port "abc": must be a whole number from 0 to 65535`.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** Where configuration is read from; tests replace both. */
export interface ConfigSources {
  /** Reads one environment variable. @default {reads Deno.env.get} */
  getEnv?: (name: string) => string | undefined;
  /** Reads a file, null when it does not exist. @default {Deno.readTextFileSync} */
  readFile?: (path: string) => string | null;
}

/** One configuration key: its flag, default and parser. The env variable is {@linkcode envName}(flag). */
export interface Setting<T> {
  /** The flag without dashes, e.g. `max-pedidos`. */
  readonly flag: string;
  /** The value's placeholder in the usage text, e.g. `N`. */
  readonly arg: string;
  /** The value used when neither flag, environment nor env file sets it. */
  readonly default: T;
  /** The default as shown in the usage text. */
  readonly shown: string;
  /** One line for the usage text. */
  readonly help: string;
  /** Whether the flag may be repeated; its values are joined with `,` before parsing. */
  readonly multiple?: boolean;
  /** Turns text into the value; throws an error whose message says why the text is bad. */
  readonly parse: (text: string) => T;
}

/** A defaults table: one {@linkcode Setting} per key of `T`. */
export type Settings<T> = { readonly [K in keyof T]: Setting<T[K]> };

/** A flag that is not configuration (not read from the environment), e.g. the client's `--json`. */
export interface ExtraFlag {
  /** The kind of value. */
  type: "string" | "boolean";
  /** Whether it may be repeated. @default {false} */
  multiple?: boolean;
}

/** Options of {@linkcode resolveConfig}. */
export interface ResolveOptions extends ConfigSources {
  /** Flags beside the table's. @default {{}} */
  extraFlags?: Record<string, ExtraFlag>;
  /** Whether positional arguments are allowed. @default {false} */
  allowPositionals?: boolean;
}

/** What {@linkcode resolveConfig} found. */
export interface Resolved<T> {
  /** Every key of the table, resolved and parsed, plus the env file read. */
  config: T & { envFile: string | null };
  /** The values of the extra flags, as `parseArgs` returns them. */
  flags: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Positional arguments. */
  positionals: string[];
  /** Whether `--help` or `-h` was given. */
  help: boolean;
}

/** The env file read when none is named. */
export const DEFAULT_ENV_FILE = ".env.local";

/** The environment variable of a flag: `max-pedidos` → `PEDIDOS_MAX_PEDIDOS`. */
export function envName(flag: string): string {
  return `PEDIDOS_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/** A parser of whole numbers in `[min, max]`. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
  return (text) => {
    const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new RangeError(`must be a whole number ${range}`);
    }
    return value;
  };
}

/** A parser that accepts one of `choices`, ignoring case. */
export function oneOf<T extends string>(choices: readonly T[]): (text: string) => T {
  return (text) => {
    const value = choices.find((choice) => choice === text.trim().toLowerCase());
    if (value === undefined) throw new RangeError(`must be one of ${choices.join(", ")}`);
    return value;
  };
}

/** Splits `a,b , c` into hosts, dropping `[]` around IPv6 literals and duplicates. */
export function parseHosts(text: string): string[] {
  const hosts = text.split(",").map((host) => host.trim().replace(/^\[(.*)\]$/, "$1"));
  if (hosts.some((host) => host === "")) {
    throw new RangeError("must be a comma-separated host list");
  }
  return [...new Set(hosts)];
}

function parseProcessMs(text: string): { min: number; max: number } {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (match === null) throw new RangeError("must be a number of ms or a range MIN-MAX");
  const min = wholeNumber(0)(match[1] ?? "");
  const max = match[2] === undefined ? min : wholeNumber(0)(match[2]);
  if (min > max) throw new RangeError("must be a range MIN-MAX with MIN ≤ MAX");
  return { min, max };
}

function nonEmpty(text: string): string {
  if (text.trim() === "") throw new RangeError("must not be empty");
  return text;
}

/** The daemon's defaults table. */
export const SERVER_SETTINGS: Settings<Omit<ServerConfig, "envFile">> = {
  hosts: {
    flag: "host",
    arg: "HOST[,HOST]",
    default: ["127.0.0.1", "::1"],
    shown: "127.0.0.1,::1",
    help: 'addresses to listen on, repeatable; "*" = every address',
    multiple: true,
    parse: (text) => {
      const hosts = parseHosts(text);
      return hosts.includes("*") ? ["*"] : hosts;
    },
  },
  port: {
    flag: "port",
    arg: "N",
    default: 8888,
    shown: "8888",
    help: "TCP port; 0 picks a free one",
    parse: wholeNumber(0, 65535),
  },
  workers: {
    flag: "workers",
    arg: "N",
    default: 3,
    shown: "3",
    help: "orders processed at once",
    parse: wholeNumber(1),
  },
  maxPedidos: {
    flag: "max-pedidos",
    arg: "N",
    default: 6,
    shown: "6",
    help: "capacity: orders accepted and not yet finished",
    parse: wholeNumber(1),
  },
  processMs: {
    flag: "process-ms",
    arg: "MS|MIN-MAX",
    default: { min: 1000, max: 3000 },
    shown: "1000-3000",
    help: "simulated processing time; 0 = no wait",
    parse: parseProcessMs,
  },
  db: {
    flag: "db",
    arg: "PATH",
    default: "pedidos.db",
    shown: "pedidos.db",
    help: "SQLite file, or :memory:",
    parse: nonEmpty,
  },
  sync: {
    flag: "sync",
    arg: "MODE",
    default: "full",
    shown: "full",
    help: "full (survives power loss) or normal",
    parse: oneOf(["full", "normal"] as const),
  },
  drainTimeoutMs: {
    flag: "drain-timeout-ms",
    arg: "MS",
    default: 10000,
    shown: "10000",
    help: "on stop, wait this long for running orders",
    parse: wholeNumber(0),
  },
  idleTimeoutMs: {
    flag: "idle-timeout-ms",
    arg: "MS",
    default: 300000,
    shown: "300000",
    help: "close a connection idle this long",
    parse: wholeNumber(1),
  },
  maxRequestBytes: {
    flag: "max-request-bytes",
    arg: "N",
    default: 65536,
    shown: "65536",
    help: "largest request; bigger gets too_large",
    parse: wholeNumber(64),
  },
  maxConnections: {
    flag: "max-connections",
    arg: "N",
    default: 1024,
    shown: "1024",
    help: "connections open at once; more get busy",
    parse: wholeNumber(1),
  },
  log: {
    flag: "log",
    arg: "LEVEL",
    default: "info",
    shown: "info",
    help: `${LOG_LEVELS.join(", ")}; logs go to stderr`,
    parse: oneOf(LOG_LEVELS),
  },
  sessionTtlS: {
    flag: "session-ttl-s",
    arg: "S",
    default: DEFAULT_SESSION_TTL_S,
    shown: String(DEFAULT_SESSION_TTL_S),
    help: "how long a LOGIN session token is valid",
    parse: wholeNumber(1, 366 * 86400),
  },
};

/** The defaults table of every subcommand that talks to the daemon. */
export const CLIENT_SETTINGS: Settings<Omit<ClientConfig, "envFile">> = {
  hosts: {
    flag: "host",
    arg: "HOST[,HOST]",
    default: ["localhost"],
    shown: "localhost",
    help: "daemon hosts, tried in order; repeatable",
    multiple: true,
    parse: (text) => {
      const hosts = parseHosts(text);
      return hosts.includes("*") ? ["localhost"] : hosts;
    },
  },
  port: {
    flag: "port",
    arg: "N",
    default: 8888,
    shown: "8888",
    help: "the daemon's port",
    parse: wholeNumber(1, 65535),
  },
};

/**
 * The usage text of a table: every flag, its environment variable and default.
 *
 * @param head The lines before the flags (`Usage: ...`).
 * @param settings The table.
 * @param extra More flags, not read from the environment, as `[flag, help]`.
 */
export function formatUsage<T>(
  head: string,
  settings: Settings<T>,
  extra: [flag: string, help: string][] = [],
): string {
  const rows = Object.values<Setting<unknown>>(settings).map((s) => [
    `--${s.flag} ${s.arg}`,
    envName(s.flag),
    s.shown,
    s.help,
  ]);
  rows.push(["--env-file PATH", "PEDIDOS_ENV_FILE", DEFAULT_ENV_FILE, "env file (when present)"]);
  for (const [flag, help] of extra) rows.push([flag, "", "", help]);
  rows.push(["--help, -h", "", "", "show this text"]);
  rows.unshift(["FLAG", "ENVIRONMENT", "DEFAULT", ""]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  const lines = rows.map((row) =>
    "  " + row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd()
  );
  return `${head}\n\nPrecedence: flag > environment > env file > default.\n\n${lines.join("\n")}\n`;
}

function defaultGetEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    throw new ConfigError(`Cannot read ${name}: run with --allow-env=PEDIDOS_*`, { cause: error });
  }
}

function defaultReadFile(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function readEnvFile(path: string, explicit: boolean, readFile: (path: string) => string | null) {
  let text: string | null;
  try {
    text = readFile(path);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`Cannot read env file "${path}": ${reason}`, { cause: error });
  }
  if (text === null && explicit) {
    throw new ConfigError(`Cannot read env file "${path}": it does not exist`);
  }
  return text === null ? null : parseEnv(text) as Record<string, string | undefined>;
}

function cleanParseArgsMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split("\n")[0] ?? message).replaceAll("\0", "").replace(/\.$/, "");
}

// parseArgs takes "-1" for a flag; a leading NUL keeps negative numbers as values.
const NEGATIVE = /^-(\d|\.\d)/;

/**
 * Parses `args` against a defaults table, then resolves every key: flag >
 * environment > env file > default.
 *
 * @param args The command-line arguments.
 * @param settings The defaults table.
 * @param options Extra flags, whether positionals are allowed, and the sources.
 * @returns The frozen-ready config, the extra flags and the positionals.
 * @throws {ConfigError} On an unknown flag, a missing value, or a bad value from any source.
 */
export function resolveConfig<T>(
  args: string[],
  settings: Settings<T>,
  options: ResolveOptions = {},
): Resolved<T> {
  const { extraFlags = {}, allowPositionals = false } = options;
  const getEnv = options.getEnv ?? defaultGetEnv;
  const readFile = options.readFile ?? defaultReadFile;
  const table = Object.entries<Setting<unknown>>(settings);
  const flagOptions: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    ...extraFlags,
    "env-file": { type: "string" },
    help: { type: "boolean" },
    h: { type: "boolean" },
  };
  for (const [, s] of table) {
    flagOptions[s.flag] = { type: "string", multiple: s.multiple ?? false };
  }

  let parsed;
  try {
    parsed = parseArgs({
      args: args.map((arg) => NEGATIVE.test(arg) ? `\0${arg}` : arg),
      options: flagOptions,
      allowPositionals,
      strict: true,
    });
  } catch (error) {
    throw new ConfigError(cleanParseArgsMessage(error), { cause: error });
  }
  const unprotect = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(unprotect)
      : typeof value === "string"
      ? value.replace(/^\0/, "")
      : value;
  const values = Object.fromEntries(
    Object.entries(parsed.values).map(([name, value]) => [name, unprotect(value)]),
  ) as Record<string, string | string[] | boolean>;
  const positionals = unprotect(parsed.positionals) as string[];

  const namedFile = typeof values["env-file"] === "string"
    ? values["env-file"]
    : getEnv("PEDIDOS_ENV_FILE") || undefined;
  const envFile = namedFile ?? DEFAULT_ENV_FILE;
  const fileVars = readEnvFile(envFile, namedFile !== undefined, readFile);

  const config: Record<string, unknown> = {};
  for (const [key, s] of table) {
    const name = envName(s.flag);
    const flagValue = values[s.flag];
    let text: string | undefined;
    let where: string;
    if (flagValue !== undefined) {
      text = Array.isArray(flagValue) ? flagValue.join(",") : String(flagValue);
      where = `--${s.flag} "${text}"`;
    } else if ((text = getEnv(name)?.trim() || undefined) !== undefined) {
      where = `${name} "${text}" in the environment`;
    } else if ((text = fileVars?.[name]?.trim() || undefined) !== undefined) {
      where = `${name} "${text}" in env file ${envFile}`;
    } else {
      config[key] = s.default;
      continue;
    }
    try {
      config[key] = s.parse(text);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigError(`Invalid ${where}: ${reason}`, { cause: error });
    }
  }
  config.envFile = fileVars === null ? null : envFile;

  const flags: Resolved<T>["flags"] = {};
  for (const name of Object.keys(extraFlags)) flags[name] = values[name];
  return {
    config: config as T & { envFile: string | null },
    flags,
    positionals,
    help: values.help === true || values.h === true,
  };
}

/** Freezes a config and everything in it; returns it. */
export function freezeConfig<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) freezeConfig(inner);
    Object.freeze(value);
  }
  return value;
}

/** The usage text printed with a bad flag and with `--help`. */
export const SERVER_USAGE: string = formatUsage(
  "Usage: pedidos server [flags]\n\nRuns the order daemon.",
  SERVER_SETTINGS,
);

/**
 * Reads the daemon's configuration. `--help`/`-h` is accepted and ignored:
 * check {@linkcode wantsHelp} first.
 *
 * @example Usage
 * ```ts
 * import { parseServerConfig } from "./config.ts";
 * const config = parseServerConfig(["--port", "0", "--workers", "2"], { getEnv: () => undefined, readFile: () => null });
 * console.log(config.port, config.workers, config.hosts); // 0 2 ["127.0.0.1", "::1"]
 * ```
 * @param args The flags after `server`.
 * @param sources Where the environment and env file are read.
 * @returns A deeply frozen config.
 * @throws {ConfigError} On a bad flag or a bad value from any source.
 */
export function parseServerConfig(args: string[], sources: ConfigSources = {}): ServerConfig {
  return freezeConfig({ ...resolveConfig(args, SERVER_SETTINGS, sources).config });
}

/**
 * Reads where the daemon is (`--host`, `--port`, `--env-file`) for a command
 * that takes no other flags. Commands with their own flags use
 * {@linkcode resolveConfig} with {@linkcode CLIENT_SETTINGS}.
 *
 * @throws {ConfigError} On a bad flag or a bad value from any source.
 */
export function parseClientConfig(args: string[], sources: ConfigSources = {}): ClientConfig {
  return freezeConfig({ ...resolveConfig(args, CLIENT_SETTINGS, sources).config });
}

/** Whether `args` ask for help (`--help` or `-h` before any `--`). */
export function wantsHelp(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === "--help" || arg === "-h");
}
