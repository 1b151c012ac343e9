/**
 * The daemon: opens the store, starts the pool (loading the processor
 * module, if any, in every worker: one that cannot load stops the start),
 * recovers unfinished orders, listens (and serves metrics when asked),
 * prunes old orders, serves connections, and stops gracefully.
 *
 * @module
 */

import { AccountService } from "./accounts/account_service.ts";
import { Capacity } from "./capacity.ts";
import {
  DEFAULT_LEASE_MS,
  DEFAULT_LIMITS,
  SERVER_SETTINGS,
  type ServerConfig,
  V11_DEFAULTS,
} from "./config/server_config.ts";
import { Connection } from "./connection.ts";
import { createDispatcher, type Dispatcher } from "./dispatch.ts";
import { formatAddr, listenAll } from "./listen.ts";
import { formatPeer, Logger } from "./log.ts";
import { type MetricsEndpoint, reportBatches, startMetrics } from "./metrics/start_metrics.ts";
import { OrderService } from "./orders/order_service.ts";
import { Pruner } from "./orders/pruner.ts";
import { RetryPolicy } from "./orders/retry_policy.ts";
import { replyBytes } from "./protocol/encode_reply.ts";
import { errorReply } from "./protocol/errors.ts";
import type { DurationSummary } from "./protocol/replies.ts";
import { processorSource } from "./processing/processor_source.ts";
import { InlinePool } from "./processing/inline_pool.ts";
import { peerGone } from "./peer_gone.ts";
import { writeStallLimit } from "./write_stall_limit.ts";
import type { ProcessorPool } from "./processing/processor_pool.ts";
import { WorkerPool } from "./processing/worker_pool.ts";
import { openStore } from "./store/open_store.ts";
import { SqliteStore } from "./store/sqlite_store.ts";
import { SCHEMA_VERSION as SQLITE_SCHEMA_VERSION } from "../workers/sqlite/schema.ts";
import { isSharedQueue } from "./store/shared_queue.ts";
import { observesBatches, type Store } from "./store/store.ts";

/** The parts of {@linkcode ServerConfig} the server uses. */
export type ServerSettings = Omit<ServerConfig, "envFile">;

/** Options of {@linkcode Server.start}. */
export interface ServerOptions {
  config: ServerSettings;
  /** @default {a Logger at config.log, to stderr} */
  logger?: Logger;
  /** The processor worker module (tests inject faulty ones). @default {workers/processor_worker.ts} */
  processorUrl?: URL | string;
  /** See {@linkcode WorkerPoolOptions.stallMs}. @default 30000 */
  stallMs?: number;
  /** Orders deleted per retention batch (tests make it small). @default 500 */
  pruneBatchSize?: number;
  /**
   * How long a connection accepted over `--max-connections` waits for a
   * place before it is answered `busy`; 0 answers it at once (tests that
   * count `busy` use it, so clients that finish quickly do not make room).
   * @default 50
   */
  busyGraceMs?: number;
  /**
   * The store, instead of the one `config.db` names; the server closes it.
   * Tests that run with nothing but `--allow-net` pass a `MemoryStore`.
   *
   * @default {openStore(config.db)}
   */
  store?: Store;
  /**
   * Run processing on the main thread (`InlinePool`) instead of Web Workers,
   * whose modules need read permission. Simulated processing and tasks only.
   *
   * @default false
   */
  inlineProcessing?: boolean;
}

/** What a run did, printed when the daemon stops. */
export interface RunSummary {
  recibidos: number;
  aceptados: number;
  rechazados: number;
  listos: number;
  errores: number;
  cancelados: number;
  /**
   * Orders left `pendiente` for the next start (on PostgreSQL, the
   * cluster's queue); null when the database could not tell (shown `-`).
   */
  pendientes: number | null;
  duracion_ms: DurationSummary;
  uptime_s: number;
}

