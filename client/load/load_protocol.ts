/**
 * The wire of the load generator: how an order of a run is written and how
 * a reply line is read. The pedidos protocol is the default; the bench adds
 * Redis (`bench/redis_protocol.ts`) so one generator drives every target.
 *
 * @module
 */

import type { Reply } from "../../server/protocol/replies.ts";
import { decodeReply } from "../decode_reply.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One order of a run: which connection sends it, its number there, its key. */
export interface OrderRef {
  /** The connection, 0-based. */
  client: number;
  /** The order's number on its connection, 0-based. */
  index: number;
  /** The idempotency key, or null. */
  clave: string | null;
}

/** What one reply says. */
export type ReplyKind =
  | { kind: "accepted"; id: number | null; duplicado: boolean }
  | { kind: "rejected" }
  | { kind: "error"; code: string };

/** How orders are written and replies are read: one reply line per request. */
export interface LoadProtocol {
  /** The bytes of one request, terminator included. */
  encode(order: OrderRef): Uint8Array;
  /** What one reply line says (without its `\n`; it may end in `\r`). */
  classify(line: Uint8Array): ReplyKind;
}

/** The JSON of an order of the run (the same for every target of the bench). */
export function orderJson(order: OrderRef): string {
  const n = order.client + 1;
  const clave = order.clave === null ? "" : `,"clave":${JSON.stringify(order.clave)}`;
  return `{"cliente":"Cliente ${n}","productos":["pan",{"nombre":"leche","cantidad":${
    1 + order.index % 3
  }}],"direccion":"Calle Falsa ${100 + n}"${clave}}`;
}

/** The pedidos protocol: one JSON order per line; replies per docs/protocol.md §2.1. */
export const PEDIDOS_PROTOCOL: LoadProtocol = {
  encode: (order) => encoder.encode(orderJson(order) + "\n"),
  classify(line) {
    let reply: Reply;
    try {
      reply = decodeReply(decoder.decode(line));
    } catch {
      return { kind: "error", code: "protocolo" };
    }
    if (reply.ok) {
      // A PEDIDO's reply; any other `ok` (from another line server) counts as accepted too.
      if (!("id" in reply)) return { kind: "accepted", id: null, duplicado: false };
      return { kind: "accepted", id: reply.id, duplicado: reply.duplicado === true };
    }
    if (reply.error === "queue_full") return { kind: "rejected" };
    return { kind: "error", code: typeof reply.error === "string" ? reply.error : "protocolo" };
  },
};
