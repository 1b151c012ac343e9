/**
 * The SQLite {@linkcode Store}, as the main thread sees it: writes go to the
 * single writer worker (`workers/writer_worker.ts`), reads go to a
 * read-only connection on the main thread.
 *
 * Writes made in the same tick are coalesced into one `ops` message, and the
 * writer commits what arrives together in one transaction (group commit), so
 * many concurrent orders cost few fsyncs. Each write resolves after its
 * commit. Messages go through two shared pipes (`workers/shared_pipe.ts`),
 * not `postMessage`: the writer sleeps in `Atomics.wait` and this side in
 * `Atomics.waitAsync`, which wake faster.
 *
 * For a `:memory:` database the writer's connection is the only one that can
 * see the data (node:sqlite cannot share an in-memory database between
 * threads), so reads are sent to the writer too and wait behind the writes
 * queued before them.
 *
 * @module
 */

import { isDamaged } from "../../workers/group_commit.ts";
import type { ListFilter, Pedido, PedidoNuevo } from "../protocol/messages.ts";
import { SqliteDatabase } from "../../workers/sqlite/sqlite_database.ts";
import { DATA, FrameReader, FrameWriter, SharedPipe, SPACE } from "../../workers/shared_pipe.ts";
import type {
  BatchTiming,
  FromWriter,
  Op,
  OpResult,
  OpValue,
  PipeFromWriter,
  PipeToWriter,
  SequencedOp,
  ToWriter,
  WriterStats,
} from "../../workers/writer_messages.ts";
import {
  DatabaseInUseError,
  type DatabaseLock,
  lockDatabase,
  SpecialFileError,
} from "./database_lock.ts";
import { newPedido } from "./new_pedido.ts";
import type {
  ChangeResult,
  InsertResult,
  ObservesBatches,
  Outcome,
  Rol,
  Sesion,
  Store,
  Usuario,
} from "./store.ts";

/** Options of {@linkcode SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** The database file (created and migrated when needed), or `:memory:`. */
  path: string;
  /**
   * `full`: an order is durable against power loss once its write resolves;
   * `normal`: durable against a crash of the process only.
   *
   * @default {"full"}
   */
  sync?: "full" | "normal";
  /**
   * How long {@linkcode SqliteStore.close} waits for the writer to
   * flush and close before it terminates the worker.
   *
   * @default {10000}
   */
  closeTimeoutMs?: number;
  /**
   * Called once when the writer worker dies while the store is open (a bug
   * in it): every call fails from then on, so the daemon should stop; its
   * next start finishes every order the file holds. Not called for a
   * failure while opening (`open` rejects) or closing.
   */
  onFatal?: (error: Error) => void;
}

/**
 * The writer worker died while the store was open: the daemon cannot go on,
 * but a restart can (not a matter of configuration, unlike other reasons to stop).
 */
export class WriterFailedError extends Error {
  constructor(path: string, reason: string) {
    super(`Cannot write to database "${path}": ${reason}`);
    this.name = "WriterFailedError";
  }
}

/**
 * The database file was found damaged while the store was open (SQLite's
 * "database disk image is malformed"): the daemon cannot go on, and a
 * restart would not help (the damage may go unseen at the start, until an
 * operation reads the damaged page again). It needs a person.
 */
export class DatabaseDamagedError extends Error {
  constructor(path: string, reason: string) {
    super(
      `The database "${path}" is damaged (${reason}). Stop here, check it with ` +
        `sqlite3 "${path}" "PRAGMA integrity_check", and restore it from a backup or ` +
        `recover it (sqlite3 "${path}" .recover)`,
    );
    this.name = "DatabaseDamagedError";
  }
}

/** Bytes of each pipe: room for thousands of operations; a larger message goes in pieces. */
const PIPE_BYTES = 1 << 20;

interface Inflight {
  op: Op["op"];
  resolvers: PromiseWithResolvers<unknown>;
}

