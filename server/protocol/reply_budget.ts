/**
 * How large a reply may grow (`--max-reply-bytes`): the most bytes one
 * order takes in a reply, and which requests may have large replies. Pure.
 *
 * An order's reply is bounded by the request that placed it: re-encoding
 * never makes its text longer (JSON escapes that came in stay escapes,
 * `\u00e9` comes back shorter as `é`), so an order is at most its request,
 * plus its `resultado` (§11), plus a few fields. A reply budget of at least
 * {@linkcode largestOrderBytes} therefore always fits one whole order: an
 * `ESTADO` reply never exceeds it, and LISTAR always makes progress.
 *
 * @module
 */

import type { Request } from "./messages.ts";

/** The largest `resultado` a processor module may store (docs/protocol.md §11). */
export const MAX_RESULTADO_BYTES = 65536;

/**
 * Room for everything in an order's reply besides the text the client sent
 * and `resultado`: ids, dates, state, worker, `cantidad` added to product
 * objects (at most 100 × `,"cantidad":1`), `detalle_error`, the envelope.
 */
export const ORDER_OVERHEAD_BYTES = 4096;

/**
 * The most bytes one order may take in a reply.
 *
 * @param maxRequestBytes `--max-request-bytes`.
 * @returns `maxRequestBytes` + {@linkcode MAX_RESULTADO_BYTES} + {@linkcode ORDER_OVERHEAD_BYTES}.
 *
 * @example Usage
 * ```ts
 * import { largestOrderBytes } from "./reply_budget.ts";
 * console.log(largestOrderBytes(65536)); // 135168
 * ```
 */
export function largestOrderBytes(maxRequestBytes: number): number {
  return maxRequestBytes + MAX_RESULTADO_BYTES + ORDER_OVERHEAD_BYTES;
}

/**
 * Whether the reply to `request` may be as large as the whole budget
 * (LISTAR). A connection counts such a request as holding the budget while
 * it is answered, so it never builds two at once.
 */
export function mayReplyLarge(request: Request): boolean {
  return request.op === "LISTAR";
}
