/**
 * The PostgreSQL store's single writer: every write of orders waits in one
 * queue, and what is queued when a transaction starts is committed together
 * in it (group commit), one statement per kind of write (all new orders in
 * one multi-row insert, all attempt ends in one update). Each write resolves
 * only after the `COMMIT`.
 *
 * Writes that add unfinished orders ask the batch for room
 * ({@linkcode BatchContext.room}): the first one takes the capacity lock
 * and counts the unfinished orders of the whole database, and later ones in
 * the same batch spend from that count, so the capacity is exact however
 * many daemons write at once.
 *
 * A transaction that fails for any reason but a lost connection is tried
 * again one write at a time, so only the faulty write fails.
 *
 * @module
 */

import type { Sql, TransactionSql } from "postgres";
import { CAPACITY_LOCK } from "./postgres_schema.ts";
import { isConnectionError } from "./postgres_errors.ts";

/** Room for new unfinished orders in this batch; spend it by decrementing `free`. */
export interface Room {
  free: number;
}

/** What a kind of write sees while its batch's transaction is open. */
export interface BatchContext {
  readonly tx: TransactionSql;
  /** Takes the capacity lock (once per batch) and says how many more orders fit. */
  room(): Promise<Room>;
  /** New `pendiente` orders were made: the other daemons are woken after the commit. */
  newWork(): void;
  /** These orders finished: their waiters on every daemon are woken after the commit. */
  finished(ids: readonly number[]): void;
}

/** A kind of write: applies all the writes of its kind in a batch, in order. */
export interface WriteKind<A, R> {
  /** For error messages: `Cannot ${name}: ...`. */
  readonly name: string;
  /** Returns one result per write, in the same order. */
  apply(ctx: BatchContext, args: A[]): Promise<R[]>;
}

/** What the writer tells its store after each commit. */
export interface CommitEffects {
  newWork: boolean;
  finished: number[];
}

/** Options of {@linkcode PostgresWriter}. */
export interface PostgresWriterOptions {
  sql: Sql;
  /** After each commit, with what it did. */
  onCommit: (effects: CommitEffects) => void;
  /** Turns a lost connection into the error its writes reject with (and notes the outage). */
  unavailable: (what: string, error: unknown) => Error;
  /** Most writes in one transaction. @default 2000 */
  maxBatch?: number;
}

interface Queued {
  kind: WriteKind<unknown, unknown>;
  args: unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** The one writer of a PostgreSQL store. */
export class PostgresWriter {
  readonly #sql: Sql;
  readonly #onCommit: (effects: CommitEffects) => void;
  readonly #unavailable: (what: string, error: unknown) => Error;
  readonly #maxBatch: number;
  #queue: Queued[] = [];
  #running: Promise<void> | null = null;
  /** Batches committed, and writes in them (for tests and the bench). */
  readonly stats = { batches: 0, writes: 0, largestBatch: 0 };

  constructor(options: PostgresWriterOptions) {
    this.#sql = options.sql;
    this.#onCommit = options.onCommit;
    this.#unavailable = options.unavailable;
    this.#maxBatch = options.maxBatch ?? 2000;
  }

  /** Queues a write; resolves with its result after its transaction commits. */
  write<A, R>(kind: WriteKind<A, R>, args: A): Promise<R> {
    const { promise, resolve, reject } = Promise.withResolvers<R>();
    this.#queue.push({
      kind: kind as WriteKind<unknown, unknown>,
      args,
      resolve: resolve as (value: unknown) => void,
      reject,
    });
    this.#running ??= this.#drain();
    return promise;
  }

  /** Resolves when every write queued so far has settled. */
  async flush(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  async #drain(): Promise<void> {
    // Let the writes of this tick join the first batch.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        await this.#commit(batch, true);
      }
    } finally {
      this.#running = null;
    }
  }

  /** Commits `batch` in one transaction; on a statement error, one write at a time. */
  async #commit(batch: Queued[], isolate: boolean): Promise<void> {
    const settle: (() => void)[] = [];
    const effects: CommitEffects = { newWork: false, finished: [] };
    try {
      await this.#sql.begin(async (tx) => {
        let room: Promise<Room> | null = null;
        const ctx: BatchContext = {
          tx,
          room: () => room ??= countRoom(tx),
          newWork: () => effects.newWork = true,
          finished: (ids) => effects.finished.push(...ids),
        };
        for (const [kind, group] of groupByKind(batch)) {
          const results = await kind.apply(ctx, group.map((queued) => queued.args));
          group.forEach((queued, i) => settle.push(() => queued.resolve(results[i])));
        }
      });
    } catch (error) {
      if (isConnectionError(error)) {
        // The commit may or may not have happened: the caller is told the store is unavailable.
        for (const queued of batch) queued.reject(this.#unavailable(queued.kind.name, error));
        return;
      }
      if (isolate && batch.length > 1) {
        for (const queued of batch) await this.#commit([queued], false);
        return;
      }
      const reason = error instanceof Error ? error.message : String(error);
      for (const queued of batch) {
        queued.reject(new Error(`Cannot ${queued.kind.name}: ${reason}`, { cause: error }));
      }
      return;
    }
    this.stats.batches++;
    this.stats.writes += batch.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    for (const done of settle) done();
    if (effects.newWork || effects.finished.length > 0) this.#onCommit(effects);
  }
}

function groupByKind(batch: Queued[]): Map<WriteKind<unknown, unknown>, Queued[]> {
  const groups = new Map<WriteKind<unknown, unknown>, Queued[]>();
  for (const queued of batch) {
    const group = groups.get(queued.kind);
    if (group === undefined) groups.set(queued.kind, [queued]);
    else group.push(queued);
  }
  return groups;
}

/**
 * Takes the capacity lock until the commit, then counts: the count is read
 * after the lock, so it sees every order committed by the last holder.
 */
async function countRoom(tx: TransactionSql): Promise<Room> {
  await tx`SELECT pg_advisory_xact_lock(${CAPACITY_LOCK})`;
  const [row] = await tx<{ capacidad: number | null; unfinished: number }[]>`
    SELECT (SELECT capacidad FROM pedidos_cluster WHERE id = 1) AS capacidad,
      (SELECT count(*) FROM pedidos WHERE estado = 'pendiente')
      + (SELECT count(*) FROM pedidos WHERE estado = 'en proceso') AS unfinished`;
  if (row?.capacidad == null) throw new Error("the cluster's capacity is not set");
  return { free: Math.max(0, row.capacidad - row.unfinished) };
}