/**
 * Orders and accounts in SQLite, through one writer worker.
 *
 * @example Usage
 * ```ts ignore
 * import { SqliteStore } from "./sqlite_store.ts";
 * await using store = await SqliteStore.open({ path: "pedidos.db" });
 * const inserted = await store.insert(
 *   { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null },
 *   new Date().toISOString(),
 * );
 * console.log(inserted.pedido.estado); // "pendiente"
 * ```
 */
export class SqliteStore implements Store, ObservesBatches {
  readonly #worker: Worker;
  readonly #closeTimeoutMs: number;
  #onFatal: ((error: Error) => void) | null = null;
  #path = "";
  #reader: SqliteDatabase | null = null;
  #outbox: SequencedOp[] = [];
  readonly #inflight = new Map<number, Inflight>();
  #nextSeq = 1;
  /** Why calls are refused now (closed, or the writer died); null while open. */
  #unavailable: string | null = null;
  readonly #ready = Promise.withResolvers<void>();
  readonly #closed = Promise.withResolvers<void>();
  #closing: Promise<void> | null = null;
  #stats: WriterStats | null = null;
  #onBatch: ((batch: BatchTiming) => void) | null = null;
  /** The exclusive lock on `<path>.lock`, held while open (null for `:memory:`). */
  #lock: DatabaseLock | null = null;
  #schemaBefore: number | null = null;
  #takenIn = false;
  readonly #toWriterBuffer = SharedPipe.create(PIPE_BYTES);
  readonly #fromWriterBuffer = SharedPipe.create(PIPE_BYTES);
  readonly #toWriter = new SharedPipe(this.#toWriterBuffer);
  readonly #fromWriter = new SharedPipe(this.#fromWriterBuffer);
  readonly #out = new FrameWriter(this.#toWriter);
  readonly #in = new FrameReader<PipeFromWriter>(this.#fromWriter);
  /** Whether a wait for room in the pipe to the writer is armed. */
  #waitingForRoom = false;
  /** Set as close() begins: the close frame must still reach the writer. */
  #closeRequested = false;
  /** Whether the results loop runs. */
  #listening = false;