const BUSY = replyBytes(errorReply("busy"));
/**
 * How long a connection accepted over `--max-connections` waits for one to
 * close before it is answered `busy` (see {@linkcode Server.#waitForPlace}).
 */
const BUSY_GRACE_MS = 50;
/** Connections over the limit waiting for a place at most; more are answered `busy` at once. */
const MAX_WAITING_FOR_PLACE = 64;
const SHUTTING_DOWN = replyBytes(errorReply("shutting_down"));

/** A running daemon. `await using server = await Server.start(...)`. */
export class Server implements AsyncDisposable {
  readonly #config: ServerSettings;
  readonly #logger: Logger;
  readonly #store: Store;
  /** Reads one at a time on each connection: the store's go to a database pool (PostgreSQL). */
  readonly #serialReads: boolean;
  readonly #pool: ProcessorPool;
  readonly #orders: OrderService;
  readonly #listeners: Deno.TcpListener[];
  readonly #connections = new Set<Connection>();
  /** Connections refused (`busy`, `shutting_down`) whose reply is being written; each closes itself. */
  readonly #refused = new Set<() => void>();
  readonly #startedAt = performance.now();
  readonly #accepting: Promise<void>[];
  readonly #dispatcher: Dispatcher;
  readonly #accounts: AccountService;
  readonly #sweeper: ReturnType<typeof setInterval>;
  readonly #pruner: Pruner | null;
  readonly #metricsServer: MetricsEndpoint["server"] | null;
  #shutdown: Promise<RunSummary> | null = null;
  /**
   * Set as a stop begins, before {@linkcode Server.#stop} runs: `#shutdown`
   * is assigned only once its synchronous part has run, and that part
   * answers the connections waiting for a place (`shutting_down`, not `busy`).
   */
  #stopping = false;
  /** Whether the listeners were closed: at the end of the drain of a stop. */
  #listenersClosed = false;
  /** Whether debug lines are written (checked once: most runs have them off). */
  readonly #debug: boolean;
  readonly #busyGraceMs: number;
  /** One function for every connection's close. */
  readonly #onClose = (connection: Connection) => {
    this.#connections.delete(connection);
    if (this.#debug) this.#logger.debug("conn.close", { peer: connection.peer });
    // A connection over the limit waiting for one to close takes its place.
    this.#placeWaiting();
  };
  /**
   * Connections accepted over the limit, waiting {@linkcode BUSY_GRACE_MS}
   * for a place: a function that places it if there is room, and one that
   * answers it at once.
   */
  readonly #overLimit = new Map<() => void, () => void>();
  /**
   * Resolves when the daemon cannot go on (its PostgreSQL database, reached
   * only after the start, refuses it); never on SQLite. Stop it then.
   */
  readonly failed: Promise<Error>;

  private constructor(
    options: ServerOptions,
    parts: {
      store: Store;
      pool: ProcessorPool;
      orders: OrderService;
      accounts: AccountService;
      listeners: Deno.TcpListener[];
      metrics: MetricsEndpoint | null;
      failed: Promise<Error>;
    },
  ) {
    this.failed = parts.failed;
    this.#config = options.config;
    this.#logger = options.logger ?? new Logger({ level: options.config.log });
    this.#debug = this.#logger.enabled("debug");
    this.#busyGraceMs = options.busyGraceMs ?? BUSY_GRACE_MS;
    this.#store = parts.store;
    this.#serialReads = isSharedQueue(parts.store);
    this.#pool = parts.pool;
    this.#orders = parts.orders;
    this.#accounts = parts.accounts;
    this.#listeners = parts.listeners;
    const dispatcher = createDispatcher({
      orders: this.#orders,
      accounts: parts.accounts,
      logger: this.#logger,
      connections: () => this.#connections.size,
      startedAt: this.#startedAt,
    });
    this.#dispatcher = dispatcher;
    this.#accepting = this.#listeners.map((listener) => this.#acceptLoop(listener, dispatcher));
    const retainS = this.#config.retainS ?? V11_DEFAULTS.retainS;
    this.#pruner = retainS > 0
      ? Pruner.start({
        store: this.#store,
        retainS,
        logger: this.#logger,
        ...(options.pruneBatchSize ? { batchSize: options.pruneBatchSize } : {}),
      })
      : null;
    this.#metricsServer = parts.metrics?.server ?? null;
    parts.metrics?.collector.attach({
      stats: () => dispatcher.stats(),
      cluster: () => this.#orders.clusterStats(),
      durations: () => this.#orders.durationHistogram(),
      workerRestarts: () => this.#pool.crashes,
      retention: () => this.#pruner?.stats ?? null,
    });
    const idle = this.#config.idleTimeoutMs;
    this.#sweeper = setInterval(() => this.#sweepIdle(), Math.max(10, Math.min(1000, idle / 4)));
  }

