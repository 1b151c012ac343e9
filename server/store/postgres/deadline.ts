/**
 * A bound on every wait for the database. A connection can die in ways the
 * driver does not always report (a query queued on a connection that closed
 * is never answered), so no operation of the store may wait for ever: past
 * its deadline it fails as if the database were unreachable, and the store
 * reconnects.
 *
 * @module
 */

/** The code of {@linkcode withDeadline}'s error, counted as a lost connection. */
export const DEADLINE_CODE = "PEDIDOS_DEADLINE";

/**
 * How late a deadline's timer may fire before the deadline doubts itself,
 * ms: a timer that fires this much after it was due says the daemon itself
 * stood still (SIGSTOP, a long pause, a starved CPU), and then the
 * database's answer may be waiting, unread, in the socket — timers run
 * before the socket is read. Such a deadline gives the answer
 * {@linkcode LATE_GRACE_MS} more, once.
 */
export const LATE_MS = 250;

/** The extra time of a deadline whose timer fired late ({@linkcode LATE_MS}), ms. */
export const LATE_GRACE_MS = 250;

/**
 * Calls `expire` once `ms` have passed, unless the timer fired late by more
 * than {@linkcode LATE_MS}: then once {@linkcode LATE_GRACE_MS} more have
 * passed. Returns what clears it.
 */
function deadlineTimer(ms: number, expire: () => void): () => void {
  const due = performance.now() + ms;
  let timer = setTimeout(() => {
    if (performance.now() - due > LATE_MS) timer = setTimeout(expire, LATE_GRACE_MS);
    else expire();
  }, ms);
  return () => clearTimeout(timer);
}

/**
 * `promise`, or a rejection once `ms` have passed, whichever comes first.
 *
 * @param what Names the operation in the error, e.g. `commit`.
 * @throws {Error} With `code` {@linkcode DEADLINE_CODE}: `Cannot commit: no answer from the database within 15000 ms`.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let clear = () => {};
  const late = new Promise<never>((_, reject) => {
    clear = deadlineTimer(ms, () => {
      const error = new Error(`Cannot ${what}: no answer from the database within ${ms} ms`);
      reject(Object.assign(error, { code: DEADLINE_CODE }));
    });
  });
  return Promise.race([promise, late]).finally(() => clear());
}

/** A deadline that can be brought forward ({@linkcode Deadline.hurry}). */
export class Deadline {
  readonly #what: string;
  #clear: () => void = () => {};
  readonly #expired = Promise.withResolvers<never>();

  /** Expires in `ms`; {@linkcode Deadline.clear} it once the wait is over. */
  constructor(ms: number, what: string) {
    this.#what = what;
    this.#expired.promise.catch(() => {});
    this.#arm(ms);
  }

  /** `promise`, or the deadline's rejection, whichever comes first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.#expired.promise]);
  }

  /** Expires in `ms` at the latest (sooner if it was due sooner). */
  hurry(ms: number): void {
    this.#arm(ms);
  }

  /** Stops the timer. */
  clear(): void {
    this.#clear();
  }

  #arm(ms: number): void {
    this.#clear();
    this.#clear = deadlineTimer(ms, () => {
      const error = new Error(
        `Cannot ${this.#what}: no answer from the database within the deadline`,
      );
      this.#expired.reject(Object.assign(error, { code: DEADLINE_CODE }));
    });
  }
}
