/**
 * The SQLite implementation of {@linkcode OrderStore} and
 * {@linkcode AccountStore}, as the main thread sees it: writes go to the
 * single writer worker (`writer_worker.ts`), reads go to a read-only
 * connection on the main thread.
 *
 * Writes made in the same tick are coalesced into one `ops` message, and the
 * writer commits what arrives together in one transaction (group commit), so
 * many concurrent orders cost few fsyncs. Each write resolves after its
 * commit.
 *
 * For a `:memory:` database the writer's connection is the only one that can
 * see the data (node:sqlite cannot share an in-memory database between
 * threads), so reads are sent to the writer too and wait behind the writes
 * queued before them.
 *
 * @module
 */

import type { Admission } from "../server/admission.ts";
import type { ListFilter, NewOrder, Pedido } from "../server/protocol/messages.ts";
import { newPedido, SqliteStore } from "./store/sqlite_store.ts";
import type {
  AccountStore,
  InsertResult,
  OrderStore,
  Outcome,
  Sesion,
  Usuario,
} from "./store/store.ts";
import type {
  FromWriter,
  Op,
  OpResult,
  OpValue,
  SequencedOp,
  ToWriter,
  WriterStats,
} from "./writer_messages.ts";

/** Options of {@linkcode SqliteOrderStore.open}. */
export interface SqliteOrderStoreOptions {
  /** The database file (created and migrated when needed), or `:memory:`. */
  path: string;
  /**
   * `full`: an order is durable against power loss once its write resolves;
   * `normal`: durable against a crash of the process only.
   *
   * @default {"full"}
   */
  sync?: "full" | "normal";
  /** The capacity semaphore; the writer releases one slot per committed `markFinished` or `markRan`. */
  admission?: Admission;
  /**
   * How long {@linkcode SqliteOrderStore.close} waits for the writer to
   * flush and close before it terminates the worker.
   *
   * @default {10000}
   */
  closeTimeoutMs?: number;
}

interface Inflight {
  op: Op["op"];
  resolvers: PromiseWithResolvers<unknown>;
}

/**
 * Orders and accounts in SQLite, through one writer worker.
 *
 * @example Usage
 * ```ts ignore
 * import { SqliteOrderStore } from "./sqlite_order_store.ts";
 * await using store = await SqliteOrderStore.open({ path: "pedidos.db" });
 * const { pedido } = await store.insert(
 *   { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null },
 *   new Date().toISOString(),
 * );
 * console.log((await store.get(pedido.id))?.estado); // "pendiente"
 * ```
 */
