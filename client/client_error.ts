/**
 * The client's own failures, apart from the daemon's refusals (which are
 * replies, not errors).
 *
 * @module
 */

import type { ErrorCode } from "../server/protocol/errors.ts";

/** What went wrong on the client's side of the wire. */
export type ClientErrorCode = "connect_failed" | "connection_closed" | "timeout" | "protocol";

/** A failure to reach or talk to the daemon (the daemon's own refusals are replies, not errors). */
export class ClientError extends Error {
  /** What went wrong. */
  readonly code: ClientErrorCode;

  /**
   * @param code What went wrong.
   * @param message For people, e.g. `Cannot connect to localhost:8888: Connection refused`.
   * @param options The underlying error.
   */
  constructor(code: ClientErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClientError";
    this.code = code;
  }
}

const RETRIABLE_REPLIES: ReadonlySet<string> = new Set<ErrorCode>([
  "queue_full",
  "busy",
  "shutting_down",
  "internal",
]);

/**
 * Whether trying again later may succeed: a {@linkcode ClientError} other than
 * `protocol`, or an error reply `queue_full`, `busy`, `shutting_down` or
 * `internal`. Retry orders with the same `clave` so that only one is made.
 *
 * @example Usage
 * ```ts
 * import { isRetriable } from "./client_error.ts";
 * console.log(isRetriable({ ok: false, error: "queue_full", mensaje: "…" })); // true
 * ```
 */
export function isRetriable(errorOrReply: unknown): boolean {
  if (errorOrReply instanceof ClientError) return errorOrReply.code !== "protocol";
  if (typeof errorOrReply !== "object" || errorOrReply === null) return false;
  if (!("ok" in errorOrReply) || errorOrReply.ok !== false) return false;
  return "error" in errorOrReply && typeof errorOrReply.error === "string" &&
    RETRIABLE_REPLIES.has(errorOrReply.error);
}