  private constructor(worker: Worker, closeTimeoutMs: number) {
    this.#worker = worker;
    this.#closeTimeoutMs = closeTimeoutMs;
    worker.onmessage = (event: MessageEvent<FromWriter>) => this.#onMessage(event.data);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#fail(`the writer worker failed: ${event.message}`);
    };
    worker.onmessageerror = () =>
      this.#fail("the writer worker sent a message that cannot be read");
  }

  /**
   * The schema version the file had before this store opened it (0 for an
   * empty file; null for a new file, `:memory:`, or one that could not be
   * read): below the version this code writes, it was upgraded.
   */
  get schemaBefore(): number | null {
    return this.#schemaBefore;
  }

  /** Whether the file held orders without a schema version, taken in as it opened. */
  get takenIn(): boolean {
    return this.#takenIn;
  }

  /**
   * Starts the writer worker, which opens (creating and migrating) the
   * database, then opens the read connection.
   *
   * @param options See {@linkcode SqliteStoreOptions}.
   * @returns The open store.
   * A file database is first locked, with an exclusive advisory lock on
   * `<path>.lock` beside it (created if needed, never removed), so that a
   * second daemon on the same file is refused instead of sharing the
   * writer's role. The lock goes with the process, even on SIGKILL.
   *
   * @throws {Error} The writer's reason, e.g.
   * `Cannot open database "/nope/x.db": directory does not exist`; the worker
   * is terminated. `Cannot open database "x.db": it is in use by another
   * process (lock file "x.db.lock" is held)` when another store holds it.
   */
  static async open(options: SqliteStoreOptions): Promise<SqliteStore> {
    const { path, sync = "full", closeTimeoutMs = 10_000, onFatal } = options;
    // When the lock file cannot even be created (no such directory, read-only),
    // the writer's attempt below explains why better than the lock file would.
    let lock: DatabaseLock | null = null;
    let lockError: unknown = null;
    if (path !== ":memory:") {
      try {
        lock = lockDatabase(path);
      } catch (error) {
        if (error instanceof DatabaseInUseError || error instanceof SpecialFileError) throw error;
        lockError = error;
      }
    }
    // Read once the lock is held (never for a file another daemon holds, under
    // any name), before the writer migrates it.
    const before = lock === null ? null : SqliteDatabase.peekSchema(path);
    const worker = new Worker(new URL("../../workers/writer_worker.ts", import.meta.url), {
      type: "module",
      name: "writer",
    });
    const store = new SqliteStore(worker, closeTimeoutMs);
    store.#lock = lock;
    store.#schemaBefore = before?.version ?? null;
    store.#takenIn = before?.unversionedOrders ?? false;
    worker.postMessage(
      {
        type: "init",
        path,
        sync,
        toWriter: store.#toWriterBuffer,
        fromWriter: store.#fromWriterBuffer,
      } satisfies ToWriter,
    );
    try {
      await store.#ready.promise;
    } catch (error) {
      worker.terminate();
      lock?.discard();
      throw error;
    }
    if (lockError !== null) {
      await store.close();
      const reason = lockError instanceof Error ? lockError.message : String(lockError);
      throw new Error(`Cannot open database "${path}": cannot lock "${path}.lock": ${reason}`, {
        cause: lockError,
      });
    }
    if (path !== ":memory:") {
      try {
        lock?.holdFile(); // the file exists now
        store.#reader = SqliteDatabase.open(path, { readOnly: true });
      } catch (error) {
        await store.close();
        throw error;
      }
    }
    store.#path = path;
    store.#onFatal = onFatal ?? null;
    return store;
  }

  /** The writer's counters, received when it closed; null before. */
  get writerStats(): WriterStats | null {
    return this.#stats;
  }

  /**
   * Calls `observer` with the size and commit time of every batch the writer
   * commits from now on (the metrics' writer histograms, §10); null stops.
   */
  observeBatches(observer: ((batch: BatchTiming) => void) | null): void {
    this.#onBatch = observer;
  }

  /** {@inheritDoc Store.insert} */
  async insert(
    pedido: PedidoNuevo,
    receivedAt: string,
    owner: number | null = null,
  ): Promise<InsertResult> {
    // The writer answers only the new id (or the order its `clave` already
    // has): the rest of a new row is what was sent.
    const stored = await this.#send({ op: "insert", pedido, receivedAt, owner });
    return typeof stored === "number"
      ? { status: "inserted", pedido: newPedido(stored, pedido, receivedAt) }
      : { status: "duplicate", pedido: stored };
  }

  /** {@inheritDoc Store.markStarted} */
  markStarted(id: number, worker: number, at: string): Promise<void> {
    return this.#send({ op: "markStarted", id, worker, at });
  }

  /** {@inheritDoc Store.markFinished} */
  markFinished(id: number, outcome: Outcome): Promise<void> {
    return this.#send({ op: "markFinished", id, outcome });
  }

  /** {@inheritDoc Store.markRan} */
  markRan(id: number, worker: number, startedAt: string, outcome: Outcome): Promise<void> {
    return this.#send({ op: "markRan", id, worker, startedAt, outcome });
  }

  /** {@inheritDoc Store.markPending} */
  markPending(id: number): Promise<void> {
    return this.#send({ op: "markPending", id });
  }

  /** {@inheritDoc Store.cancel} */
  cancel(id: number, at: string, owner?: number): Promise<ChangeResult> {
    return this.#send(
      owner === undefined ? { op: "cancel", id, at } : { op: "cancel", id, at, owner },
    );
  }

  /** {@inheritDoc Store.retry} */
  retry(id: number, owner?: number): Promise<ChangeResult> {
    return this.#send(owner === undefined ? { op: "retry", id } : { op: "retry", id, owner });
  }

  /** {@inheritDoc Store.prune} */
  prune(before: string, limit: number): Promise<number> {
    return this.#send({ op: "prune", before, limit });
  }

  /** {@inheritDoc Store.get} */
  get(id: number, owner?: number): Promise<Pedido | null> {
    const op = owner === undefined ? { op: "get" as const, id } : { op: "get" as const, id, owner };
    return this.#read(op, (reader) => reader.get(id, owner));
  }

  /** {@inheritDoc Store.findByClave} */
  findByClave(clave: string): Promise<Pedido | null> {
    return this.#read({ op: "findByClave", clave }, (reader) => reader.findByClave(clave));
  }

  /** {@inheritDoc Store.list} */
  list(filter: ListFilter): Promise<Pedido[]> {
    return this.#read({ op: "list", filter }, (reader) => reader.list(filter));
  }

  /** {@inheritDoc Store.unfinished} */
  unfinished(): Promise<Pedido[]> {
    return this.#read({ op: "unfinished" }, (reader) => reader.unfinished());
  }

  /** {@inheritDoc Store.createUser} */
  createUser(usuario: string, hash: string, at: string): Promise<number | null> {
    return this.#send({ op: "createUser", usuario, hash, at });
  }

  /** {@inheritDoc Store.findUser} */
  findUser(usuario: string): Promise<Usuario | null> {
    return this.#read({ op: "findUser", usuario }, (reader) => reader.findUser(usuario));
  }

  /** {@inheritDoc Store.setRole} */
  setRole(usuario: string, rol: Rol): Promise<boolean> {
    return this.#send({ op: "setRole", usuario, rol });
  }

  /** {@inheritDoc Store.createSession} */
  createSession(tokenHash: string, usuarioId: number, expira: string): Promise<void> {
    return this.#send({ op: "createSession", tokenHash, usuarioId, expira });
  }

  /** {@inheritDoc Store.findSession} */
  findSession(tokenHash: string, now: string): Promise<Sesion | null> {
    return this.#read(
      { op: "findSession", tokenHash, now },
      (reader) => reader.findSession(tokenHash, now),
    );
  }

  /** {@inheritDoc Store.deleteExpiredSessions} */
  deleteExpiredSessions(now: string): Promise<number> {
    return this.#send({ op: "deleteExpiredSessions", now });
  }

  /**
   * Sends what is queued, lets the writer commit it and close, then closes
   * the read connection. Later calls reject. Idempotent: every call returns
   * the same promise. If the writer does not answer within `closeTimeoutMs`
   * it is terminated and its unanswered operations reject.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  /** Calls {@linkcode SqliteStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closeRequested = true;
    this.#flushOutbox();
    const writerAlive = this.#unavailable === null;
    this.#unavailable = "the store is closed";
    // Close the reader first, so the writer is the last connection and
    // checkpoints the WAL into the main file as it closes.
    this.#reader?.close();
    this.#reader = null;
    if (writerAlive) {
      this.#out.send({ type: "close" } satisfies PipeToWriter);
      this.#waitForRoom();
      const timer = setTimeout(
        () => this.#fail("the writer did not close in time"),
        this.#closeTimeoutMs,
      );
      try {
        await this.#closed.promise;
      } finally {
        clearTimeout(timer);
      }
    }
    this.#worker.terminate();
    this.#rejectAll("the store closed before the writer answered");
    this.#lock?.close(); // last: the file is free for another daemon only now
    this.#lock = null;
  }

  #send<O extends Op>(op: O): Promise<OpValue<O>> {
    if (this.#unavailable !== null) {
      return Promise.reject(new Error(`Cannot ${op.op}: ${this.#unavailable}`));
    }
    const seq = this.#nextSeq++;
    const resolvers = Promise.withResolvers<OpValue<O>>();
    this.#inflight.set(seq, {
      op: op.op,
      resolvers: resolvers as PromiseWithResolvers<unknown>,
    });
    if (this.#outbox.length === 0) queueMicrotask(() => this.#flushOutbox());
    this.#outbox.push({ ...op, seq });
    return resolvers.promise;
  }

  #read<O extends Op>(op: O, local: (reader: SqliteDatabase) => OpValue<O>): Promise<OpValue<O>> {
    if (this.#reader === null || this.#unavailable !== null) return this.#send(op);
    try {
      return Promise.resolve(local(this.#reader));
    } catch (error) {
      // A damaged file stops the store, as when the writer finds it.
      if (error instanceof Error && isDamaged(error.message)) this.#fail(error.message, true);
      return Promise.reject(error);
    }
  }

  #flushOutbox(): void {
    if (this.#outbox.length === 0 || this.#unavailable !== null) return;
    const ops = this.#outbox;
    this.#outbox = [];
    if (!this.#out.send({ type: "ops", ops } satisfies PipeToWriter)) this.#waitForRoom();
  }

  /** The pipe to the writer is full: send the rest as the writer makes room. */
  async #waitForRoom(): Promise<void> {
    if (this.#waitingForRoom) return;
    this.#waitingForRoom = true;
    try {
      const cells = this.#toWriter.cells;
      // Closing sets #unavailable, yet what waits (the close frame last) must
      // still go: #closing is not assigned until #close() first awaits.
      while (this.#unavailable === null || this.#closeRequested) {
        const seen = Atomics.load(cells, SPACE);
        if (this.#out.flush() || this.#toWriter.stopped) return;
        await this.#toWriter.waitAsync(SPACE, seen, 100);
      }
    } finally {
      this.#waitingForRoom = false;
    }
  }

  /** Reads results from the writer until it has closed or failed. */
  async #listen(): Promise<void> {
    if (this.#listening) return;
    this.#listening = true;
    const cells = this.#fromWriter.cells;
    while (!this.#fromWriter.stopped) {
      const seen = Atomics.load(cells, DATA);
      this.#drainResults();
      await this.#fromWriter.waitAsync(DATA, seen);
    }
  }

  #drainResults(): void {
    for (const message of this.#in.drain()) {
      for (const result of message.results) this.#settle(result);
      this.#onBatch?.(message.batch);
    }
  }

  /** Ends the results loop (it is waiting; a stop wakes it). */
  #stopListening(): void {
    this.#fromWriter.stop();
  }

  #onMessage(message: FromWriter): void {
    switch (message.type) {
      case "ready":
        void this.#listen();
        return this.#ready.resolve();
      case "init_failed":
        return this.#ready.reject(new Error(message.message));
      case "damaged":
        this.#drainResults();
        return this.#fail(message.message, true);
      case "closed":
        this.#stats = message.stats;
        this.#drainResults();
        this.#stopListening();
        return this.#closed.resolve();
      default:
        // Throwing here would be an uncaught error on the main thread.
        this.#fail(`Unexpected message "${(message as { type: unknown }).type}"`);
    }
  }

  #settle(result: OpResult): void {
    const inflight = this.#inflight.get(result.seq);
    if (inflight === undefined) return;
    this.#inflight.delete(result.seq);
    if (result.ok) inflight.resolvers.resolve(result.value);
    else inflight.resolvers.reject(new Error(`Cannot ${inflight.op}: ${result.error}`));
  }

  /** The writer is gone (`damaged`: it stopped on a damaged file): refuse everything from now on. */
  #fail(reason: string, damaged = false): void {
    // Open and not closing: the daemon cannot go on without its writer.
    const fatal = this.#unavailable === null && !this.#closeRequested ? this.#onFatal : null;
    this.#onFatal = null;
    this.#unavailable ??= reason;
    this.#outbox = [];
    // A writer blocked in Atomics.wait sees this within its longest sleep and returns.
    this.#toWriter.stop();
    this.#stopListening();
    this.#worker.terminate();
    this.#rejectAll(reason);
    this.#ready.reject(new Error(`Cannot open store: ${reason}`));
    this.#closed.resolve();
    fatal?.(
      damaged
        ? new DatabaseDamagedError(this.#path, reason)
        : new WriterFailedError(this.#path, reason),
    );
  }

  #rejectAll(reason: string): void {
    for (const { op, resolvers } of this.#inflight.values()) {
      resolvers.reject(new Error(`Cannot ${op}: ${reason}`));
    }
    this.#inflight.clear();
  }
}
