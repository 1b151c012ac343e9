/**
 * The wire of the load generator: how an order of a run is written and how
 * a reply line is read. The pedidos protocol is the default; the bench adds
 * Redis (`bench/redis_protocol.ts`) so one generator drives every target.
 *
 * @module
 */

import type { Reply } from "../../server/protocol/replies.ts";
import { decodeReply } from "../decode_reply.ts";
import { checkReply } from "../check_reply.ts";

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

/** An order, as {@linkcode checkReply} reads a request: what every reply of a run answers. */
const AN_ORDER = { cliente: "", productos: [], direccion: "" };

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
    try {
      // Of the shape of an answer to an order (§2.1): an `ok` with its id and state, a
      // refusal with its code. Anything else (a `pong`, an id that is no id) accepted nothing.
      checkReply(AN_ORDER, reply);
    } catch {
      return { kind: "error", code: "protocolo" };
    }
    if (reply.ok) {
      const { id, duplicado } = reply as { id: number; duplicado?: unknown };
      return { kind: "accepted", id, duplicado: duplicado === true };
    }
    if (reply.error === "queue_full") return { kind: "rejected" };
    return { kind: "error", code: typeof reply.error === "string" ? reply.error : "protocolo" };
  },
};
