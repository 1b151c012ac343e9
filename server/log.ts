/**
 * The daemon's logger: levels, one line per event, to stderr.
 *
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Every level, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Options of {@linkcode Logger}. */
export interface LoggerOptions {
  /** The least severe level written. @default {"info"} */
  level?: LogLevel;
  /** Where lines go. @default {writes to stderr} */
  write?: (line: string) => void;
  /** The clock. @default {() => new Date()} */
  now?: () => Date;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr gone: nothing sensible left to do with a log line
  }
}

/** What a bare value may not hold: space, `"`, `=`, and C0, DEL and C1 controls. */
// deno-lint-ignore no-control-regex
const NEEDS_QUOTES = /[\s"=\u0000-\u001f\u007f-\u009f]/;

/** DEL and C1 controls, which `JSON.stringify` leaves as they are. */
const UNESCAPED_CONTROLS = /[\u007f-\u009f]/g;

/**
 * A field's value as written: bare when it can be, else JSON-quoted with
 * every control character escaped, so that no value (a client's text, a
 * processor module's error) can move a terminal's cursor, change its
 * colours or start a line of its own in the log.
 */
function formatValue(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  if (text !== "" && !NEEDS_QUOTES.test(text)) return text;
  return JSON.stringify(text).replace(
    UNESCAPED_CONTROLS,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** How often a repeated failure is written at most ({@linkcode Logger.repeated}): 10 s. */
export const REPEAT_WINDOW_MS = 10_000;

/** Distinct failures remembered for {@linkcode Logger.repeated} before it starts over. */
const MAX_REPEAT_KEYS = 256;

/**
 * A small structured logger: `2026-11-23T13:16:00.123Z INFO event key=value ...`.
 * Never pass passwords or tokens as fields.
 */
export class Logger {
  readonly #min: number;
  readonly #write: (line: string) => void;
  readonly #now: () => Date;
  /** Of each repeated failure, when it was last written and how many were held back since. */
  readonly #repeats = new Map<string, { at: number; held: number }>();

  constructor(options: LoggerOptions = {}) {
    this.#min = LOG_LEVELS.indexOf(options.level ?? "info");
    this.#write = options.write ?? writeStderr;
    this.#now = options.now ?? (() => new Date());
  }

  /** Whether `level` is written. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.#min;
  }

  /** Writes one line for `event` at `level`. */
  log(level: LogLevel, event: string, fields: Record<string, unknown> = {}): void {
    if (!this.enabled(level)) return;
    let line = `${this.#now().toISOString()} ${level.toUpperCase()} ${event}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
    this.#write(line);
  }

  /**
   * Writes a failure that may come once per request (a full disk, a database
   * gone): the first of each `event` with the same `error` (numbers aside),
   * then at most one every {@linkcode REPEAT_WINDOW_MS}, with `repeated=N`,
   * how many were held back since the last one written.
   */
  repeated(level: LogLevel, event: string, fields: Record<string, unknown> = {}): void {
    if (!this.enabled(level)) return;
    const key = `${event} ${String(fields.error ?? "").replace(/\d+/g, "#")}`;
    const now = this.#now().getTime();
    const seen = this.#repeats.get(key);
    if (seen !== undefined && now - seen.at < REPEAT_WINDOW_MS) {
      seen.held++;
      return;
    }
    if (seen === undefined && this.#repeats.size >= MAX_REPEAT_KEYS) this.#repeats.clear();
    this.#repeats.set(key, { at: now, held: 0 });
    this.log(level, event, seen?.held ? { ...fields, repeated: seen.held } : fields);
  }

  debug(event: string, fields?: Record<string, unknown>): void {
    this.log("debug", event, fields);
  }
  info(event: string, fields?: Record<string, unknown>): void {
    this.log("info", event, fields);
  }
  warn(event: string, fields?: Record<string, unknown>): void {
    this.log("warn", event, fields);
  }
  error(event: string, fields?: Record<string, unknown>): void {
    this.log("error", event, fields);
  }
}

/**
 * A peer address for people: IPv4 clients of a dual-stack socket
 * (`::ffff:a.b.c.d`) are shown as `a.b.c.d`, IPv6 in brackets.
 */
export function formatPeer(addr: Deno.Addr): string {
  if (addr.transport !== "tcp" && addr.transport !== "udp") return addr.transport;
  const host = addr.hostname.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
  return host.includes(":") ? `[${host}]:${addr.port}` : `${host}:${addr.port}`;
}