  /**
   * Starts the workers (loading the processor module), listens, opens the
   * store and schedules unfinished orders; connections are accepted once
   * all is done. Anything opened is
   * closed again if a later step fails.
   */
  static async start(options: ServerOptions): Promise<Server> {
    const { config } = options;
    const logger = options.logger ?? new Logger({ level: config.log });
    const capacity = Capacity.create(config.maxPedidos);
    const failed = Promise.withResolvers<Error>();
    // What a bad value can make fail goes first, before the database is
    // opened or created (§7): the processor module, then the addresses (a
    // host that does not resolve, a port taken). The module is loaded before
    // the daemon listens, so that one that cannot be used (which may take
    // seconds to say so, with a top-level await) never leaves a port open
    // that answers nothing. Connections that come once it listens wait in
    // the listen queue until the daemon is ready.
    const processor = config.processor ? processorSource(config.processor) : undefined;
    let store: Store | undefined = options.store;
    let pool: ProcessorPool | undefined;
    let listeners: Deno.TcpListener[] = [];
    let metrics: MetricsEndpoint | null = null;
    try {
      // The default list may lose a family the machine lacks (IPv6 off): a
      // start that fails there (exit 2) is not restarted by systemd. (The
      // same list named by the operator counts as the default.)
      const defaultHosts = String(config.hosts) === String(SERVER_SETTINGS.hosts.default);
      pool = options.inlineProcessing ? new InlinePool(config.workers) : await WorkerPool.start({
        size: config.workers,
        logger,
        ...(options.processorUrl ? { moduleUrl: options.processorUrl } : {}),
        ...(options.stallMs ? { stallMs: options.stallMs } : {}),
        ...(processor ? { processor } : {}),
      });
      listeners = listenAll(config.hosts, config.port, { logger, defaultHosts });
      metrics = startMetricsBeside(config, listeners, logger);
      store ??= await openStore({
        db: config.db,
        sync: config.sync,
        capacity: config.maxPedidos,
        leaseMs: config.leaseMs ?? DEFAULT_LEASE_MS,
        logger,
        onFatal: failed.resolve,
      });
      // An upgrade is logged, not silent (PostgreSQL's store logs its own).
      const before = store instanceof SqliteStore ? store.schemaBefore : null;
      // Orders without a schema version (a file made by hand, a .dump's copy) are taken in.
      const takenIn = store instanceof SqliteStore && store.takenIn;
      if (before !== null && (before > 0 || takenIn) && before < SQLITE_SCHEMA_VERSION) {
        logger.info("store.migrated", {
          db: config.db,
          from: before,
          to: SQLITE_SCHEMA_VERSION,
          ...(takenIn ? { orders: "taken in from a file without a schema version" } : {}),
        });
      }
      if (metrics !== null) reportBatches(metrics, store);
      const orders = new OrderService({
        store,
        capacity,
        pool,
        processMs: config.processMs,
        logger,
        retry: new RetryPolicy({
          maxAttempts: config.maxIntentos ?? V11_DEFAULTS.maxIntentos,
          baseMs: config.retryBackoffMs ?? V11_DEFAULTS.retryBackoffMs,
        }),
        ...(processor
          ? { processor: { timeoutMs: config.processTimeoutMs ?? V11_DEFAULTS.processTimeoutMs } }
          : {}),
        maxRequestBytes: config.maxRequestBytes,
        ...limitsOf(config),
      });
      const accounts = new AccountService({
        store,
        logger,
        sessionTtlS: config.sessionTtlS,
        maxLoginQueue: config.maxLoginQueue ?? DEFAULT_LIMITS.maxLoginQueue,
      });
      await orders.recover().catch((error: Error) => {
        // The unfinished orders could not be read (a page the disk corrupted):
        // the message names the file, as every other database error at the start.
        if (!(store instanceof SqliteStore) || error.message.startsWith("Cannot open database")) {
          throw error;
        }
        throw new Error(`Cannot open database "${config.db}": ${error.message}`, { cause: error });
      });
      return new Server({ ...options, logger }, {
        store,
        pool,
        orders,
        accounts,
        listeners,
        metrics,
        failed: failed.promise,
      });
    } catch (error) {
      for (const listener of listeners) listener.close();
      await metrics?.server.close();
      await pool?.close();
      await store?.close();
      throw error;
    }
  }

