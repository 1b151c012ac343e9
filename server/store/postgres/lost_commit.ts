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

/** The longest one look may take (a connection being opened to a database out of reach). */
const ASK_MS = 2000;

/**
 * The backend, when it still runs, is ended (it has this role, as the
 * daemon's connections do): a terminated backend rolls back a transaction
 * that has not committed, and a commit already under way completes first.
 * No row: it is gone.
 */
const END_BACKEND = `SELECT CASE WHEN usename = current_user THEN pg_terminate_backend(pid) END
  FROM pg_stat_activity
  WHERE pid = $1 AND backend_start <= clock_timestamp() - $2::float8 * interval '1 millisecond'`;

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
  for (;;) {
    const left = options.until - performance.now();
    if (left <= 0 || options.signal?.aborted) return false;
    try {
      const age = performance.now() - lost.sentAt;
      const asking = options.sql().unsafe(END_BACKEND, [lost.pid, age]).execute() as unknown;
      const rows = await Promise.race([
        withDeadline(
          asking as Promise<unknown[]>,
          Math.min(left, ASK_MS),
          "end a lost transaction",
        ),
        stop,
      ]);
      if (rows === null) return false;
      if (rows.length === 0) return true;
    } catch {
      // Not reachable yet: look again.
    }
    const wait = Math.min(interval, options.until - performance.now());
    if (wait > 0) await sleep(wait, options.signal);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Resolves null once `signal` aborts (never without one). */
function aborted(signal?: AbortSignal): Promise<null> {
  return new Promise((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) return resolve(null);
    signal.addEventListener("abort", () => resolve(null), { once: true });
  });
}
