/**
 * The Redis side of the bench: the same order JSON, sent as
 * `LPUSH pedidos <json>` in RESP, so the load generator drives Redis with
 * the very code that drives the daemon.
 *
 * @module
 */

import { type LoadProtocol, orderJson } from "../load/mod.ts";

const encoder = new TextEncoder();
const COLON = 0x3a;
const MINUS = 0x2d;

/** `LPUSH key <order json>` per order; `:N` replies are accepted, `-ERR` errors. */
export function redisLpushProtocol(key = "pedidos"): LoadProtocol {
  const head = `*3\r\n$5\r\nLPUSH\r\n$${encoder.encode(key).length}\r\n${key}\r\n`;
  return {
    encode(order) {
      const json = encoder.encode(orderJson(order));
      return encoder.encode(`${head}$${json.length}\r\n${orderJson(order)}\r\n`);
    },
    classify(line) {
      if (line[0] === COLON) return { kind: "accepted", id: null, duplicado: false };
      if (line[0] === MINUS) {
        const text = new TextDecoder().decode(line.subarray(1));
        return { kind: "error", code: `redis: ${text.split(" ")[0] ?? "ERR"}` };
      }
      return { kind: "error", code: "protocolo" };
    },
  };
}
