/**
 * The log line of an attempt that failed. One that will be retried is
 * routine (`order.attempt_failed`, info); the last one is an order lost to
 * an error for good, which an operator must look at (`order.failed`, warn).
 *
 * @module
 */

import type { Logger } from "../log.ts";

/** What {@linkcode logFailedAttempt} writes. */
export interface FailedAttempt {
  /** The order. */
  id: number;
  /** Which attempt failed, from 1. */
  attempt: number;
  /** Why. */
  error: string;
  /** The wait before the next attempt, or null when there is none: the order ends `error`. */
  retryInMs: number | null;
}

/**
 * Writes `order.attempt_failed` (info, `retry_in_ms`) for an attempt that
 * will be retried, else `order.failed` (warn).
 */
export function logFailedAttempt(logger: Logger, failed: FailedAttempt): void {
  const { id, attempt, error, retryInMs } = failed;
  if (retryInMs === null) logger.warn("order.failed", { id, attempt, error });
  else logger.info("order.attempt_failed", { id, attempt, error, retry_in_ms: retryInMs });
}

/**
 * Logs (`order.failed`) the end of an order whose last attempt allowed, and
 * the one more it was given then, were both cut short by their daemon's end
 * (killed, crashed, or cut off past its lease), with a processor module,
 * which may be what ended them.
 *
 * @returns The order's `detalle_error`.
 */
export function logInterrupted(
  logger: Logger,
  cut: { id: number; attempt: number; maxAttempts: number },
): string {
  const { id, attempt, maxAttempts } = cut;
  const error = `The daemon running attempt ${attempt - 1} of ${maxAttempts} (--max-intentos), ` +
    `then attempt ${attempt}, the one more given, ended before each did (killed, crashed, or cut ` +
    "off from the database): not tried again";
  logFailedAttempt(logger, { id, attempt, error, retryInMs: null });
  return error;
}
