/**
 * A workaround for the driver (postgres 3.4.9, pinned): a connection it opens
 * first asks the server for its array types (`fetch_types`, left on: see
 * `driver_options.ts`), and it runs that query on a promise nobody holds.
 * When the connection is lost during it (`pg_terminate_backend`, a restart,
 * a reset), that promise rejects unhandled, which ends a Deno process: a
 * daemon died after a few rounds of terminated backends, instead of
 * answering `unavailable` and reconnecting (§9).
 *
 * The connection is gone either way, the pool opens another, and the store
 * hears of the loss through its own queries; so that one rejection is
 * dropped. Any other unhandled rejection is left alone.
 *
 * @module
 */

/** Whether `reason` is the driver's array-type query failing with its connection. */
export function isLostTypeFetch(reason: unknown): boolean {
  if (typeof reason !== "object" || reason === null) return false;
  // The driver names the query that failed on its error (non-enumerable).
  const query = (reason as { query?: unknown }).query;
  return typeof query === "string" && query.includes("pg_catalog.pg_type") &&
    query.includes("typarray");
}

let installed = false;

/**
 * Drops, for the rest of the process, the unhandled rejections of
 * {@linkcode isLostTypeFetch}. Idempotent. Never removed: such a rejection
 * may come after a store has closed (its pool's last connections ending).
 */
export function ignoreLostTypeFetches(): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("unhandledrejection", (event) => {
    if (isLostTypeFetch(event.reason)) event.preventDefault();
  });
}
