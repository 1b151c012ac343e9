/**
 * Which driver errors mean "the database cannot be reached" (answer
 * `unavailable`, reconnect) rather than "this statement failed".
 *
 * @module
 */

/** Socket and driver codes of a connection that failed, broke or timed out. */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  // A query sent to a pool that is being retired (connection_pools.ts).
  "CONNECTION_ENDED",
  "CONNECT_TIMEOUT",
  // No answer within the store's deadline (deadline.ts): the connection is presumed lost.
  "PEDIDOS_DEADLINE",
]);

/**
 * SQLSTATEs of a server that is going away or cannot take us now: class 08
 * (connection exception), `57P01` admin_shutdown (`pg_terminate_backend`),
 * `57P02` crash_shutdown, `57P03` cannot_connect_now (starting up or
 * recovering), `53300` too_many_connections, `25006`
 * read_only_sql_transaction (a standby, e.g. the old primary after a
 * failover, or a database made read-only): nothing can be accepted there.
 */
const SERVER_GOING = /^(08...|57P0[123]|53300|25006)$/;

/**
 * SQLSTATEs that say the daemon was set up wrong for this server rather
 * than that the server is away: `28000` invalid_authorization_specification
 * (no such role, refused by `pg_hba.conf`), `28P01` invalid_password,
 * `3D000` invalid_catalog_name (no such database). (And a server without
 * TLS for a URL that requires it: {@linkcode tlsRefusedError}.)
 */
const MISCONFIGURED = /^(28000|28P01|3D000)$/;

/** The code of {@linkcode tlsRefusedError}. */
export const TLS_REFUSED_CODE = "PEDIDOS_TLS_REFUSED";

/**
 * The error of a server that has no TLS, for a URL that requires it
 * (`tls_refusal.ts`): a misconfiguration, as a database that does not exist.
 */
export function tlsRefusedError(reason: string): Error {
  return Object.assign(new Error(reason), { code: TLS_REFUSED_CODE });
}

/** The code of {@linkcode readOnlyError}. */
export const READ_ONLY_CODE = "25006";

/** The error of a database that answers but takes no writes. */
export function readOnlyError(): Error {
  const error = new Error("the database takes no writes (read-only, or a standby)");
  return Object.assign(error, { code: READ_ONLY_CODE });
}

/** Whether `error` means the database cannot be reached now. */
export function isConnectionError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") {
    return error instanceof Deno.errors.ConnectionRefused ||
      error instanceof Deno.errors.ConnectionReset ||
      error instanceof Deno.errors.ConnectionAborted ||
      error instanceof Deno.errors.BrokenPipe ||
      error instanceof Deno.errors.TimedOut;
  }
  if (CONNECTION_CODES.has(code) || SERVER_GOING.test(code)) return true;
  // The server ends the session with every FATAL (or PANIC) error: whatever
  // its code (e.g. `55000`, the database not taking connections; `3D000`, it
  // was dropped), nothing can be done on that connection, nor on a new one
  // until it changes. (`severity` is the field PostgreSQL never translates.)
  const severity = (error as { severity?: unknown }).severity;
  return severity === "FATAL" || severity === "PANIC";
}

/**
 * Whether `error` says the daemon's URL is wrong for this server (no such
 * database or role, a bad password): at start, a reason to stop, not to
 * wait for the server; once the store has been up, an outage like any
 * other (a database dropped and made again, a password changed).
 */
export function isMisconfiguration(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && (MISCONFIGURED.test(code) || code === TLS_REFUSED_CODE);
}

/**
 * A short reason for the log: the driver's code and message, without the
 * URL (its messages name host and port only, never the password).
 */
export function connectionReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const message = error.message.replace(/^write /, "");
  return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message;
}
