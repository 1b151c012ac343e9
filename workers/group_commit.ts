/**
 * Group commit over the orders database: operations that arrive while a
 * transaction runs go into the next one, so many concurrent writes cost one
 * fsync. Pure apart from SQLite itself: the writer worker feeds it
 * messages, tests may drive it directly.
 *
 * Incoming operations collect in a pending batch; the first one schedules a
 * flush for a later turn of the event loop (a message to itself on a
 * `MessageChannel`), which lets messages already queued arrive first. A
 * flush runs `BEGIN IMMEDIATE`, every pending operation, `COMMIT`, and hands
 * one result per operation to `onResults`. Messages that queue during the
 * commit arrive before the next flush, so they form the next batch.
 *
 * The turn is not `setImmediate` (as fast): importing `node:timers`, or
 * touching the global, loads Node's compatibility layer into this isolate,
 * about 2 MB more per daemon for nothing else; not `setTimeout(0)` either
 * (about 2 ms a hop in Deno).
 *
 * **State changes ride with the next insert at low concurrency.** A batch of
 * nothing but state changes (`markStarted`, `markFinished`, `markRan`,
 * `markPending`) is held back for one short timer (about 2 ms in Deno) or
 * until another operation arrives, when the last batch with inserts had at
 * most {@linkcode HOLD_WHEN_INSERTS} of them: a request/response client then
 * pays one fsync per order (its insert commits with the previous order's
 * end) instead of two in a row. With many clients (larger insert batches)
 * nothing is held: there, separate commits keep each insert's commit short.
 * Holding delays only the `listo` of an order (and the slot it gives back),
 * never an acknowledgement.
 *
 * **Failures.** If any operation or the `COMMIT` fails, the batch is rolled
 * back and retried one operation per transaction, so one bad operation (a
 * CHECK violation, an unknown id) does not fail its neighbours, and each
 * operation is answered from its own commit. Nothing that was not committed
 * is ever answered as a success. When the cause hits every transaction (a
 * full disk), every operation gets the SQLite error.
 *
 * @module
 */

import { ClientIndexFold, type ClientIndexFoldOptions } from "./client_index_fold.ts";
import type { SqliteDatabase } from "./sqlite/sqlite_database.ts";
import type { BatchTiming, Op, OpResult, SequencedOp, WriterStats } from "./writer_messages.ts";

/** Operations that only record an attempt's progress: they may wait for the next insert. */
const MAY_WAIT: ReadonlySet<string> = new Set([
  "markStarted",
  "markFinished",
  "markRan",
  "markPending",
]);

/** Hold state changes only while insert batches are this small. */
export const HOLD_WHEN_INSERTS = 2;

/** Commits what arrives together in one transaction. */
export class GroupCommit implements Disposable {
  readonly #db: SqliteDatabase;
  readonly #onResults: (results: OpResult[], batch: BatchTiming) => void;
  #pending: SequencedOp[] = [];
  #scheduled = false;
  /** The timer of a held batch of state changes, or null. */
  #hold: ReturnType<typeof setTimeout> | null = null;
  /** Inserts in the last batch that had any (none seen yet: never hold). */
  #recentInserts = Infinity;
  /** Flushes come back through this channel: one event-loop turn later. */
  readonly #turn = new MessageChannel();
  /** Keeps the deferred client index in step, off the acknowledgement path. */
  readonly #fold: ClientIndexFold;
  /** Counters, sent to the main thread when the writer closes. */
  readonly stats: WriterStats = { batches: 0, ops: 0, largestBatch: 0, failedBatches: 0 };

  /**
   * @param db The writable database; closed by {@linkcode GroupCommit.close}.
   * @param onResults Receives the results of each committed batch, in operation order,
   * and how large the batch was and how long its commit took.
   * @param fold When to fold new orders into the client index.
   */
  constructor(
    db: SqliteDatabase,
    onResults: (results: OpResult[], batch: BatchTiming) => void,
    fold: ClientIndexFoldOptions = {},
  ) {
    this.#db = db;
    this.#onResults = onResults;
    this.#fold = new ClientIndexFold(db, fold);
    this.#turn.port1.onmessage = () => this.flush();
  }