  /** The addresses listened on. */
  get addrs(): Deno.NetAddr[] {
    return this.#listeners.map((listener) => listener.addr as Deno.NetAddr);
  }

  /** The port listened on. */
  get port(): number {
    return this.addrs[0]!.port;
  }

  /** The line printed when ready: `listening on 127.0.0.1:8888 [::1]:8888`. */
  get readyLine(): string {
    return `listening on ${this.addrs.map(formatAddr).join(" ")}`;
  }

  /**
   * The line printed after the ready line when the metrics endpoint is on:
   * `metrics on http://127.0.0.1:9100/metrics` (with `--metrics-port 0`, the
   * port picked); null when it is off.
   */
  get metricsLine(): string | null {
    const addr = this.metricsAddr;
    return addr === null ? null : `metrics on http://${formatAddr(addr)}/metrics`;
  }

  /** The address of the metrics endpoint, or null when it is off. */
  get metricsAddr(): Deno.NetAddr | null {
    return this.#metricsServer?.addr ?? null;
  }

  /** Open connections. */
  get connections(): number {
    return this.#connections.size;
  }

  /** `ESTADO esperar` waits open now, over all connections. */
  get waits(): number {
    return this.#orders.waits;
  }

  /** Reply bytes held for peers that have not read them yet, over all connections. */
  get bufferedBytes(): number {
    let total = 0;
    for (const connection of this.#connections) total += connection.unsentBytes;
    return total;
  }

  /**
   * Stops: no new work (`shutting_down`, written to a new connection as soon
   * as it is accepted: the listeners stay open until the drain ends), idle
   * connections closed at once, running orders drain for `drainTimeoutMs`,
   * the rest stays `pendiente`, the store is flushed and closed. Idempotent:
   * later calls return the same promise.
   */
  shutdown(): Promise<RunSummary> {
    this.#stopping = true;
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown().then(() => {});
  }

  async #stop(): Promise<RunSummary> {
    this.#logger.info("server.stopping", { connections: this.#connections.size });
    // Connections waiting for a place get shutting_down now.
    for (const giveUp of [...this.#overLimit.values()]) giveUp();
    // The listeners stay open while draining: a new connection is answered
    // shutting_down (#acceptLoop) rather than refused by the kernel.
    await this.#pruner?.close();
    for (const connection of [...this.#connections]) connection.beginStop();
    // Sign-ins still waiting for the hasher are answered shutting_down now.
    this.#accounts.stop();
    // When the drain runs out, the orders still running go back to pendiente: said, not only
    // counted in the summary. (Set before the drain's own deadline, so it reads them first.)
    const drainTimeoutMs = this.#config.drainTimeoutMs;
    const outOfTime = setTimeout(() => {
      const running = this.#orders.stats().en_proceso;
      if (running > 0) {
        this.#logger.warn("server.drain_timeout", {
          running,
          drain_timeout_ms: drainTimeoutMs,
          action: "left pendiente for the next start",
        });
      }
    }, drainTimeoutMs);
    const leftPending = await this.#orders.drain(drainTimeoutMs).finally(() =>
      clearTimeout(outOfTime)
    );
    this.#listenersClosed = true;
    for (const listener of this.#listeners) {
      try {
        listener.close();
      } catch {
        // already closed
      }
    }
    await Promise.allSettled(this.#accepting);
    // Give busy connections a moment to write their last replies.
    const deadline = performance.now() + 1000; // monotonic: a clock step changes no wait
    while (this.#connections.size > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const connection of [...this.#connections]) connection.close();
    for (const close of [...this.#refused]) close();
    clearInterval(this.#sweeper);
    await this.#metricsServer?.close();
    if (observesBatches(this.#store)) this.#store.observeBatches(null);
    await this.#store.close();
    const after = this.#dispatcher.stats();
    const summary: RunSummary = {
      recibidos: after.recibidos,
      aceptados: after.aceptados,
      rechazados: after.rechazados,
      listos: after.listos,
      errores: after.errores,
      cancelados: after.cancelados,
      pendientes: leftPending,
      duracion_ms: after.duracion_ms,
      uptime_s: after.uptime_s,
    };
    this.#logger.info("server.stopped", { ...summary, duracion_ms: undefined });
    return summary;
  }

  async #acceptLoop(listener: Deno.TcpListener, dispatcher: Dispatcher) {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#listenersClosed || error instanceof Deno.errors.BadResource) return;
        if (peerGone(error)) {
          // A peer that connected and reset before its turn: it costs nothing
          // (a stream of them must not slow everyone else's accepts).
          if (this.#debug) this.#logger.debug("conn.gone_before_accept", { error: String(error) });
          continue;
        }
        // Out of file descriptors, say, this repeats every 50 ms: written once,
        // then once every 10 s with how many were held back.
        this.#logger.repeated("error", "server.accept_failed", {
          error: String(error),
          advice: "out of file descriptors? raise the open-file limit (ulimit -n, LimitNOFILE) " +
            "above --max-connections, or lower it",
        });
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      // The peer's address is formatted only when a log line needs it.
      const peer = () => formatPeer(conn.remoteAddr);
      if (this.#stopping) {
        if (this.#debug) this.#logger.debug("conn.shutting_down", { peer: peer() });
        this.#refuse(conn, SHUTTING_DOWN);
        continue;
      }
      if (this.#connections.size >= this.#config.maxConnections) {
        if (this.#busyGraceMs > 0 && this.#overLimit.size < MAX_WAITING_FOR_PLACE) {
          this.#waitForPlace(conn, peer, dispatcher);
        } else {
          this.#logger.repeated("warn", "conn.busy", {
            peer: peer(),
            open: this.#connections.size,
          });
          this.#refuse(conn, BUSY);
        }
        continue;
      }
      this.#serve(conn, peer, dispatcher);
    }
  }

  /**
   * A connection over the limit gets a place if one closes within
   * {@linkcode BUSY_GRACE_MS}, else `busy`. A client that closes a
   * connection and opens another at once has its close seen a moment after
   * the new one is accepted (both come in the same turn, the accept first):
   * without the grace, it would be refused a place it had just freed.
   */
  #waitForPlace(conn: Deno.TcpConn, peer: () => string, dispatcher: Dispatcher): void {
    const settle = (placed: boolean) => {
      clearTimeout(timer);
      this.#overLimit.delete(tryPlace);
      if (placed) return this.#serve(conn, peer, dispatcher);
      if (this.#stopping) return this.#refuse(conn, SHUTTING_DOWN);
      this.#logger.repeated("warn", "conn.busy", { peer: peer(), open: this.#connections.size });
      this.#refuse(conn, BUSY);
    };
    const tryPlace = () => {
      if (!this.#stopping && this.#connections.size < this.#config.maxConnections) settle(true);
    };
    const timer = setTimeout(() => settle(false), this.#busyGraceMs);
    this.#overLimit.set(tryPlace, () => settle(false));
  }

  /** Gives the places freed to connections waiting for one, oldest first. */
  #placeWaiting(): void {
    for (const tryPlace of this.#overLimit.keys()) {
      if (this.#connections.size >= this.#config.maxConnections) return;
      tryPlace();
    }
  }

  /** Serves `conn`, accepted within the limit. */
  #serve(conn: Deno.TcpConn, peer: () => string, dispatcher: Dispatcher): void {
    try {
      conn.setNoDelay(true);
    } catch {
      // not fatal
    }
    const connection = new Connection(conn, {
      maxRequestBytes: this.#config.maxRequestBytes,
      maxReplyBytes: this.#config.maxReplyBytes ?? DEFAULT_LIMITS.maxReplyBytes,
      maxWaits: this.#config.maxWaitersPerConnection ?? DEFAULT_LIMITS.maxWaitersPerConnection,
      serialReads: this.#serialReads,
      dispatcher,
      logger: this.#logger,
      peer,
      onClose: this.#onClose,
    });
    this.#connections.add(connection);
    if (this.#debug) this.#logger.debug("conn.open", { peer: connection.peer });
    connection.serve().catch((error) =>
      this.#logger.error("conn.failed", { peer: connection.peer, error: String(error) })
    );
  }

  /** Writes `reply` (busy, shutting_down) as soon as `conn` is accepted, then closes it. */
  #refuse(conn: Deno.TcpConn, reply: Uint8Array): void {
    const refused = this.#refused;
    const timer = setTimeout(() => close(), 1000); // never wait long on a peer that won't read
    function close() {
      clearTimeout(timer);
      refused.delete(close);
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
    refused.add(close);
    conn.write(reply).then(close, close);
  }

  #sweepIdle(): void {
    const limit = this.#config.idleTimeoutMs;
    const now = performance.now();
    for (const connection of this.#connections) {
      if (connection.pending === 0 && now - connection.lastActive > limit) {
        this.#logger.info("conn.idle_timeout", { peer: connection.peer });
        connection.close();
      } else if (
        connection.writeStalledMs > writeStallLimit(limit, connection.longestWriteWaitMs)
      ) {
        // A peer that has read nothing of its replies for that long is idle too;
        // without this it would hold its place and its buffers for ever.
        this.#logger.info("conn.write_timeout", { peer: connection.peer });
        connection.close();
      }
    }
  }
}

/** The limits of `config` the order service applies, with their defaults. */
function limitsOf(config: ServerSettings) {
  return {
    maxReplyBytes: config.maxReplyBytes ?? DEFAULT_LIMITS.maxReplyBytes,
    maxWaiters: config.maxWaiters ?? DEFAULT_LIMITS.maxWaiters,
    maxWaitersPerConnection: config.maxWaitersPerConnection ??
      DEFAULT_LIMITS.maxWaitersPerConnection,
  };
}

/**
 * {@linkcode startMetrics}, where a `--metrics-port` that is the daemon's own
 * port (on an address that overlaps, e.g. `localhost` beside `127.0.0.1`) is
 * a bad value (exit 2), not a port another program holds.
 */
function startMetricsBeside(
  config: ServerSettings,
  listeners: Deno.TcpListener[],
  logger: Logger,
): MetricsEndpoint | null {
  try {
    return startMetrics(config, logger);
  } catch (error) {
    const own = listeners.some((listener) =>
      (listener.addr as Deno.NetAddr).port === config.metricsPort
    );
    if (!(error instanceof Deno.errors.AddrInUse) || !own) throw error;
    throw new Error(
      `Invalid --metrics-port ${config.metricsPort}: it is the daemon's own port; ` +
        "the metrics endpoint needs a port of its own",
      { cause: error },
    );
  }
}
