/**
 * Reserving a connection of a pool, asked again while no answer comes.
 *
 * The driver (postgres 3.4.9, pinned) loses a `reserve()` that waits for a
 * connection when a connection of the pool closes meanwhile: the pool hands
 * the waiting request to the connection's reconnect, which drops it, and
 * the promise never settles (porsager/postgres#1195, open). Connections
 * close while a reserve waits after a pause (SIGSTOP, a suspended VM: every
 * idle timer fires at once on resume) and when the server ends them
 * (`pg_terminate_backend`, a restart). A reservation asked again after
 * `retryMs` gets the reconnected connection; whichever answer comes first
 * is used, and a later one goes straight back to the pool.
 *
 * @module
 */

/**
 * How long a reservation of a connection may go unanswered before it is
 * asked again (the driver can lose one). A connection comes in a few
 * milliseconds, or one connect, when the pool has to open it.
 */
export const RESERVE_RETRY_MS = 1000;

/** What can be reserved: a connection handed back with `release()`. */
export interface Releasable {
  release(): void;
}

/** A reservation in progress; see {@linkcode reserveConnection}. */
export interface Reservation<C extends Releasable> {
  /** The first connection reserved, or the first failure. */
  readonly promise: Promise<C>;
  /** Stops asking; a connection that comes after goes back to the pool. */
  cancel(): void;
}

/**
 * Reserves a connection with `reserve`, and asks again every `retryMs`
 * while none has come.
 *
 * @param reserve Asks the pool for a connection (`() => sql.reserve()`).
 * @param retryMs How long to wait for an answer before asking again.
 *
 * @example Usage
 * ```ts ignore
 * const reservation = reserveConnection(() => sql.reserve(), 1000);
 * const conn = await reservation.promise;
 * ```
 */
export function reserveConnection<C extends Releasable>(
  reserve: () => Promise<C>,
  retryMs: number,
): Reservation<C> {
  const { promise, resolve, reject } = Promise.withResolvers<C>();
  let settled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settle = () => {
    settled = true;
    clearTimeout(timer);
  };
  const ask = () => {
    // Armed first: an answer may come before this function returns.
    timer = setTimeout(ask, retryMs);
    reserve().then((conn) => {
      if (settled) conn.release();
      else {
        settle();
        resolve(conn);
      }
    }, (error) => {
      if (settled) return;
      settle();
      reject(error);
    });
  };
  ask();
  return { promise, cancel: settle };
}
