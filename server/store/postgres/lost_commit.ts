/**
 * A transaction whose connection broke once its `COMMIT` may have gone out
 * has an outcome this daemon did not hear: PostgreSQL may have committed it
 * and lost only the answer (a network path that broke, a proxy, a
 * connection killed between the two). What it stored can be read on
 * another connection, but only once that transaction cannot commit any
 * more: while its backend still runs, a `COMMIT` still in the network could
 * arrive after the read. {@linkcode endLostTransaction} makes sure of that:
 * it waits for the backend to end, and ends it if it lingers (a connection
 * gone silent, whose backend would wait for the rest of the transaction
 * until TCP keepalive gives up, hours later).
 *
 * @module
 */

import type { Sql } from "postgres";
import { withDeadline } from "./deadline.ts";
import { RESERVE_RETRY_MS, reserveConnection } from "./reserve_connection.ts";
import { pause } from "../../pause.ts";

/** The backend a transaction went on, as its connection knew it. */
export interface LostTransaction {
  /** PostgreSQL's process id of the backend (from its `BackendKeyData`). */
  pid: number;
  /**
   * `performance.now()` when the transaction's first statement was sent: the
   * backend was running before. A process id reused since by a new backend
   * (started after the old one ended) is then not taken for it.
   */
  sentAt: number;
  /**
   * `performance.now()` when the connection was found lost (broken, or past
   * its deadline): the transaction began before. A transaction the backend
   * began later is another's — a connection whose late answer came after
   * its deadline goes back to its pool, and may carry other work by now —
   * and is never ended for it.
   */
  lostAt: number;
}

/** Options of {@linkcode endLostTransaction}. */
export interface EndLostTransactionOptions {
  /** The pool to ask on, now (the store replaces its pools after an outage). */
  sql: () => Sql;
  /** `performance.now()` past which it gives up. */
  until: number;
  /** Between two looks, while the backend runs or the database cannot be reached. @default 50 */
  intervalMs?: number;
  /** Gives up when aborted (the store closes). */
  signal?: AbortSignal;
}

/** The longest wait between two looks while the database cannot be reached. */
const MAX_BACKOFF_MS = 1000;

/** The longest one look may take (a connection being opened to a database out of reach). */
const ASK_MS = 2000;

/**
 * The backend, while the lost transaction may still commit on it, is ended:
 * a terminated backend rolls back a transaction that has not committed, and
 * a commit already under way completes first. That is while it is in a
 * transaction begun before the loss, or idle since before the transaction
 * was sent (nothing of it has arrived yet, and may still: a path gone
 * silent). It has this role, as the daemon's connections do, and started
 * before the transaction was sent. No row: the transaction is over,
 * committed or not (the backend is gone, idle since, or in a transaction
 * begun after the loss — a connection whose late answer came past its
 * deadline goes back to its pool, and may carry other work by now: that is
 * never ended for it).
 *
 * Except a commit waiting for synchronous replication (`SyncRep`): it is
 * committed here and not yet on the standby, and ending it would cancel
 * that wait, leaving it on this server only — an order a failover would
 * lose, answered `ok`. It is left to finish; its row stays, and its outcome
 * is unknown until the standby confirms it. (Durations, `$2` since it was
 * sent and `$3` since it was lost, are measured on this process's clock
 * just before the statement goes out on a connection of its own, idle, so
 * that it runs at once — not queued behind another statement, which would
 * move the bounds; the database's clock is only read: the two need not
 * agree.)
 */
const END_BACKEND = `SELECT pid, CASE WHEN usename = current_user
      AND wait_event IS DISTINCT FROM 'SyncRep' THEN pg_terminate_backend(pid) END AS ended
  FROM pg_stat_activity
  WHERE pid = $1 AND backend_start <= clock_timestamp() - $2::float8 * interval '1 millisecond'
    AND (xact_start <= clock_timestamp() - $3::float8 * interval '1 millisecond'
      OR (state = 'idle'
        AND state_change <= clock_timestamp() - $2::float8 * interval '1 millisecond'))`;

/**
 * Resolves true once the backend that ran `lost` has ended, so that its
 * transaction has committed or rolled back for good; false when that could
 * not be learned before `until` (the database cannot be reached, or the
 * backend runs on under another role).
 */
export async function endLostTransaction(
  lost: LostTransaction,
  options: EndLostTransactionOptions,
): Promise<boolean> {
  const interval = options.intervalMs ?? 50;
  const stop = aborted(options.signal);
  let failures = 0;
  for (;;) {
    const left = options.until - performance.now();
    if (left <= 0 || options.signal?.aborted) return false;
    try {
      const rows = await Promise.race([look(options.sql(), lost, Math.min(left, ASK_MS)), stop]);
      if (rows === null) return false;
      if (rows.length === 0) return true;
      failures = 0;
    } catch {
      // Not reachable yet: look again, less often while that lasts.
      failures++;
    }
    const wait = Math.min(
      Math.max(interval, Math.min(MAX_BACKOFF_MS, interval * 2 ** failures)),
      options.until - performance.now(),
    );
    if (wait > 0) await pause(wait, options.signal);
  }
}

/**
 * One look ({@linkcode END_BACKEND}) within `ms`, on a connection reserved
 * for it: the pool's others may be busy, and a statement queued behind
 * theirs would run later than its bounds were measured.
 */
async function look(sql: Sql, lost: LostTransaction, ms: number): Promise<unknown[]> {
  const until = performance.now() + ms;
  const reservation = reserveConnection(() => sql.reserve(), RESERVE_RETRY_MS);
  let conn;
  try {
    conn = await withDeadline(reservation.promise, ms, "reserve a connection");
  } catch (error) {
    // A connection that comes after goes back at once.
    reservation.cancel();
    throw error;
  }
  try {
    const now = performance.now();
    const asking = conn.unsafe(END_BACKEND, [lost.pid, now - lost.sentAt, now - lost.lostAt]);
    return await withDeadline(
      asking.execute() as unknown as Promise<unknown[]>,
      Math.max(1, until - now),
      "end a lost transaction",
    );
  } finally {
    conn.release();
  }
}

/** Resolves null once `signal` aborts (never without one). */
function aborted(signal?: AbortSignal): Promise<null> {
  return new Promise((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) return resolve(null);
    signal.addEventListener("abort", () => resolve(null), { once: true });
  });
}
