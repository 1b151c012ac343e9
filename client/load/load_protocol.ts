/**
 * The wire of the load generator: how an order of a run is written and how
 * a reply line is read. The pedidos protocol is the default; the bench adds
 * Redis (`bench/redis_protocol.ts`) so one generator drives every target.
 *
 * @module
 */

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

/** The pedidos protocol: one JSON order per line; replies per PROTOCOL.md §2.1. */
export const PEDIDOS_PROTOCOL: LoadProtocol = {
  encode: (order) => encoder.encode(orderJson(order) + "\n"),
  classify(line) {
    let reply: unknown;
    try {
      reply = JSON.parse(decoder.decode(line));
    } catch {
      return { kind: "error", code: "protocolo" };
    }
    if (typeof reply !== "object" || reply === null) return { kind: "error", code: "protocolo" };
    const { ok, id, duplicado, error } = reply as Record<string, unknown>;
    if (ok === true) {
      return { kind: "accepted", id: typeof id === "number" ? id : null, duplicado: !!duplicado };
    }
    if (ok !== false) return { kind: "error", code: "protocolo" };
    if (error === "queue_full") return { kind: "rejected" };
    return { kind: "error", code: typeof error === "string" ? error : "protocolo" };
  },
};