export class SqliteOrderStore implements OrderStore, AccountStore {
  readonly #worker: Worker;
  readonly #closeTimeoutMs: number;
  #reader: SqliteStore | null = null;
  #outbox: SequencedOp[] = [];
  readonly #inflight = new Map<number, Inflight>();
  #nextSeq = 1;
  /** Why calls are refused now (closed, or the writer died); null while open. */
  #unavailable: string | null = null;
  readonly #ready = Promise.withResolvers<void>();
  readonly #closed = Promise.withResolvers<void>();
  #closing: Promise<void> | null = null;
  #stats: WriterStats | null = null;
  /** The exclusive lock on `<path>.lock`, held while open (null for `:memory:`). */
  #lock: Deno.FsFile | null = null;

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
   * Starts the writer worker, which opens (creating and migrating) the
   * database, then opens the read connection.
   *
   * @param options See {@linkcode SqliteOrderStoreOptions}.
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
  static async open(options: SqliteOrderStoreOptions): Promise<SqliteOrderStore> {
    const { path, sync = "full", admission, closeTimeoutMs = 10_000 } = options;
    // When the lock file cannot even be created (no such directory, read-only),
    // the writer's attempt below explains why better than the lock file would.
    let lock: Deno.FsFile | null = null;
    let lockError: unknown = null;
    if (path !== ":memory:") {
      try {
        lock = lockDatabase(path);
      } catch (error) {
        if (error instanceof DatabaseInUseError) throw error;
        lockError = error;
      }
    }
    const worker = new Worker(new URL("./writer_worker.ts", import.meta.url), { type: "module" });
    const store = new SqliteOrderStore(worker, closeTimeoutMs);
    store.#lock = lock;
    const init: ToWriter = admission === undefined
      ? { type: "init", path, sync }
      : { type: "init", path, sync, admission: admission.buffer };
    worker.postMessage(init);
    try {
      await store.#ready.promise;
    } catch (error) {
      worker.terminate();
      lock?.close();
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
        store.#reader = SqliteStore.open(path, { readOnly: true });
      } catch (error) {
        await store.close();
        throw error;
      }
    }
    return store;
  }

  /** The writer's counters, received when it closed; null before. */
  get writerStats(): WriterStats | null {
    return this.#stats;
  }

  /** {@inheritDoc OrderStore.insert} */
  async insert(order: NewOrder, receivedAt: string): Promise<InsertResult> {
    // The writer answers only the new id (or the order its `clave` already
    // has): the rest of a new row is what was sent.
    const stored = await this.#send({ op: "insert", order, receivedAt });
    return typeof stored === "number"
      ? { pedido: newPedido(stored, order, receivedAt), duplicado: false }
      : { pedido: stored, duplicado: true };
  }

  /** {@inheritDoc OrderStore.markStarted} */
  markStarted(id: number, worker: number, at: string): Promise<void> {
    return this.#send({ op: "markStarted", id, worker, at });
  }

  /** {@inheritDoc OrderStore.markFinished} */
  markFinished(id: number, outcome: Outcome): Promise<void> {
    return this.#send({ op: "markFinished", id, outcome });
  }

  /** {@inheritDoc OrderStore.markRan} */
  markRan(id: number, worker: number, startedAt: string, outcome: Outcome): Promise<void> {
    return this.#send({ op: "markRan", id, worker, startedAt, outcome });
  }

  /** {@inheritDoc OrderStore.markPending} */
  markPending(id: number): Promise<void> {
    return this.#send({ op: "markPending", id });
  }

  /** {@inheritDoc OrderStore.get} */
  get(id: number): Promise<Pedido | null> {
    return this.#read({ op: "get", id }, (reader) => reader.get(id));
  }

  /** {@inheritDoc OrderStore.findByClave} */
  findByClave(clave: string): Promise<Pedido | null> {
    return this.#read({ op: "findByClave", clave }, (reader) => reader.findByClave(clave));
  }

  /** {@inheritDoc OrderStore.list} */
  list(filter: ListFilter): Promise<Pedido[]> {
    return this.#read({ op: "list", filter }, (reader) => reader.list(filter));
  }

  /** {@inheritDoc OrderStore.unfinished} */
  unfinished(): Promise<Pedido[]> {
    return this.#read({ op: "unfinished" }, (reader) => reader.unfinished());
  }

  /** {@inheritDoc AccountStore.createUser} */
  createUser(usuario: string, hash: string, at: string): Promise<number | null> {
    return this.#send({ op: "createUser", usuario, hash, at });
  }

  /** {@inheritDoc AccountStore.findUser} */
  findUser(usuario: string): Promise<Usuario | null> {
    return this.#read({ op: "findUser", usuario }, (reader) => reader.findUser(usuario));
  }

  /** {@inheritDoc AccountStore.createSession} */
  createSession(tokenHash: string, usuarioId: number, expira: string): Promise<void> {
    return this.#send({ op: "createSession", tokenHash, usuarioId, expira });
  }

  /** {@inheritDoc AccountStore.findSession} */
  findSession(tokenHash: string, now: string): Promise<Sesion | null> {
    return this.#read(
      { op: "findSession", tokenHash, now },
      (reader) => reader.findSession(tokenHash, now),
    );
  }

  /** {@inheritDoc AccountStore.deleteExpiredSessions} */
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

  /** Calls {@linkcode SqliteOrderStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#flushOutbox();
    const writerAlive = this.#unavailable === null;
    this.#unavailable = "the store is closed";
    // Close the reader first, so the writer is the last connection and
    // checkpoints the WAL into the main file as it closes.
    this.#reader?.close();
    this.#reader = null;
    if (writerAlive) {
      this.#worker.postMessage({ type: "close" } satisfies ToWriter);
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

  #read<O extends Op>(op: O, local: (reader: SqliteStore) => OpValue<O>): Promise<OpValue<O>> {
    if (this.#reader === null || this.#unavailable !== null) return this.#send(op);
    try {
      return Promise.resolve(local(this.#reader));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #flushOutbox(): void {
    if (this.#outbox.length === 0 || this.#unavailable !== null) return;
    const ops = this.#outbox;
    this.#outbox = [];
    this.#worker.postMessage({ type: "ops", ops } satisfies ToWriter);
  }

  #onMessage(message: FromWriter): void {
    switch (message.type) {
      case "ready":
        return this.#ready.resolve();
      case "init_failed":
        return this.#ready.reject(new Error(message.message));
      case "results":
        for (const result of message.results) this.#settle(result);
        return;
      case "closed":
        this.#stats = message.stats;
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

  /** The writer is gone: refuse everything from now on. */
  #fail(reason: string): void {
    this.#unavailable ??= reason;
    this.#outbox = [];
    this.#worker.terminate();
    this.#rejectAll(reason);
    this.#ready.reject(new Error(`Cannot open store: ${reason}`));
    this.#closed.resolve();
  }

  #rejectAll(reason: string): void {
    for (const { op, resolvers } of this.#inflight.values()) {
      resolvers.reject(new Error(`Cannot ${op}: ${reason}`));
    }
    this.#inflight.clear();
  }
}

/** Another process (or another store in this one) holds the database's lock file. */
class DatabaseInUseError extends Error {
  constructor(path: string) {
    super(
      `Cannot open database "${path}": it is in use by another process ` +
        `(lock file "${path}.lock" is held; is another pedidos daemon running on it?)`,
    );
    this.name = "DatabaseInUseError";
  }
}

/**
 * Takes the exclusive lock on `<path>.lock` without waiting.
 *
 * @throws {DatabaseInUseError} when it is held elsewhere; the file system's
 * error when the lock file cannot be opened.
 */
function lockDatabase(path: string): Deno.FsFile {
  const file = Deno.openSync(`${path}.lock`, { read: true, write: true, create: true });
  let locked = false;
  try {
    locked = file.tryLockSync(true);
  } finally {
    if (!locked) file.close();
  }
  if (!locked) throw new DatabaseInUseError(path);
  return file;
}
