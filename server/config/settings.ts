/**
 * The settings engine every subcommand uses: a defaults table per command
 * (one {@linkcode Setting} per key: flag, default, parser) resolved key by
 * key with the precedence command-line flag > environment variable > env
 * file (`--env-file`, `PEDIDOS_ENV_FILE`, else `.env.local` when present) >
 * default. The environment variable is `PEDIDOS_` plus the flag in upper
 * case with `_` for `-`. Env files are parsed with `node:util` `parseEnv`
 * and never written into `Deno.env`. This is the only module that reads
 * `Deno.env` and env files. A variable set to an empty value is set: it is
 * parsed (and refused where a value is needed) like the same empty flag,
 * unless its setting documents empty as "none" ({@linkcode Setting.emptyMeansDefault}).
 *
 * The daemon's table is `server_config.ts`; the clients' is
 * `client/client_config.ts`; the gateway's `client/web/config.ts`.
 *
 * @module
 */

import { parseArgs, parseEnv } from "node:util";
import { assignmentTexts, findMalformedLine } from "./malformed_env_line.ts";
import { isPostgresUrl } from "../store/postgres/postgres_url.ts";

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
  /** How a value is shown in error messages, when it may hold a secret (a password in a URL). */
  readonly redact?: (text: string) => string;
  /**
   * Whether an empty value in the environment or an env file (`PEDIDOS_PROCESSOR=`)
   * means the default, for a setting whose default is a documented "none".
   * Otherwise an empty value is parsed like any other, and refused where a
   * value is needed, as the same flag would be (`--workers ""`).
   *
   * @default {false}
   */
  readonly emptyMeansDefault?: boolean;
}

/** A defaults table: one {@linkcode Setting} per key of `T`. */
export type Settings<T> = { readonly [K in keyof T]: Setting<T[K]> };

/** A flag that is not configuration (not read from the environment), e.g. the client's `--json`. */
export interface ExtraFlag {
  /** The kind of value. */
  type: "string" | "boolean";
  /** Whether it may be repeated. @default {false} */
  multiple?: boolean;
  /**
   * Checks a value (throws a `RangeError` saying what it must be). Every
   * value given is checked, earlier ones of a flag given twice too: a bad
   * one is never passed over for a later one, as with the table's flags.
   * @default {none: the command reads the value itself}
   */
  parse?: (text: string) => unknown;
}

/** Options of {@linkcode resolveConfig}. */
export interface ResolveOptions extends ConfigSources {
  /** Flags beside the table's. @default {{}} */
  extraFlags?: Record<string, ExtraFlag>;
  /** Whether positional arguments are allowed. @default {false} */
  allowPositionals?: boolean;
  /**
   * Whether a value that a higher source overrides (an environment variable
   * under a flag, an env file's line under either) is checked too, and
   * refused when bad. The daemon checks them: a typo in its own settings
   * is found before it matters. The clients do not: they share the
   * environment and `.env.local` with the daemon, whose values (a
   * `PEDIDOS_PORT=0`, say) need not be theirs, and their flags must win.
   * @default {true}
   */
  checkOverridden?: boolean;
}

/** Where a value that was set came from: a flag, the environment or an env file. */
export interface Given {
  /** The flag (`--max-reply-bytes`) or the variable (`PEDIDOS_MAX_REPLY_BYTES`). */
  name: string;
  /** `""` for a flag, else ` in the environment` or ` in env file PATH`. */
  place: string;
}

/** What {@linkcode resolveConfig} found. */
export interface Resolved<T> {
  /** Every key of the table, resolved and parsed, plus the env file read. */
  config: T & { envFile: string | null };
  /** Where each key that was set came from; a key left at its default is absent. */
  given: { [K in keyof T]?: Given };
  /** The values of the extra flags, as `parseArgs` returns them. */
  flags: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Positional arguments. */
  positionals: string[];
  /** Whether `--help` or `-h` was given. */
  help: boolean;
}

/** The env file read when none is named. */
export const DEFAULT_ENV_FILE = ".env.local";

