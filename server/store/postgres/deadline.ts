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
 * `promise`, or a rejection once `ms` have passed, whichever comes first.
 *
 * @param what Names the operation in the error, e.g. `commit`.
 * @throws {Error} With `code` {@linkcode DEADLINE_CODE}: `Cannot commit: no answer from the database within 15000 ms`.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`Cannot ${what}: no answer from the database within ${ms} ms`);
      reject(Object.assign(error, { code: DEADLINE_CODE }));
    }, ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A deadline that can be brought forward ({@linkcode Deadline.hurry}). */
export class Deadline {
  readonly #what: string;
  #timer: ReturnType<typeof setTimeout> | undefined;
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
    clearTimeout(this.#timer);
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const error = new Error(
        `Cannot ${this.#what}: no answer from the database within the deadline`,
      );
      this.#expired.reject(Object.assign(error, { code: DEADLINE_CODE }));
    }, ms);
  }
}
