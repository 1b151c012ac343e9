/**
 * The PostgreSQL {@linkcode Store} (§9), shared by any number of daemons:
 * it is also their {@linkcode SharedQueue}.
 *
 * - Writes of orders go through one writer per daemon
 *   ({@linkcode PostgresWriter}): what arrives together is committed
 *   together, and each write resolves after the `COMMIT`.
 * - Reads, accounts, claims and lease renewals go straight to the
 *   database. Claims, renewals and wake-ups use connections whose commits
 *   do not wait for the disk: losing one in a crash only means an order is
 *   processed again (at-least-once), which the lease already allows.
 * - While the database cannot be reached, every operation rejects at once
 *   with `StoreUnavailableError` and {@linkcode DatabaseHealth} reconnects;
 *   the store opens even when the database is down at first, and gets
 *   ready (schema, capacity check) when it comes.
 *
 * @module
 */

import { DEAD_NODES, DeadNodeWatch, NodeSentinel } from "./node_sentinel.ts";
import { ignoreLostTypeFetches } from "./lost_type_fetch.ts";
import type { Options } from "postgres";
import { Logger } from "../../log.ts";
import type { ListFilter, Pedido, PedidoNuevo } from "../../protocol/messages.ts";
import type {
  AttemptEnd,
  CheckedChange,
  CheckedInsert,
  ClaimedOrder,
  ClaimOptions,
  ClusterCounts,
  InsertOptions,
  Lease,
  ReleaseOptions,
  SharedQueue,
  WorkOrigin,
} from "../shared_queue.ts";
import type {
  ChangeResult,
  InsertResult,
  ObservesBatches,
  Outcome,
  Rol,
  Sesion,
  Store,
  Usuario,
} from "../store.ts";
import type { BatchTiming } from "../../../workers/writer_messages.ts";
import { ClusterSignals } from "./cluster_signals.ts";
import { ConnectionPools } from "./connection_pools.ts";
import { driverOptions, idleInTransactionMsFor } from "./driver_options.ts";
import { DatabaseHealth } from "./database_health.ts";
import { withDeadline } from "./deadline.ts";
import { tlsRefusal } from "./tls_refusal.ts";
import { orderWrites } from "./order_writes.ts";
import {
  isConnectionError,
  isMisconfiguration,
  READ_ONLY_CODE,
  readOnlyError,
  tlsRefusedError,
} from "./postgres_errors.ts";
import { ClusterCapacityChangedError, registerNode } from "./cluster_node.ts";
import { PostgresReads } from "./postgres_reads.ts";
import { checkEncoding, migrate } from "./postgres_schema.ts";
import { parsePostgresUrl, redactDatabaseUrl } from "./postgres_url.ts";
import { PostgresWriter, WRITER_SETTINGS } from "./postgres_writer.ts";

/**
 * The longest closing waits for the writes still in flight, then to leave
 * the cluster and to send its last notifications, ms.
 */
const LEAVE_MS = 2000;

/** The longest a closing store lets its connections end gracefully, s. */
const END_S = 1;

/** The `sslmode`s that take no connection without TLS. */
const REQUIRES_TLS = new Set(["require", "verify-ca", "verify-full"]);