  /** Adds operations to the next batch. */
  enqueue(ops: SequencedOp[]): void {
    let urgent = false;
    for (const op of ops) {
      this.#pending.push(op);
      if (!MAY_WAIT.has(op.op)) urgent = true;
    }
    this.stats.ops += ops.length;
    if (this.#hold !== null) {
      if (!urgent) return;
      clearTimeout(this.#hold);
      this.#hold = null;
    }
    if (!this.#scheduled && this.#pending.length > 0) {
      this.#scheduled = true;
      this.#turn.port2.postMessage(null);
    }
  }

  /**
   * Commits everything pending as one batch and hands over its results.
   *
   * @param now Commit even a batch that could be held.
   */
  flush(now = false): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    if (!now && this.#mayHold()) {
      this.#hold = setTimeout(() => {
        this.#hold = null;
        this.flush(true);
      }, 1);
      return;
    }
    if (this.#hold !== null) clearTimeout(this.#hold);
    this.#hold = null;
    const batch = this.#pending;
    this.#pending = [];
    this.stats.batches++;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    const start = performance.now();
    let results: OpResult[];
    try {
      results = this.#commit(batch);
    } catch (error) {
      this.stats.failedBatches++;
      results = batch.length === 1
        ? [failure(batch[0]!, error)]
        : batch.map((op) => this.#commitOne(op));
    }
    this.#onResults(results, { size: batch.length, commitMs: performance.now() - start });
    let inserted = 0;
    for (let i = 0; i < batch.length; i++) {
      if (batch[i]!.op === "insert" && results[i]!.ok) inserted++;
    }
    if (inserted > 0) this.#recentInserts = inserted;
    this.#fold.afterFlush(inserted);
  }

  #mayHold(): boolean {
    if (this.#hold !== null || this.#recentInserts > HOLD_WHEN_INSERTS) return false;
    for (const op of this.#pending) if (!MAY_WAIT.has(op.op)) return false;
    return true;
  }

  /** Flushes, then closes the database. */
  close(): void {
    this.flush(true);
    this.#fold[Symbol.dispose]();
    this.#turn.port1.close();
    this.#turn.port2.close();
    this.#db.close();
  }

  /** Calls {@linkcode GroupCommit.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #commit(batch: SequencedOp[]): OpResult[] {
    const db = this.#db;
    db.begin();
    try {
      const values = batch.map((op) => apply(db, op));
      db.commit();
      return batch.map((op, i) => ({ seq: op.seq, ok: true, value: values[i] }));
    } catch (error) {
      try {
        db.rollback();
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
}

/** Runs one operation inside the open transaction. */
function apply(db: SqliteDatabase, op: Op): unknown {
  switch (op.op) {
    case "insert":
      return db.insert(op.pedido, op.receivedAt, op.owner);
    case "markStarted":
      return db.markStarted(op.id, op.worker, op.at);
    case "markFinished":
      return db.markFinished(op.id, op.outcome);
    case "markRan":
      return db.markRan(op.id, op.worker, op.startedAt, op.outcome);
    case "markPending":
      return db.markPending(op.id);
    case "cancel":
      return db.cancel(op.id, op.at, op.owner);
    case "retry":
      return db.retry(op.id, op.owner);
    case "setRole":
      return db.setRole(op.usuario, op.rol);
    case "prune":
      return db.prune(op.before, op.limit);
    case "get":
      return db.get(op.id, op.owner);
    case "findByClave":
      return db.findByClave(op.clave);
    case "list":
      return db.list(op.filter);
    case "unfinished":
      return db.unfinished();
    case "createUser":
      return db.createUser(op.usuario, op.hash, op.at);
    case "createSession":
      return db.createSession(op.tokenHash, op.usuarioId, op.expira);
    case "deleteExpiredSessions":
      return db.deleteExpiredSessions(op.now);
    case "findUser":
      return db.findUser(op.usuario);
    case "findSession":
      return db.findSession(op.tokenHash, op.now);
    default:
      throw new Error(`Unexpected operation "${(op as { op: unknown }).op}"`);
  }
}

function failure(op: SequencedOp, error: unknown): OpResult {
  return { seq: op.seq, ok: false, error: error instanceof Error ? error.message : String(error) };
}
