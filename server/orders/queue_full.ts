/**
 * The `queue_full` refusal, and its log line: a full queue is something an
 * operator must act on (more workers, a larger `--max-pedidos`, a slow
 * processor), and the refusals come once per order, tens of thousands a
 * minute, so they are written rate-limited.
 *
 * @module
 */

import type { Capacity } from "../capacity.ts";
import type { Logger } from "../log.ts";
import { ProtocolError } from "../protocol/errors.ts";

/**
 * A `queue_full` error to throw, logged as `intake.queue_full` (warn, with
 * `capacity`): at most one line every 10 s, with `repeated=N`, the refusals
 * not written since ({@linkcode Logger.repeated}).
 *
 * @param logger Where the refusal is logged.
 * @param capacity This daemon's slots, shown as `capacity`.
 * @returns The error to throw.
 */
export function queueFull(logger: Logger, capacity: Capacity): ProtocolError {
  logger.repeated("warn", "intake.queue_full", { capacity: capacity.capacity });
  return new ProtocolError("queue_full");
}
