/**
 * The daemon's configuration (§7): its type, its defaults table and its
 * usage text. Resolved by the settings engine (`settings.ts`).
 *
 * @module
 */

import { LOG_LEVELS, type LogLevel } from "../log.ts";
import { largestOrderBytes } from "../protocol/reply_budget.ts";
import {
  ConfigError,
  type ConfigSources,
  describeGiven,
  formatUsage,
  freezeConfig,
  resolveConfig,
  type Settings,
} from "./settings.ts";
import {
  MAX_TIMER_MS,
  nonEmpty,
  ONE_DAY_MS,
  oneOf,
  parseHosts,
  parseProcessMs,
  portOrOff,
  wholeNumber,
} from "./value_parsers.ts";
import { MAX_CAPACITY } from "../admission.ts";
import {
  hasUrlCredentials,
  isPostgresUrl,
  parsePostgresUrl,
  redactDatabaseUrl,
} from "../store/postgres/postgres_url.ts";

/**
 * A SQLite path, or a PostgreSQL URL that can be read (§9). A URL of any
 * other scheme is refused here, rather than taken for a file's name.
 */
function parseDb(text: string): string {
  const db = nonEmpty(text);
  if (isPostgresUrl(db)) {
    parsePostgresUrl(db);
  } else {
    const scheme = /^\s*([a-z][a-z0-9+.-]*):\/\//i.exec(db)?.[1];
    if (scheme !== undefined) {
      throw new RangeError(
        `names a ${scheme.toLowerCase()}:// database, which pedidos cannot use: give a SQLite file's path, :memory:, or postgres://USER@HOST/DATABASE`,
      );
    }
    if (hasUrlCredentials(db)) {
      // A URL with something before its scheme (a quote an env file kept), or a mistyped one.
      throw new RangeError(
        "holds a user and password (USER:PASSWORD@) but does not start with postgres:// or postgresql://: give a SQLite file's path, :memory:, or postgres://USER@HOST/DATABASE",
      );
    }
  }
  return db;
}

/** The daemon's configuration (§7). */
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
  /** SQLite file, `:memory:`, or a PostgreSQL URL (§9). */
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
  /**
   * The processor module (§11): a path (relative to the working directory)
   * or URL of an ES module whose default export processes one order; null:
   * the simulated wait of `processMs`.
   *
   * @default {null}
   */
  processor?: string | null;
  /** Attempts in all before a failing order ends `error` (§11). @default {3} */
  maxIntentos?: number;
  /** Wait before the second attempt, doubled for each later one, with jitter (§11). @default {1000} */
  retryBackoffMs?: number;
  /** Longest attempt of a processor module before it is aborted (§11). @default {60000} */
  processTimeoutMs?: number;
  /** Finished orders older than this many seconds are deleted; 0 keeps all (§4). @default {604800} */
  retainS?: number;
  /** The port of the metrics endpoint (§10); null: off. @default {null} */
  metricsPort?: number | null;
  /** The address of the metrics endpoint (§10). @default {"127.0.0.1"} */
  metricsHost?: string;
  /**
   * The largest reply held at once, in bytes: a longer LISTAR reply is
   * written in pieces of at most this, each read once the one before is
   * written. At least {@linkcode largestOrderBytes} of `maxRequestBytes`, so one
   * order always fits. When it is not set, {@linkcode parseServerConfig}
   * makes it {@linkcode defaultMaxReplyBytes} of `maxRequestBytes`. Optional
   * like `sessionTtlS` (settings given to the server without it: 1048576).
   *
   * @default {defaultMaxReplyBytes(maxRequestBytes)}
   */
  maxReplyBytes?: number;
  /** `ESTADO esperar` waits open at once, over all connections; more get `queue_full`. @default {10000} */
  maxWaiters?: number;
  /** `ESTADO esperar` waits open at once on one connection; more get `queue_full`. @default {128} */
  maxWaitersPerConnection?: number;
  /** REGISTRO and LOGIN waiting for the password hasher; more get `queue_full`. @default {32} */
  maxLoginQueue?: number;
  /**
   * How long an order `en proceso` stays leased to the daemon running it
   * without renewal, on a PostgreSQL store (§9). Optional so that settings
   * written before it existed stay valid.
   *
   * @default {30000}
   */
  leaseMs?: number;
  /** The env file that was read, or null. */
  envFile: string | null;
}

/** The default of {@linkcode ServerConfig.sessionTtlS}: one day. */
export const DEFAULT_SESSION_TTL_S = 86400;

/** The defaults of the v1.1 keys (§4, §10, §11), for settings that leave them out. */
export const V11_DEFAULTS = {
  processor: null,
  maxIntentos: 3,
  retryBackoffMs: 1000,
  processTimeoutMs: 60_000,
  retainS: 604_800,
  metricsPort: null,
  metricsHost: "127.0.0.1",
} as const;

