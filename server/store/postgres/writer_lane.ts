/**
 * A lane of the {@linkcode PostgresWriter}: its queue of writes, whether a
 * transaction of it is under way, and the connection it keeps between
 * transactions while writes wait.
 *
 * Keeping the connection lets the next transaction go out the moment the
 * last one's `COMMIT` is answered, with no turn through the pool. The
 * connection is kept only as long as the pool it came from is the store's
 * (a pool replaced after an outage gets its connection back), and goes
 * back as soon as nothing waits ({@linkcode WriterLane.letGo}).
 *
 * @module
 */

import type { ReservedSql, Sql } from "postgres";

/** One lane of writes, queued as `Q`. */
export class WriterLane<Q> {
  /** Writes waiting for the lane's next transaction, in order. */
  queue: Q[] = [];
  /** Whether a transaction is being sent or awaited (its writes may still be being answered). */
  busy = false;
  /** Its transactions not yet done answering their writes. */
  readonly running = new Set<Promise<void>>();
  #conn: ReservedSql | null = null;
  #pool: Sql | null = null;
  /** The driver's id of the connection kept. */
  #id: number | null = null;

  /** Keeps `conn`, of `pool`, the driver's connection `id`, for the next transaction. */
  hold(conn: ReservedSql, pool: Sql, id: number): void {
    this.letGo();
    this.#conn = conn;
    this.#pool = pool;
    this.#id = id;
  }

  /**
   * The driver's connection `id` closed (every one, without an id): when it
   * is the one kept, it is dropped, not handed back. The driver has taken it
   * back itself; a statement sent on it now would go to a dead socket (the
   * driver, postgres 3.4.9, then throws from a timer, which ends the
   * process) or to the connection the pool opens anew in its place.
   */
  forget(id?: number): void {
    if (this.#conn === null || (id !== undefined && id !== this.#id)) return;
    this.#clear();
  }

  /** The connection kept, when it is of `pool`; one of another pool (replaced) goes back. */
  take(pool: Sql): ReservedSql | null {
    const conn = this.#conn;
    if (conn !== null && this.#pool !== pool) this.letGo();
    if (this.#conn === null) return null;
    this.#clear();
    return conn;
  }

  /** Gives the connection kept back to its pool. */
  letGo(): void {
    this.#conn?.release();
    this.#clear();
  }

  /** Keeps no connection. */
  #clear(): void {
    this.#conn = null;
    this.#pool = null;
    this.#id = null;
  }
}
