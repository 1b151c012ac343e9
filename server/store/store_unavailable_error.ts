/**
 * The error a store rejects with while its database cannot be reached
 * (PostgreSQL down, the network gone): the request is answered
 * `unavailable` (§3), and the daemon keeps running.
 *
 * @module
 */

/**
 * The store cannot reach its database now. Whatever was asked may or may
 * not have been done when the connection broke during a commit (§6: a
 * client that retries with the same `clave` gets exactly one order).
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
   * @param what The operation, e.g. `insert`.
   * @param reason Why, for the log (never a password).
   * @param options The underlying error.
   */
  constructor(what: string, reason: string, options?: ErrorOptions) {
    super(`Cannot ${what}: the database is unavailable: ${reason}`, options);
    this.name = "StoreUnavailableError";
  }
}