/** The defaults of the limits against hostile clients (`docs/guarantees.md`, "Hostile clients"). */
export const DEFAULT_LIMITS = Object.freeze({
  maxReplyBytes: 1_048_576,
  maxWaiters: 10_000,
  maxWaitersPerConnection: 128,
  maxLoginQueue: 1024,
});

/**
 * The `--max-reply-bytes` used when none is set: 1 MiB, or one whole order of
 * `--max-request-bytes` when that is larger, so that any valid
 * `--max-request-bytes` starts.
 *
 * @example Usage
 * ```ts
 * import { defaultMaxReplyBytes } from "./server_config.ts";
 * console.log(defaultMaxReplyBytes(65536)); // 1048576
 * console.log(defaultMaxReplyBytes(1000000)); // 1069632
 * ```
 */
export function defaultMaxReplyBytes(maxRequestBytes: number): number {
  return Math.max(DEFAULT_LIMITS.maxReplyBytes, largestOrderBytes(maxRequestBytes));
}

/** The most `--workers`: each is a thread with its own heap (about 7 MiB idle). */
export const MAX_WORKERS = 1024;

/** The largest `--max-request-bytes`: 64 MiB. */
export const MAX_REQUEST_BYTES = 64 * 1024 * 1024;

/** The largest `--max-reply-bytes`: 256 MiB, well inside what one string holds. */
export const MAX_REPLY_BYTES = 256 * 1024 * 1024;