/** Options of {@linkcode PostgresStore.open}. */
export interface PostgresStoreOptions {
  /** `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&application_name=…]`. */
  url: string;
  /**
   * This daemon's `--max-pedidos`; it must be the capacity in force in the
   * cluster. Absent: the store is not a daemon's (`pedidos usuarios`), and
   * does not join the cluster: no capacity checked or set, no node
   * registered; it reads and writes accounts, and must not take orders.
   */
  capacity?: number;
  /** How long a claim's lease lasts without renewal, ms. @default {30000} */
  leaseMs?: number;
  /** @default {a Logger at "error"} */
  logger?: Logger;
  /**
   * `--sync`: whether a commit of orders reaches the server's disk before it
   * counts (`full`: `synchronous_commit` on) or its memory (`normal`: off).
   * @default {"full"}
   */
  sync?: "full" | "normal";
  /** Connections for reads and writes. @default {10} */
  poolSize?: number;
  /** How long a connection attempt may take, seconds. @default {5} */
  connectTimeoutS?: number;
  /**
   * The longest the first statement at open, a read or a probe may go
   * unanswered before the database counts as unreachable, ms (the writer's
   * transactions have deadlines of their own). @default {15000}
   */
  deadlineMs?: number;
  /**
   * Called when the database, reached only after the store opened, refuses
   * this daemon (e.g. another capacity is in force), or when a heartbeat
   * finds that another capacity came into force while this daemon counted
   * as gone. The daemon should stop.
   */
  onFatal?: (error: Error) => void;
}

/** Orders, accounts and the shared queue in PostgreSQL. */
export class PostgresStore implements Store, SharedQueue, ObservesBatches {
  readonly nodeId: string = crypto.randomUUID();
  readonly leaseMs: number;
  readonly #capacity: number | undefined;
  readonly #pools: ConnectionPools;
  readonly #health: DatabaseHealth;
  readonly #signals: ClusterSignals;
  /** This daemon's lock, held while it runs; null for a store that is not a daemon's. */
  readonly #sentinel: NodeSentinel | null;
  /** Daemons found dead, confirmed over the grace before their orders are taken over. */
  readonly #deadNodes = new DeadNodeWatch();
  readonly #writer: PostgresWriter;
  readonly #writes: ReturnType<typeof orderWrites>;
  readonly #reads: PostgresReads;
  readonly #workListeners = new Set<(origin: WorkOrigin) => void>();
  readonly #fenceListeners = new Set<(fenced: boolean) => void>();
  readonly #finishListeners = new Set<(ids: number[]) => void>();
  readonly #logger: Logger;
  /** The database's URL without its password, for log lines. */
  readonly #shown: string;
  #ready = false;
  /** Whether {@linkcode PostgresStore.open} returned it. */
  #opened = false;
  #closed = false;
  /** Other daemons alive at the last heartbeat (announcements go nowhere without them). */
  #peers = 1;
  #closing: Promise<void> | null = null;
  readonly #onFatal: ((error: Error) => void) | undefined;
  /** Whether a heartbeat found another capacity in force (told once). */
  #capacityChanged = false;
  /** The server, when the URL requires TLS of it: asked whether it has any (tls_refusal.ts). */
  #server: { host: string; port: number } | null = null;

