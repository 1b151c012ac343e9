/**
 * The single writer: a module Worker that owns the only writable connection
 * to the database. Started by `SqliteOrderStore`; speaks the messages of
 * `writer_messages.ts`.
 *
 * **Group commit.** Operations that arrive while a transaction runs go into
 * the next one. Incoming operations are collected in `#pending`; the first
 * one schedules a flush for a later turn of the event loop (a message to
 * itself on a `MessageChannel`), which lets messages already queued arrive
 * first. A flush runs `BEGIN IMMEDIATE`, every pending operation, `COMMIT`,
 * then posts one `results` message for the whole batch. Messages that
 * queued during the commit arrive before the next flush, so they form the
 * next batch.
 *
 * The turn is not `setImmediate` (as fast): importing `node:timers`, or
 * touching the global, loads Node's compatibility layer into this isolate,
 * about 2 MB more per daemon for nothing else.
 *
 * **Failures.** If any operation or the `COMMIT` fails, the batch is rolled
 * back and then retried one operation per transaction, so one bad operation
 * (a CHECK violation, an unknown id) does not fail its neighbours, and each
 * operation is answered from its own commit. Nothing that was not committed
 * is ever answered as a success. When the cause hits every transaction (the
 * disk is full), every operation gets the SQLite error.
 *
 * **Admission.** When `init` carries an admission buffer, one slot is
 * released per committed `markFinished` or `markRan`, right after its
 * `COMMIT` and before the results are posted.
 *
 * @module
 */

import { Admission } from "../server/admission.ts";
import { SqliteStore } from "./store/sqlite_store.ts";
import type {
  FromWriter,
  InitMessage,
  Op,
  OpResult,
  SequencedOp,
  ToWriter,
  WriterStats,
} from "./writer_messages.ts";

class GroupCommitWriter {
  readonly #store: SqliteStore;
  readonly #admission: Admission | null;
  readonly #post: (message: FromWriter) => void;
  #pending: SequencedOp[] = [];
  #scheduled = false;
  /** Flushes come back through this channel: one event-loop turn later. */
  readonly #turn = new MessageChannel();
  readonly stats: WriterStats = {
    batches: 0,
    ops: 0,
    largestBatch: 0,
    failedBatches: 0,
    releaseErrors: 0,
  };

  constructor(store: SqliteStore, admission: Admission | null, post: (m: FromWriter) => void) {
    this.#store = store;
    this.#admission = admission;
    this.#post = post;
    this.#turn.port1.onmessage = () => this.flush();
  }

  enqueue(ops: SequencedOp[]): void {
    for (const op of ops) this.#pending.push(op);
    this.stats.ops += ops.length;
    if (!this.#scheduled && this.#pending.length > 0) {
      this.#scheduled = true;
      this.#turn.port2.postMessage(null);
    }
  }

  /** Commits everything pending as one batch and posts its results. */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.stats.batches++;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    let results: OpResult[];
    try {
      results = this.#commit(batch);
    } catch (error) {
      this.stats.failedBatches++;
      results = batch.length === 1
        ? [failure(batch[0]!, error)]
        : batch.map((op) => this.#commitOne(op));
    }
    this.#post({ type: "results", results });
  }

  /** Flushes, then closes the connection. */
  close(): void {
    this.flush();
    this.#turn.port1.close();
    this.#turn.port2.close();
    this.#store.close();
  }

  #commit(batch: SequencedOp[]): OpResult[] {
    const store = this.#store;
    store.begin();
    try {
      const values = batch.map((op) => apply(store, op));
      store.commit();
      for (const op of batch) {
        if (op.op === "markFinished" || op.op === "markRan") this.#release();
      }
      return batch.map((op, i) => ({ seq: op.seq, ok: true, value: values[i] }));
    } catch (error) {
      try {
        store.rollback();
      } catch {
        // SQLite may have rolled back already; the first error is the one to report.
      }
      throw error;
    }
  }

  #commitOne(op: SequencedOp): OpResult {
    try {
      return this.#commit([op])[0]!;
    } catch (error) {
      return failure(op, error);
    }
  }

  #release(): void {
    if (this.#admission === null) return;
    try {
      this.#admission.release();
    } catch {
      this.stats.releaseErrors++;
    }
  }
}

function apply(store: SqliteStore, op: Op): unknown {
  switch (op.op) {
    case "insert":
      return store.insertId(op.order, op.receivedAt);
    case "markStarted":
      return store.markStarted(op.id, op.worker, op.at);
    case "markFinished":
      return store.markFinished(op.id, op.outcome);
    case "markRan":
      return store.markRan(op.id, op.worker, op.startedAt, op.outcome);
    case "markPending":
      return store.markPending(op.id);
    case "get":
      return store.get(op.id);
    case "findByClave":
      return store.findByClave(op.clave);
    case "list":
      return store.list(op.filter);
    case "unfinished":
      return store.unfinished();
    case "createUser":
      return store.createUser(op.usuario, op.hash, op.at);
    case "createSession":
      return store.createSession(op.tokenHash, op.usuarioId, op.expira);
    case "deleteExpiredSessions":
      return store.deleteExpiredSessions(op.now);
    case "findUser":
      return store.findUser(op.usuario);
    case "findSession":
      return store.findSession(op.tokenHash, op.now);
    default:
      throw new Error(`Unexpected operation "${(op as { op: unknown }).op}"`);
  }
}

function failure(op: SequencedOp, error: unknown): OpResult {
  const message = error instanceof Error ? error.message : String(error);
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  return typeof errcode === "number"
    ? { seq: op.seq, ok: false, error: message, errcode }
    : { seq: op.seq, ok: false, error: message };
}

// ---- message adapter ----

let writer: GroupCommitWriter | null = null;

function post(message: FromWriter): void {
  self.postMessage(message);
}

function init({ path, sync, admission }: InitMessage): void {
  let store: SqliteStore;
  try {
    store = SqliteStore.open(path, { sync });
  } catch (error) {
    post({ type: "init_failed", message: error instanceof Error ? error.message : String(error) });
    return;
  }
  const semaphore = admission === undefined ? null : Admission.from(admission);
  writer = new GroupCommitWriter(store, semaphore, post);
  post({ type: "ready", schemaVersion: store.schemaVersion });
}

function close(): void {
  const stats = writer?.stats ?? {
    batches: 0,
    ops: 0,
    largestBatch: 0,
    failedBatches: 0,
    releaseErrors: 0,
  };
  try {
    writer?.close();
  } finally {
    writer = null;
    post({ type: "closed", stats });
    self.close();
  }
}

function ready(): GroupCommitWriter {
  if (writer === null) throw new Error("Cannot run operations: the writer is not open");
  return writer;
}

self.onmessage = (event: MessageEvent<ToWriter>) => {
  const message = event.data;
  switch (message.type) {
    case "init":
      return init(message);
    case "ops":
      return ready().enqueue(message.ops);
    case "close":
      return close();
    default:
      throw new Error(`Unexpected message "${(message as { type: unknown }).type}"`);
  }
};