/** The default of {@linkcode ServerConfig.leaseMs}: 30 s. */
export const DEFAULT_LEASE_MS = 30_000;

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
    parse: wholeNumber(1, MAX_WORKERS),
  },
  maxPedidos: {
    flag: "max-pedidos",
    arg: "N",
    default: 6,
    shown: "6",
    help: "capacity: orders accepted and not yet finished",
    parse: wholeNumber(1, MAX_CAPACITY),
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
    arg: "PATH|URL",
    default: "pedidos.db",
    shown: "pedidos.db",
    help: "SQLite file, :memory:, or postgres://USER[:PASS]@HOST[:PORT]/DB",
    parse: parseDb,
    redact: redactDatabaseUrl,
  },
  sync: {
    flag: "sync",
    arg: "MODE",
    default: "full",
    shown: "full",
    help: "full (survives power loss) or normal",
    parse: oneOf(["full", "normal"] as const),
  },
  leaseMs: {
    flag: "lease-ms",
    arg: "MS",
    default: DEFAULT_LEASE_MS,
    shown: String(DEFAULT_LEASE_MS),
    help: "PostgreSQL: a dead daemon's orders are taken over after this",
    parse: wholeNumber(100, 24 * 3600 * 1000),
  },
  drainTimeoutMs: {
    flag: "drain-timeout-ms",
    arg: "MS",
    default: 10000,
    shown: "10000",
    help: "on stop, wait this long for running orders",
    parse: wholeNumber(0, ONE_DAY_MS),
  },
  idleTimeoutMs: {
    flag: "idle-timeout-ms",
    arg: "MS",
    default: 300000,
    shown: "300000",
    help: "close a connection idle this long",
    parse: wholeNumber(1, MAX_TIMER_MS),
  },
  maxRequestBytes: {
    flag: "max-request-bytes",
    arg: "N",
    default: 65536,
    shown: "65536",
    help: "largest request; bigger gets too_large",
    parse: wholeNumber(64, MAX_REQUEST_BYTES),
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
  processor: {
    flag: "processor",
    arg: "PATH",
    default: V11_DEFAULTS.processor,
    shown: "",
    help: "ES module whose default export processes an order; none = simulated wait",
    parse: nonEmpty,
    // `PEDIDOS_PROCESSOR=` is the documented "none" (.env.local, .env.docker).
    emptyMeansDefault: true,
  },
  maxIntentos: {
    flag: "max-intentos",
    arg: "N",
    default: V11_DEFAULTS.maxIntentos,
    shown: String(V11_DEFAULTS.maxIntentos),
    help: "attempts before a failing order ends error",
    parse: wholeNumber(1, 100),
  },
  retryBackoffMs: {
    flag: "retry-backoff-ms",
    arg: "MS",
    default: V11_DEFAULTS.retryBackoffMs,
    shown: String(V11_DEFAULTS.retryBackoffMs),
    help: "wait before a retry, doubled each attempt, with jitter",
    parse: wholeNumber(0, 3_600_000),
  },
  processTimeoutMs: {
    flag: "process-timeout-ms",
    arg: "MS",
    default: V11_DEFAULTS.processTimeoutMs,
    shown: String(V11_DEFAULTS.processTimeoutMs),
    help: "a processor module's attempt longer than this is aborted",
    parse: wholeNumber(1, ONE_DAY_MS),
  },
  retainS: {
    flag: "retain-s",
    arg: "S",
    default: V11_DEFAULTS.retainS,
    shown: String(V11_DEFAULTS.retainS),
    help: "delete finished orders older than this; 0 = keep all",
    parse: wholeNumber(0, 100 * 366 * 86400),
  },
  metricsPort: {
    flag: "metrics-port",
    arg: "N",
    default: V11_DEFAULTS.metricsPort,
    shown: "off",
    help: "serve GET /metrics (Prometheus) on this port; 0 picks one; off",
    parse: portOrOff,
  },
  metricsHost: {
    flag: "metrics-host",
    arg: "HOST",
    default: V11_DEFAULTS.metricsHost,
    shown: V11_DEFAULTS.metricsHost,
    help: "address of the metrics endpoint",
    parse: (text) => nonEmpty(text).trim().replace(/^\[(.*)\]$/, "$1"),
  },
  maxReplyBytes: {
    flag: "max-reply-bytes",
    arg: "N",
    default: DEFAULT_LIMITS.maxReplyBytes,
    shown: String(DEFAULT_LIMITS.maxReplyBytes),
    help:
      "largest reply held; a longer LISTAR is written in pieces; unset: fits --max-request-bytes",
    parse: wholeNumber(4096, MAX_REPLY_BYTES),
  },
  maxWaiters: {
    flag: "max-waiters",
    arg: "N",
    default: DEFAULT_LIMITS.maxWaiters,
    shown: String(DEFAULT_LIMITS.maxWaiters),
    help: "ESTADO esperar waits open at once; more get queue_full",
    parse: wholeNumber(1),
  },
  maxWaitersPerConnection: {
    flag: "max-waiters-per-connection",
    arg: "N",
    default: DEFAULT_LIMITS.maxWaitersPerConnection,
    shown: String(DEFAULT_LIMITS.maxWaitersPerConnection),
    help: "ESTADO esperar waits open at once on one connection; more wait their turn",
    parse: wholeNumber(1),
  },
  maxLoginQueue: {
    flag: "max-login-queue",
    arg: "N",
    default: DEFAULT_LIMITS.maxLoginQueue,
    shown: String(DEFAULT_LIMITS.maxLoginQueue),
    help: "REGISTRO/LOGIN waiting for a password hash; more get queue_full",
    parse: wholeNumber(0),
  },
};

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
 * import { parseServerConfig } from "./server_config.ts";
 * const config = parseServerConfig(["--port", "0", "--workers", "2"], { getEnv: () => undefined, readFile: () => null });
 * console.log(config.port, config.workers, config.hosts); // 0 2 ["127.0.0.1", "::1"]
 * ```
 * @param args The flags after `server`.
 * @param sources Where the environment and env file are read.
 * @returns A deeply frozen config.
 * @throws {ConfigError} On a bad flag or a bad value from any source, or a
 * `--max-reply-bytes` set too small for one order of `--max-request-bytes`.
 */
export function parseServerConfig(args: string[], sources: ConfigSources = {}): ServerConfig {
  const { config, given } = resolveConfig(args, SERVER_SETTINGS, sources);
  const { maxRequestBytes } = config;
  const metricsPort = config.metricsPort ?? null;
  if (given.metricsPort !== undefined && metricsPort === config.port && metricsPort !== 0) {
    const metricsHost = config.metricsHost ?? V11_DEFAULTS.metricsHost;
    const wildcard = (host: string) => ["*", "0.0.0.0", "::"].includes(host);
    if (
      wildcard(metricsHost) || config.hosts.some((host) => host === metricsHost || wildcard(host))
    ) {
      throw new ConfigError(
        `Invalid ${describeGiven(given.metricsPort, metricsPort)}: it is the daemon's own port ` +
          `on ${metricsHost}; the metrics endpoint needs a port of its own`,
      );
    }
  }
  if (given.maxReplyBytes === undefined) {
    return freezeConfig({ ...config, maxReplyBytes: defaultMaxReplyBytes(maxRequestBytes) });
  }
  const needed = largestOrderBytes(maxRequestBytes);
  const maxReplyBytes = config.maxReplyBytes ?? DEFAULT_LIMITS.maxReplyBytes;
  if (maxReplyBytes < needed) {
    const request = given.maxRequestBytes === undefined
      ? `the default --max-request-bytes ${maxRequestBytes}`
      : describeGiven(given.maxRequestBytes, maxRequestBytes);
    throw new ConfigError(
      `Invalid ${describeGiven(given.maxReplyBytes, maxReplyBytes)}: must be at least ${needed} ` +
        `for ${request} (the request + ${needed - maxRequestBytes} for a result and the ` +
        "order's fields), so that one order always fits in a reply; leave it unset and it " +
        "follows --max-request-bytes",
    );
  }
  return freezeConfig({ ...config });
}
