/**
 * Encoding of replies (§1): one compact JSON line each.
 *
 * @module
 */

import type { Reply } from "./replies.ts";

const encoder = new TextEncoder();

/**
 * Encodes a reply as one line of compact JSON followed by `\n`. Newlines
 * inside strings are escaped by `JSON.stringify`, so the result is always
 * exactly one line, and lone surrogates come out as `\udXXX` escapes, so it
 * is always valid UTF-8 once encoded.
 *
 * @param reply The reply object.
 * @returns The line to write.
 * @throws {TypeError} If `reply` holds a `BigInt` or a cycle (a bug in the caller).
 *
 * @example Usage
 * ```ts
 * import { encodeReply } from "./encode_reply.ts";
 * console.log(encodeReply({ ok: true, pong: true })); // '{"ok":true,"pong":true}\n'
 * ```
 */
export function encodeReply(reply: Reply): string {
  return JSON.stringify(reply) + "\n";
}

/**
 * {@linkcode encodeReply} as UTF-8 bytes, ready for a socket.
 *
 * @param reply The reply object.
 * @returns The encoded line, `\n` included.
 * @throws {TypeError} If `reply` holds a `BigInt` or a cycle.
 */
export function replyBytes(reply: Reply): Uint8Array {
  return encoder.encode(encodeReply(reply));
}