/**
 * A value as its source named it, for messages: `--max-reply-bytes 100000`,
 * `PEDIDOS_MAX_REPLY_BYTES=100000 in the environment`.
 */
export function describeGiven(given: Given, value: unknown): string {
  return given.place === "" ? `${given.name} ${value}` : `${given.name}=${value}${given.place}`;
}

/** The environment variable of a flag: `max-pedidos` → `PEDIDOS_MAX_PEDIDOS`. */
export function envName(flag: string): string {
  return `PEDIDOS_${flag.toUpperCase().replaceAll("-", "_")}`;
}

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

/**
 * Whether `error` is Deno refusing a file this process may not read or write
 * ("Requires read access to …"), whose own advice ("run again with the
 * --allow-read flag") a `deno task` user cannot follow: each command says
 * what to do instead. Told by its text: the refusal may come from a worker,
 * as a plain Error.
 */
export function isPermissionRefusal(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /Requires (read|write) access to/.test(message);
}

function defaultReadFile(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** A `PG…` variable of an env file that the PostgreSQL store will not read, and why. */
export interface IgnoredVariable {
  name: string;
  reason: string;
}

/**
 * The `PG…` variables (`PGPASSWORD`, `PGSSLMODE`, …) of the env file at
 * `path` that a daemon on PostgreSQL (`db`) will not read: pedidos reads only
 * its `PEDIDOS_` settings from an env file, and the driver reads `PGPASSWORD`
 * from the environment only (the other settings, host, port, user, TLS, it
 * is always given by the URL). One that is in the environment too
 * (`inEnvironment`: the file loaded there as well) is used, or moot.
 *
 * @example Usage
 * ```ts
 * import { ignoredPostgresVariables } from "./settings.ts";
 * const file = () => "PEDIDOS_WORKERS=2\nPGPASSWORD=s3cret\nOTHER=1\n";
 * const ignored = ignoredPostgresVariables(".env.local", "postgres://ana@db/x", () => false, file);
 * console.log(ignored.map((v) => v.name)); // ["PGPASSWORD"]
 * ```
 */
export function ignoredPostgresVariables(
  path: string,
  db: string,
  inEnvironment: (name: string) => boolean,
  readFile: (path: string) => string | null = defaultReadFile,
): IgnoredVariable[] {
  if (!isPostgresUrl(db)) return [];
  const text = readFile(path);
  if (text === null) return [];
  return Object.keys(parseEnvText(text))
    .filter((name) => /^PG[A-Z]+$/.test(name) && !inEnvironment(name))
    .map((name) => ({
      name,
      reason: name === "PGPASSWORD"
        ? "the PostgreSQL driver reads it from the environment only"
        : "not read: the --db URL gives this setting",
    }));
}

/**
 * The `PEDIDOS_` variables of the env file at `path` that none of `tables`
 * reads (nor `PEDIDOS_ENV_FILE`): misspelt names, most likely, which would
 * otherwise be ignored without a word.
 *
 * @example Usage
 * ```ts
 * import { unknownVariables } from "./settings.ts";
 * import { SERVER_SETTINGS } from "./server_config.ts";
 * const file = () => "PEDIDOS_WORKERS=2\nPEDIDOS_WORKRES=9\nOTHER=1\n";
 * console.log(unknownVariables(".env.local", [SERVER_SETTINGS], file)); // ["PEDIDOS_WORKRES"]
 * ```
 */
export function unknownVariables(
  path: string,
  tables: readonly Settings<object>[],
  readFile: (path: string) => string | null = defaultReadFile,
): string[] {
  const text = readFile(path);
  if (text === null) return [];
  const known = new Set(["PEDIDOS_ENV_FILE"]);
  for (const table of tables) {
    const settings = Object.values(table as Record<string, Setting<unknown>>);
    for (const setting of settings) known.add(envName(setting.flag));
  }
  return Object.keys(parseEnvText(text)).filter((name) =>
    name.startsWith("PEDIDOS_") && !known.has(name)
  );
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
  if (text === null) return null;
  // `parseEnv` skips a line it cannot read, and the setting on it would be
  // silently left at its default: a bad line is a bad value, refused as one.
  const malformed = findMalformedLine(text.replace(/^\uFEFF/, ""));
  if (malformed !== null) {
    throw new ConfigError(
      `Invalid line ${malformed.line} of env file ${path}` +
        (malformed.start === "" ? ": " : ` (starting "${malformed.start}"): `) +
        (malformed.problem === "hash"
          ? 'its value has a "#", where an unquoted value ends (the rest would be read as a ' +
            'comment): quote the value, NAME="a#b", or put a space before a comment'
          : "must be NAME=value, export NAME=value, a # comment or blank" +
            // A file whose lines end with CR alone (classic Mac) is one long line here.
            (/\r(?!\n)/.test(text)
              ? " (its lines end with CR alone: save it with LF line endings)"
              : "")),
    );
  }
  return { vars: parseEnvText(text), earlier: earlierValues(text) };
}

/**
 * The values of each name an env file sets more than once, but for the last
 * (which `parseEnv` keeps): checked like every other value given, so that a
 * bad one is never passed over for a later good one, as with a flag given twice.
 */
function earlierValues(text: string): Record<string, string[]> {
  const all: Record<string, string[]> = {};
  for (const assignment of assignmentTexts(text.replace(/^\uFEFF/, ""))) {
    for (const [name, value] of Object.entries(parseEnvText(assignment))) {
      if (value !== undefined) (all[name] ??= []).push(value);
    }
  }
  return Object.fromEntries(
    Object.entries(all).filter(([, values]) => values.length > 1).map((
      [name, values],
    ) => [name, values.slice(0, -1)]),
  );
}

/**
 * An env file's variables. A byte order mark at its start (as some editors
 * save UTF-8) is not part of the first name: `parseEnv` would keep it there,
 * and the first variable would be silently ignored.
 */
function parseEnvText(text: string): Record<string, string | undefined> {
  return parseEnv(text.replace(/^\uFEFF/, "")) as Record<string, string | undefined>;
}

/**
 * A parseArgs message without the advice node adds to "Unknown option" when
 * positionals are allowed (on positionals starting with "-"), which does not
 * apply to a command's words and whose quotes do not close.
 */
export function withoutPositionalAdvice(message: string): string {
  return message.replace(/\. To specify a positional argument starting with a '-'.*$/s, "");
}

function cleanParseArgsMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const first = (message.split("\n")[0] ?? message).replaceAll("\0", "").replace(/\.$/, "");
  // `--workers --log debug`: the value was most likely forgotten; say so, and
  // how to give a value that starts with "-".
  const ambiguous = /^Option '(--?[^']+)' argument is ambiguous$/.exec(first);
  if (ambiguous === null) return first;
  const flag = ambiguous[1]!;
  return `${first}: is its value missing? The next argument starts with "-"; ` +
    `a value that does is given as ${flag}=VALUE`;
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
  const { extraFlags = {}, allowPositionals = false, checkOverridden = true } = options;
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
      tokens: true,
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

  let namedFile: string | undefined;
  if (typeof values["env-file"] === "string") {
    namedFile = values["env-file"];
  } else {
    namedFile = getEnv("PEDIDOS_ENV_FILE")?.trim();
    if (namedFile === "") {
      throw new ConfigError('Invalid PEDIDOS_ENV_FILE "" in the environment: must name a file');
    }
  }
  const envFile = namedFile ?? DEFAULT_ENV_FILE;
  const file = readEnvFile(envFile, namedFile !== undefined, readFile);
  const fileVars = file?.vars ?? null;

  const config: Record<string, unknown> = {};
  const given: Record<string, Given> = {};
  for (const [key, s] of table) {
    const name = envName(s.flag);
    // Every value given: the flag's (in the order given), the environment's,
    // the env file's. The one in force is the flag's last, else the
    // environment's, else the env file's; but each must be good: a bad value
    // is refused wherever it is, never passed over for another (a flag given
    // twice, an environment a flag overrides).
    const sources: { text: string; place: string }[] = [];
    let inForceAt = 0;
    const flagValue = values[s.flag];
    if (flagValue !== undefined) {
      if (!s.multiple) {
        for (const earlier of givenBefore(parsed.tokens, s.flag)) {
          sources.push({ text: earlier, place: "" });
        }
      }
      inForceAt = sources.length;
      const text = Array.isArray(flagValue) ? flagValue.join(",") : String(flagValue);
      sources.push({ text, place: "" });
    }
    const fromEnv = getEnv(name)?.trim();
    if (fromEnv !== undefined) sources.push({ text: fromEnv, place: " in the environment" });
    const fromFile = fileVars?.[name]?.trim();
    if (fromFile !== undefined) sources.push({ text: fromFile, place: ` in env file ${envFile}` });
    // The env file's earlier values of a name it sets twice: checked, never in force.
    for (const earlier of file?.earlier[name] ?? []) {
      sources.push({ text: earlier.trim(), place: ` in env file ${envFile}` });
    }
    if (sources.length === 0) {
      config[key] = s.default;
      continue;
    }
    const inForce = sources[inForceAt]!;
    // Without checkOverridden, only the source in force (the flag's values, else the
    // environment's, else the file's), whose values come first: `inForceAt` still points at it.
    const checked = checkOverridden
      ? sources
      : sources.filter(({ place }) => place === inForce.place);
    checked.forEach(({ text, place }, i) => {
      // An empty variable means the default (where the setting allows it).
      const isDefault = text === "" && place !== "" && s.emptyMeansDefault === true;
      let parsedValue: unknown;
      try {
        parsedValue = isDefault ? s.default : s.parse(text);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        const shown = s.redact ? s.redact(text) : text;
        const where = place === "" ? `--${s.flag} "${shown}"` : `${name} "${shown}"${place}`;
        throw new ConfigError(`Invalid ${where}: ${reason}`, { cause: error });
      }
      if (i === inForceAt) config[key] = parsedValue;
    });
    if (!(inForce.text === "" && inForce.place !== "" && s.emptyMeansDefault)) {
      given[key] = { name: inForce.place === "" ? `--${s.flag}` : name, place: inForce.place };
    }
  }
  config.envFile = fileVars === null ? null : envFile;

  const flags: Resolved<T>["flags"] = {};
  for (const [name, extra] of Object.entries(extraFlags)) {
    flags[name] = values[name];
    if (extra.parse === undefined || extra.type !== "string") continue;
    const last = values[name];
    const all = Array.isArray(last)
      ? last
      : typeof last === "string"
      ? [...givenBefore(parsed.tokens, name), last]
      : [];
    for (const value of all) {
      try {
        extra.parse(String(value));
      } catch (error) {
        if (error instanceof ConfigError) throw error; // it names the flag itself
        const reason = error instanceof Error ? error.message : String(error);
        throw new ConfigError(`Invalid --${name} "${value}": ${reason}`, { cause: error });
      }
    }
  }
  return {
    config: config as T & { envFile: string | null },
    given: given as Resolved<T>["given"],
    flags,
    positionals,
    help: values.help === true || values.h === true,
  };
}

/** The values of flag `flag` given before its last, in order (none when given once). */
function givenBefore(
  tokens: ReturnType<typeof parseArgs>["tokens"],
  flag: string,
): string[] {
  const values: string[] = [];
  for (const token of tokens ?? []) {
    if (token.kind === "option" && token.name === flag && typeof token.value === "string") {
      values.push(token.value.replace(/^\0/, ""));
    }
  }
  return values.slice(0, -1);
}

/** Freezes a config and everything in it; returns it. */
export function freezeConfig<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) freezeConfig(inner);
    Object.freeze(value);
  }
  return value;
}

/** Whether `args` ask for help (`--help` or `-h` before any `--`). */
export function wantsHelp(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === "--help" || arg === "-h");
}
