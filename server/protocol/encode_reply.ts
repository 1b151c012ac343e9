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
  const shared = sharedPedido(reply);
  if (shared === null) return JSON.stringify(reply) + "\n";
  // The same text as JSON.stringify's, the order's own part shared by every
  // reply that carries it (joined strings refer to their parts, not copies).
  return `{"ok":true,"pedido":${pedidoJson(shared)}${
    "timeout" in reply ? ',"timeout":true' : ""
  }}\n`;
}

/**
 * The JSON of frozen orders already encoded: a frozen order is one many
 * waits share (`server/orders/waited_orders.ts`), so that ten thousand
 * replies that carry it hold its text once. (Weak: it goes with the order.)
 */
const encoded = new WeakMap<object, string>();

function pedidoJson(pedido: object): string {
  let json = encoded.get(pedido);
  if (json === undefined) encoded.set(pedido, json = JSON.stringify(pedido));
  return json;
}

/**
 * The order of an `ESTADO` reply (`{"ok":true,"pedido":…}`, perhaps with
 * `"timeout":true`, in that order) when it is frozen; else null.
 */
function sharedPedido(reply: Reply): object | null {
  if (!("pedido" in reply) || reply.ok !== true) return null;
  const pedido: unknown = reply.pedido;
  if (typeof pedido !== "object" || pedido === null || !Object.isFrozen(pedido)) return null;
  const keys = Object.keys(reply);
  if (keys[0] !== "ok" || keys[1] !== "pedido") return null;
  if (keys.length === 2) return pedido;
  return keys.length === 3 && keys[2] === "timeout" && reply.timeout === true ? pedido : null;
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
