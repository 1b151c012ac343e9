/**
 * Group commit over the orders database: operations that arrive while a
 * transaction runs go into the next one, so many concurrent writes cost one
 * fsync. Pure apart from SQLite itself, and driven from outside: the writer
 * worker (`writer_worker.ts`) hands it what arrived with `enqueue` and calls
 * `runDue` whenever nothing more is waiting, then sleeps until new
 * operations arrive or the time `runDue` returned; tests may drive it
 * directly. A flush runs `BEGIN IMMEDIATE`, every pending operation,
 * `COMMIT`, and hands one result per operation to `onResults`. Operations
 * that arrive during the commit form the next batch.
 *
 * **State changes ride with the next insert at low concurrency.** A batch of
 * nothing but state changes (`markStarted`, `markFinished`, `markRan`,
 * `markPending`) is held back for up to {@linkcode HOLD_MS} or until another
 * operation arrives, when the last batch with inserts had at
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
 * full disk), every operation gets the SQLite error. A batch that could not
 * get the database's lock in the busy timeout (another process writes) is
 * not retried: each retry would wait as long again, the writer blocked
 * meanwhile, so every operation of it gets that error at once.
 *
 * @module
 */

import { ClientIndexFold, type ClientIndexFoldOptions } from "./client_index_fold.ts";
import { DatabaseFileGoneError } from "./sqlite/database_file.ts";
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

/** How long a batch of state changes may wait for an insert, in ms. */
export const HOLD_MS = 1;

/** Commits what arrives together in one transaction. */
export class GroupCommit implements Disposable {
  readonly #db: SqliteDatabase;
  readonly #onResults: (results: OpResult[], batch: BatchTiming) => void;
  #pending: SequencedOp[] = [];
  /** Until when a batch of state changes waits for an insert, or null. */
  #holdUntil: number | null = null;
  /** Inserts in the last batch that had any (none seen yet: never hold). */
  #recentInserts = Infinity;
  /** `performance.now()` before which a full disk does not empty the WAL again. */
  #reclaimAfter = 0;
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
  }

  /** Adds operations to the next batch. */
  enqueue(ops: SequencedOp[]): void {
    for (const op of ops) this.#pending.push(op);
    this.stats.ops += ops.length;
  }

  /**
   * Does what is due at `now`: commits the pending batch (unless it may still
   * wait for an insert) and folds the client index when the writer is idle.
   *
   * @returns When to call again though nothing arrives (`performance.now()`
   * time), or null when only new operations make work.
   */
  runDue(now: number = performance.now()): number | null {
    if (this.#pending.length > 0) {
      if (this.#mayHold()) {
        this.#holdUntil ??= now + HOLD_MS;
        if (now < this.#holdUntil) return this.#holdUntil;
      }
      this.flush();
      return this.#fold.dueAt();
    }
    return this.#fold.runIdle(now);
  }

  /** Commits everything pending as one batch and hands over its results. */
  flush(): void {
    this.#holdUntil = null;
    if (this.#pending.length === 0) return;
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
      if (isDiskFull(error)) this.#reclaimWal(performance.now());
      // One at a time, unless every transaction would meet the same wait:
      // behind another writer's lock, each would wait the busy timeout again.
      results = batch.length === 1 || isLockedOut(error) || error instanceof DatabaseFileGoneError
        ? batch.map((op) => failure(op, error))
        : batch.map((op) => this.#commitOne(op));
    }
    this.#onResults(results, { size: batch.length, commitMs: performance.now() - start });
    // Its operations answered, a damaged file stops the writer: nothing more is written to it.
    const damaged = results.find((result) => !result.ok && isDamaged(result.error));
    if (damaged !== undefined && !damaged.ok) throw new DamagedFileError(damaged.error);
    let inserted = 0;
    for (let i = 0; i < batch.length; i++) {
      if (batch[i]!.op === "insert" && results[i]!.ok) inserted++;
    }
    if (inserted > 0) this.#recentInserts = inserted;
    this.#fold.afterFlush(inserted);
  }

  /**
   * On a full disk, empties the WAL into the file (at most once a second),
   * so that the retries, and the writes after them, have its space: after
   * a restart the WAL may hold much more than the file lacks.
   */
  #reclaimWal(now: number): void {
    if (now < this.#reclaimAfter) return;
    this.#reclaimAfter = now + 1000;
    this.#db.reclaimWal();
  }

  #mayHold(): boolean {
    if (this.#recentInserts > HOLD_WHEN_INSERTS) return false;
    for (const op of this.#pending) if (!MAY_WAIT.has(op.op)) return false;
    return true;
  }

  /** Flushes, then closes the database. */
  close(): void {
    this.flush();
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

/**
 * Thrown by {@linkcode GroupCommit.flush} once an operation found the
 * database file damaged ({@linkcode isDamaged}), after every operation of
 * its batch was answered. (The writer then stops and says so; the store's
 * `DatabaseDamagedError` is what the daemon is told.)
 */
export class DamagedFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DamagedFileError";
  }
}

/**
 * Whether an operation's error is SQLite's SQLITE_CORRUPT ("database disk
 * image is malformed": a page of the file is not what SQLite wrote, such as
 * an index a disk fault damaged) or SQLITE_NOTADB. It is found only when an
 * operation reads that page, so a damaged file may open and serve until
 * then; no retry makes it whole again.
 */
export function isDamaged(message: string): boolean {
  return /\b(database disk image is malformed|file is not a database)\b/.test(message);
}

/** Whether `error` is SQLite's SQLITE_FULL (a full disk, or a file at its size limit). */
export function isDiskFull(error: unknown): boolean {
  return error instanceof Error && /\bdatabase or disk is full\b/.test(error.message);
}

/**
 * Whether `error` is SQLite's SQLITE_BUSY or SQLITE_LOCKED: the database's
 * lock is held elsewhere (node:sqlite in Deno gives no error code, only the
 * message).
 */
export function isLockedOut(error: unknown): boolean {
  return error instanceof Error && /^database (table )?is locked\b/.test(error.message);
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