  private constructor(options: PostgresStoreOptions, driver: Options<Record<string, never>>) {
    const logger = options.logger ?? new Logger({ level: "error" });
    this.#logger = logger;
    this.#shown = redactDatabaseUrl(options.url);
    this.leaseMs = options.leaseMs ?? 30_000;
    this.#capacity = options.capacity;
    this.#onFatal = options.onFatal;
    this.#sentinel = options.capacity === undefined ? null : new NodeSentinel({
      driver,
      nodeId: this.nodeId,
      logger,
      onFenced: () => this.#emitFenced(true),
      onUnfenced: () => this.#emitFenced(false),
    });
    this.#pools = new ConnectionPools({
      // Reads and the writer. A connection that closes may leave a
      // transaction of the writer unanswered.
      main: {
        ...driver,
        onclose: (id: number) => this.#writer.connectionClosed(id),
        connection: { ...driver.connection, ...WRITER_SETTINGS },
      },
      // Claims, renewals and notifications: statements over a batch of
      // orders, planned for each call (see WRITER_SETTINGS in
      // postgres_writer.ts), and without bitmap scans: a claim then walks the
      // index of pending orders in order and stops at its limit, where a
      // bitmap scan, chosen on statistics that lag behind, reads the whole
      // queue and sorts it.
      fast: {
        ...driver,
        max: 2,
        connection: {
          ...driver.connection,
          synchronous_commit: "off",
          plan_cache_mode: "force_custom_plan",
          enable_bitmapscan: "off",
        },
      },
    });
    this.#health = new DatabaseHealth({
      logger,
      shown: redactDatabaseUrl(options.url),
      probe: () =>
        this.#prepare().catch(async (error) => Promise.reject(await this.#explain(error))),
      // Once the store has been up, nothing the server says makes the daemon
      // give up: it answers `unavailable` and keeps trying (§9). Before, the
      // schema's setup may find what no retry fixes (another capacity in
      // force, a newer schema), or a URL that is wrong (no such database).
      isFatal: (error) => !this.#ready && (!isConnectionError(error) || isMisconfiguration(error)),
      ...(options.deadlineMs ? { deadlineMs: options.deadlineMs } : {}),
      // Connections that failed are given up with their pools (connection_pools.ts).
      onDown: () => {
        this.#pools.replace();
        this.#signals.reconnect();
      },
      onUp: () => this.#emitWork("elsewhere"),
      ...(options.onFatal ? { onFatal: options.onFatal } : {}),
    });
    this.#signals = new ClusterSignals({
      nodeId: this.nodeId,
      connection: driver,
      send: () => this.#pools.fast,
      logger,
      onWork: () => this.#emitWork("elsewhere"),
      onFinished: (ids) => this.#emitFinished(ids),
      onEmptied: () => this.#emitWork("emptied"),
    });
    this.#writer = new PostgresWriter({
      sql: () => this.#pools.main,
      single: () => this.#pools.single(),
      unavailable: (what, error, stale) =>
        stale ? this.#health.unavailable(what, error) : this.#health.fail(what, error),
      onCommit: (effects) => {
        // New work: this daemon's claimer first; the others hear of it only if
        // it cannot take it all (announceWork). Finished orders: everyone.
        if (effects.newWork) this.#emitWork("here");
        if (effects.finished.length > 0) {
          this.#signals.announceFinished(effects.finished);
          this.#emitFinished(effects.finished);
        }
      },
    });
    this.#writes = orderWrites(this.nodeId, this.leaseMs);
    this.#reads = new PostgresReads(() => this.#pools.main);
  }

  /**
   * Opens the store: creates or upgrades the schema and joins the cluster.
   * When the database cannot be reached, the store opens anyway, unavailable,
   * and does both when the database comes.
   *
   * @throws {Error} `Cannot open database "URL without password": REASON` for a
   * bad URL, a refused login, a missing database, a newer schema, or a
   * capacity other than the cluster's.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    ignoreLostTypeFetches();
    const shown = redactDatabaseUrl(options.url);
    let target;
    try {
      target = parsePostgresUrl(options.url);
    } catch (error) {
      throw new Error(`Cannot open database "${shown}": ${(error as Error).message}`);
    }
    let ca: string | undefined;
    if (target.sslrootcert !== null && target.sslrootcert !== "system") {
      try {
        ca = Deno.readTextFileSync(target.sslrootcert);
      } catch (error) {
        const reason = error instanceof Deno.errors.NotCapable
          ? "not readable under this process's --allow-read (deno task server reads its folder, the binary its working directory: put the file there, or grant it)"
          : (error as Error).message;
        throw new Error(
          `Cannot open database "${shown}": cannot read sslrootcert ${target.sslrootcert}: ${reason}`,
        );
      }
    }
    const driver = driverOptions(target, {
      ...(ca === undefined ? {} : { ca }),
      poolSize: options.poolSize ?? 10,
      connectTimeoutS: options.connectTimeoutS ?? 5,
      idleInTransactionMs: idleInTransactionMsFor(options.leaseMs ?? 30_000),
      sync: options.sync ?? "full",
    });
    const store = new PostgresStore(options, driver);
    if (REQUIRES_TLS.has(target.sslmode ?? "")) store.#server = target;
    try {
      // Reaching it is bounded: a port that answers as no PostgreSQL does (an
      // HTTP server), then closes, leaves the driver's first statement
      // unsettled for ever. The schema's setup is not: a migration that
      // rewrites a large table takes as long as it takes.
      await withDeadline(
        store.#pools.main`SELECT 1`.execute(),
        options.deadlineMs ?? 15_000,
        "reach the database",
      );
      await store.#prepare();
    } catch (caught) {
      const error = await store.#explain(caught);
      if (isConnectionError(error) && !isMisconfiguration(error)) {
        store.#health.startDown(error);
        store.#opened = true;
        return store;
      }
      await store.close();
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`Cannot open database "${shown}": ${reason}`, { cause: error });
    }
    store.#opened = true;
    options.logger?.info("store.opened", {
      db: shown,
      node: store.nodeId,
      capacity: options.capacity,
      lease_ms: store.leaseMs,
    });
    return store;
  }

  /** The writer's counters: batches committed and writes in them. */
  get writerStats(): { batches: number; writes: number; largestBatch: number } {
    return { ...this.#writer.stats };
  }

  /**
   * Calls `observer` with the size and time (from asking for a connection to
   * the commit's answer) of every batch the writer commits from now on (the
   * metrics' writer histograms, §10); null stops.
   */
  observeBatches(observer: ((batch: BatchTiming) => void) | null): void {
    this.#writer.onBatch = observer;
  }

  /** Why the database is unreachable now, or null. */
  get unavailableReason(): string | null {
    return this.#health.downReason;
  }

  /**
   * `error`, or, for a connection lost before the store was first ready
   * when the URL requires TLS, and the server answers that it has none, why
   * this URL cannot work there (a misconfiguration: the daemon stops): the
   * driver starts TLS all the same, and what is left to say is a reset.
   * Once the store has been up nothing stops it (§9), so the server is not
   * asked then: an outage costs it no extra connection.
   */
  async #explain(error: unknown): Promise<unknown> {
    if (this.#server === null || this.#ready || !isConnectionError(error)) return error;
    const refusal = await tlsRefusal(this.#server.host, this.#server.port);
    return refusal === null ? error : tlsRefusedError(refusal);
  }

  /**
   * Gets the store ready, or (once ready) checks that the database answers
   * and takes writes: the probe of {@linkcode DatabaseHealth}.
   */
  async #prepare(): Promise<void> {
    try {
      if (!this.#ready) {
        await checkEncoding(this.#pools.main);
        await migrate(this.#pools.main, { logger: this.#logger, db: this.#shown });
        if (this.#capacity !== undefined) {
          // The lock first: once registered with its key, a daemon without its lock counts as dead.
          await this.#sentinel!.lock();
          const node = {
            nodeId: this.nodeId,
            capacity: this.#capacity,
            leaseMs: this.leaseMs,
            lockKey: this.#sentinel!.key,
          };
          await registerNode(this.#pools.main, node);
        }
        this.#ready = true;
        await this.#signals.start();
      } else {
        const [row] = await this.#pools.main<{ ro: string }[]>`
          SELECT current_setting('transaction_read_only') AS ro`;
        if (row?.ro === "on") throw readOnlyError();
      }
    } catch (error) {
      // A session keeps the read-only default it started with: the next try
      // needs new ones (which may reach the new primary after a failover).
      if ((error as { code?: unknown }).code === READ_ONLY_CODE) this.#pools.replace();
      throw error;
    }
  }

  /**
   * Runs a write of the writer, which bounds its own waits (a deadline per
   * transaction): no timer of its own for each write.
   */
  #write<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error(`Cannot ${what}: the store is closed`));
    return this.#health.run(what, fn, { deadline: false });
  }

  #run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error(`Cannot ${what}: the store is closed`));
    return this.#health.run(what, fn);
  }

  #emitWork(origin: WorkOrigin): void {
    for (const listener of this.#workListeners) listener(origin);
  }

  #emitFinished(ids: number[]): void {
    for (const listener of this.#finishListeners) listener(ids);
  }

  // ---- OrderStore

  /** {@inheritDoc Store.insert} */
  async insert(
    pedido: PedidoNuevo,
    receivedAt: string,
    owner: number | null = null,
  ): Promise<InsertResult> {
    const result = await this.#write(
      "insert",
      () => this.#writer.write(this.#writes.insert, { pedido, receivedAt, owner }),
    );
    if (result.status === "full") throw new Error("Cannot insert: unexpected full");
    return result;
  }

  /** {@inheritDoc Store.markStarted} */
  markStarted(id: number, worker: number, at: string): Promise<void> {
    return this.#write(
      "markStarted",
      () => this.#writer.write(this.#writes.markStarted, { id, worker, at }),
    );
  }

  /** {@inheritDoc Store.markFinished} */
  markFinished(id: number, outcome: Outcome): Promise<void> {
    return this.#write(
      "markFinished",
      () => this.#writer.write(this.#writes.markFinished, { id, outcome }),
    );
  }

  /** {@inheritDoc Store.markRan} */
  markRan(id: number, worker: number, startedAt: string, outcome: Outcome): Promise<void> {
    return this.#write(
      "markRan",
      () =>
        this.#writer.write(this.#writes.markFinished, {
          id,
          outcome,
          run: { outcome, worker, startedAt },
        }),
    );
  }

  /** {@inheritDoc Store.markPending} */
  markPending(id: number): Promise<void> {
    return this.#write("markPending", () => this.#writer.write(this.#writes.markPending, id));
  }

  /** {@inheritDoc Store.cancel} */
  cancel(id: number, at: string, owner?: number): Promise<ChangeResult> {
    return this.#write(
      "cancel",
      () => this.#writer.write(this.#writes.cancel, { id, at, owner: owner ?? null }),
    );
  }

  /** {@inheritDoc Store.retry} */
  async retry(id: number, owner?: number): Promise<ChangeResult> {
    const result = await this.#write(
      "retry",
      () => this.#writer.write(this.#writes.retry, { id, owner: owner ?? null }),
    );
    if (result.status === "full") throw new Error("Cannot retry: unexpected full");
    return result;
  }

  /** {@inheritDoc Store.prune} */
  prune(before: string, limit: number): Promise<number> {
    return this.#write("prune", () => this.#writer.write(this.#writes.prune, { before, limit }));
  }

  /** {@inheritDoc Store.get} */
  get(id: number, owner?: number): Promise<Pedido | null> {
    return this.#run("get", () => this.#reads.get(id, owner));
  }

  /** {@inheritDoc Store.findByClave} */
  findByClave(clave: string): Promise<Pedido | null> {
    return this.#run("findByClave", () => this.#reads.findByClave(clave));
  }

  /** {@inheritDoc Store.list} */
  list(filter: ListFilter): Promise<Pedido[]> {
    return this.#run("list", () => this.#reads.list(filter));
  }

  /** {@inheritDoc Store.unfinished} */
  unfinished(): Promise<Pedido[]> {
    return this.#run("unfinished", () => this.#reads.unfinished());
  }

  // ---- AccountStore

  /** {@inheritDoc Store.createUser} */
  createUser(usuario: string, hash: string, at: string): Promise<number | null> {
    return this.#run("createUser", () => this.#reads.createUser(usuario, hash, at));
  }

  /** {@inheritDoc Store.findUser} */
  findUser(usuario: string): Promise<Usuario | null> {
    return this.#run("findUser", () => this.#reads.findUser(usuario));
  }

  /** {@inheritDoc Store.setRole} */
  setRole(usuario: string, rol: Rol): Promise<boolean> {
    return this.#run("setRole", () => this.#reads.setRole(usuario, rol));
  }

  /** {@inheritDoc Store.createSession} */
  createSession(tokenHash: string, usuarioId: number, expira: string): Promise<void> {
    return this.#run(
      "createSession",
      () => this.#reads.createSession(tokenHash, usuarioId, expira),
    );
  }

  /** {@inheritDoc Store.findSession} */
  findSession(tokenHash: string, now: string): Promise<Sesion | null> {
    return this.#run("findSession", () => this.#reads.findSession(tokenHash, now));
  }

  /** {@inheritDoc Store.deleteExpiredSessions} */
  deleteExpiredSessions(now: string): Promise<number> {
    return this.#run("deleteExpiredSessions", () => this.#reads.deleteExpiredSessions(now));
  }

  // ---- SharedQueue

  /** {@inheritDoc SharedQueue.insertWithinCapacity} */
  insertWithinCapacity(
    pedido: PedidoNuevo,
    receivedAt: string,
    owner: number | null = null,
    options: InsertOptions = {},
  ): Promise<CheckedInsert> {
    const take = options.take ?? false;
    return this.#write(
      "insert",
      () => this.#writer.write(this.#writes.insertChecked, { pedido, receivedAt, owner, take }),
    );
  }

  /** {@inheritDoc SharedQueue.retryWithinCapacity} */
  retryWithinCapacity(id: number, owner?: number): Promise<CheckedChange> {
    return this.#write(
      "retry",
      () => this.#writer.write(this.#writes.retryChecked, { id, owner: owner ?? null }),
    );
  }

  /** {@inheritDoc SharedQueue.claim} */
  claim(options: ClaimOptions): Promise<ClaimedOrder[]> {
    return this.#run("claim", async () => {
      const fast = this.#pools.fast;
      // With the look for leases run out, a look for daemons that died (node_sentinel.ts).
      const dead = options.takeover
        ? this.#deadNodes.confirm(
          (await fast.unsafe<{ id: string }[]>(DEAD_NODES, [this.nodeId], { prepare: true }))
            .map((row) => row.id),
        )
        : [];
      if (dead.length > 0) this.#logger.warn("store.nodes_dead", { nodes: dead.join(",") });
      return this.#reads.claim(fast, {
        ...options,
        dead,
        nodeId: this.nodeId,
        leaseMs: this.leaseMs,
      });
    });
  }

  /** {@inheritDoc SharedQueue.renew} */
  async renew(leases: Lease[]): Promise<number[]> {
    const capacity = this.#nodeCapacity();
    const { kept, peers, capacity: inForce } = await this.#run(
      "renew",
      () =>
        this.#reads.renew(this.#pools.fast, leases, {
          nodeId: this.nodeId,
          leaseMs: this.leaseMs,
          capacity,
        }),
    );
    this.#peers = peers;
    if (inForce !== null && inForce !== capacity && !this.#capacityChanged) {
      this.#capacityChanged = true;
      const error = new ClusterCapacityChangedError(inForce, capacity);
      this.#logger.error("store.capacity_changed", {
        in_force: inForce,
        max_pedidos: capacity,
      });
      this.#onFatal?.(error);
    }
    return kept;
  }

  /** This daemon's capacity; a store that is not a daemon's has none (it takes no orders). */
  #nodeCapacity(): number {
    if (this.#capacity === undefined) {
      throw new Error("This store is not a daemon's: it has no capacity in the cluster");
    }
    return this.#capacity;
  }

  /** {@inheritDoc SharedQueue.markAttemptStarted} */
  markAttemptStarted(lease: Lease, worker: number, at: string): Promise<boolean> {
    return this.#write(
      "record attempt start",
      () => this.#writer.write(this.#writes.attemptStarted, { lease, worker, at }),
    );
  }

  /** {@inheritDoc SharedQueue.finishAttempt} */
  finishAttempt(lease: Lease, end: AttemptEnd): Promise<boolean> {
    return this.#write(
      "finish attempt",
      () => this.#writer.write(this.#writes.attemptFinished, { lease, end }),
    );
  }

  /** {@inheritDoc SharedQueue.releaseAttempt} */
  releaseAttempt(lease: Lease, options: ReleaseOptions): Promise<boolean> {
    const { started, retryInMs = null } = options;
    return this.#write(
      "release attempt",
      () => this.#writer.write(this.#writes.attemptReleased, { lease, started, retryInMs }),
    );
  }

  /** {@inheritDoc SharedQueue.clusterCounts} */
  clusterCounts(): Promise<ClusterCounts> {
    return this.#run("count orders", () => this.#reads.clusterCounts());
  }

  /**
   * {@inheritDoc SharedQueue.announceWork}
   *
   * Not sent while no other daemon was alive at the last heartbeat (a
   * daemon that joins since finds the work by its poll within a second).
   */
  announceWork(): void {
    if (!this.#closed && this.#peers > 0) this.#signals.announceWork();
  }

  /** {@inheritDoc SharedQueue.fenced} */
  get fenced(): boolean {
    return this.#sentinel?.fenced ?? false;
  }

  /** {@inheritDoc SharedQueue.onFenced} */
  onFenced(listener: (fenced: boolean) => void): Disposable {
    this.#fenceListeners.add(listener);
    return { [Symbol.dispose]: () => this.#fenceListeners.delete(listener) };
  }

  #emitFenced(fenced: boolean): void {
    for (const listener of this.#fenceListeners) listener(fenced);
  }

  /** {@inheritDoc SharedQueue.onWork} */
  onWork(listener: (origin: WorkOrigin) => void): Disposable {
    this.#workListeners.add(listener);
    return { [Symbol.dispose]: () => this.#workListeners.delete(listener) };
  }

  /** {@inheritDoc SharedQueue.onFinished} */
  onFinished(listener: (ids: number[]) => void): Disposable {
    this.#finishListeners.add(listener);
    return { [Symbol.dispose]: () => this.#finishListeners.delete(listener) };
  }

  // ---- lifecycle

  /**
   * Commits the writes queued before it, leaves the cluster (its node row
   * goes), and closes every connection. Idempotent; later calls reject.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  /** Calls {@linkcode PostgresStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Leaves the cluster (its node row goes), when the database is there. */
  async #leave(): Promise<void> {
    if (!this.#ready || this.#health.downReason !== null) return;
    await withDeadline(
      this.#pools.main.begin(async (tx) => {
        await tx`DELETE FROM pedidos_nodos WHERE id = ${this.nodeId}`;
        await tx`DELETE FROM pedidos_lotes WHERE nodo = ${this.nodeId}`;
      }),
      LEAVE_MS,
      "leave the cluster",
    ).catch(() => {});
  }

  async #close(): Promise<void> {
    this.#closed = true;
    // Every write a client was told of is committed by now; what is left
    // (an attempt's end the drain gave up on, its connection silent) gets
    // a bounded while, then is cut short with the connections below: the
    // order stays leased and is taken over once its lease ends.
    await withDeadline(this.#writer.flush(), LEAVE_MS, "commit the last writes").catch((error) =>
      this.#logger.warn("store.close_unsettled_writes", { error: String(error) })
    );
    await this.#writer.close();
    this.#health.close();
    // Side by side, each bounded: a connection gone silent must not hold the
    // stop (the others forget this node once its heartbeat is old in any case).
    await Promise.all([this.#signals.close(LEAVE_MS), this.#leave()]);
    // Its row gone (or the database out of reach), its lock goes with its session.
    await this.#sentinel?.close(END_S);
    // Nothing of this daemon's is left to run on them (its writes were
    // committed or given up above): what still does (a claim or renewal the stop gave up
    // on, on a connection gone silent) is cut short.
    await this.#pools.end(END_S);
    // (Not when it closes because it could not be opened: the error says it all.)
    if (!this.#opened) return;
    const { batches, writes, largestBatch } = this.#writer.stats;
    this.#logger.info("store.closed", { batches, writes, largest_batch: largestBatch });
  }
}
