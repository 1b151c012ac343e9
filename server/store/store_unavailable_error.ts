/**
 * The error a store rejects with while its database cannot be reached
 * (PostgreSQL down, the network gone): the request is answered
 * `unavailable` (§3), and the daemon keeps running.
 *
 * @module
 */

/**
 * The store cannot reach its database now: what was asked was not done,
 * unless {@linkcode StoreUnavailableError.outcomeUnknown} (the connection
 * broke during a commit whose outcome could not be learned; §6: a client
 * that retries with the same `clave` gets exactly one order).
 *
 * @example Usage
 * ```ts
 * import { StoreUnavailableError } from "./store_unavailable_error.ts";
 * const error = new StoreUnavailableError("insert", "connection refused");
 * console.log(error.message); // Cannot insert: the database is unavailable: connection refused
 * ```
 */
export class StoreUnavailableError extends Error {
  /**
   * The connection broke after a commit was sent, and whether it was done
   * could not be learned (the database stayed out of reach): unlike the
   * other failures, this one may have been done.
   */
  outcomeUnknown = false;

  /**
   * @param what The operation, e.g. `insert`.
   * @param reason Why, for the log (never a password).
   * @param options The underlying error.
   */
  constructor(what: string, reason: string, options?: ErrorOptions) {
    super(`Cannot ${what}: the database is unavailable: ${reason}`, options);
    this.name = "StoreUnavailableError";
  }
}
