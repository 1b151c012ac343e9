/**
 * The seeds' own client pattern, for the bench: each of `clients` loops
 * connects, sends one order, reads its one reply line and closes, then
 * starts over, until `seconds` pass. Latency is from the start of
 * `connect` to the reply, so it counts the handshake and the accept.
 *
 * Speaks any {@linkcode LoadProtocol} (the daemon, the echo ceiling,
 * Redis), like the load generator the other modes use.
 *
 * @module
 */

import type { LoadProtocol } from "../load/mod.ts";
import { LatencySamples, type LatencySummary } from "../load/latency_samples.ts";

/** Options of {@linkcode runConnectPerOrder}. */
export interface ConnectPerOrderOptions {
  port: number;
  /** @default {"127.0.0.1"} */
  hostname?: string;
  /** Concurrent loops, each with at most one connection open. */
  clients: number;
  /** Seconds of sending. */
  seconds: number;
  protocol: LoadProtocol;
  /** A reply slower than this counts as an error. @default {10000} */
  replyTimeoutMs?: number;
  signal?: AbortSignal;
}

/** What {@linkcode runConnectPerOrder} measured. */
export interface ConnectPerOrderSummary {
  /** Orders answered `accepted` per second. */
  perSecond: number;
  accepted: number;
  errors: number;
  /** Connect → reply. */
  latencyMs: LatencySummary;
  /** Up to 3 distinct failure messages. */
  details: string[];
}

const NEWLINE = 0x0a;

/** Connects, sends one order, reads one line, closes. Resolves with the reply line. */
async function oneOrder(
  hostname: string,
  port: number,
  request: Uint8Array,
  timeoutMs: number,
): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname, port });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    for (let at = 0; at < request.length;) at += await conn.write(request.subarray(at));
    let buffer = new Uint8Array(512);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const bigger = new Uint8Array(buffer.length * 2);
        bigger.set(buffer);
        buffer = bigger;
      }
      const n = await conn.read(buffer.subarray(length));
      if (n === null) throw new Error("closed before a reply");
      const end = buffer.subarray(length, length + n).indexOf(NEWLINE);
      length += n;
      if (end >= 0) return buffer.slice(0, length - n + end);
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
}

/**
 * Runs the one-order-per-connection workload against a target.
 *
 * @example Usage
 * ```ts ignore
 * import { runConnectPerOrder } from "./connect_per_order.ts";
 * import { PEDIDOS_PROTOCOL } from "../load/mod.ts";
 * const s = await runConnectPerOrder({ port: 8888, clients: 50, seconds: 1.5, protocol: PEDIDOS_PROTOCOL });
 * console.log(s.perSecond, s.latencyMs.p50);
 * ```
 */
export async function runConnectPerOrder(
  options: ConnectPerOrderOptions,
): Promise<ConnectPerOrderSummary> {
  const { port, clients, seconds, protocol, signal } = options;
  const hostname = options.hostname ?? "127.0.0.1";
  const timeoutMs = options.replyTimeoutMs ?? 10_000;
  const latency = new LatencySamples();
  const details = new Set<string>();
  let accepted = 0;
  let errors = 0;
  let lastReplyAt = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const loop = async (client: number) => {
    for (let index = 0; performance.now() < end && !signal?.aborted; index++) {
      const request = protocol.encode({ client, index, clave: null });
      const started = performance.now();
      try {
        const line = await oneOrder(hostname, port, request, timeoutMs);
        const now = performance.now();
        lastReplyAt = now;
        const kind = protocol.classify(line);
        if (kind.kind === "accepted") {
          accepted++;
          latency.add(now - started);
        } else {
          errors++;
          if (details.size < 3) details.add(kind.kind === "error" ? kind.code : kind.kind);
        }
      } catch (error) {
        errors++;
        if (details.size < 3) details.add(error instanceof Error ? error.message : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, client) => loop(client)));
  const elapsedS = ((lastReplyAt > 0 ? lastReplyAt : performance.now()) - t0) / 1000;
  return {
    perSecond: elapsedS > 0 ? accepted / elapsedS : 0,
    accepted,
    errors,
    latencyMs: latency.summary(),
    details: [...details],
  };
}
