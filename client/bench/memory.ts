/**
 * The bench's memory probes of a daemon: the resident size with many idle
 * connections, and whether a client that sends orders but never reads the
 * replies makes the daemon's memory grow.
 *
 * @module
 */

import type { Stats } from "../../server/protocol/replies.ts";
import { PedidosClient } from "../client.ts";
import { orderJson } from "../load/mod.ts";
import type { Target } from "./targets.ts";

/** What {@linkcode probeIdle} saw. */
export interface IdleResult {
  /** Connections asked for. */
  wanted: number;
  /** Connections the daemon held at once. */
  held: number;
  /** RSS before opening them, KiB. */
  beforeKiB: number | null;
  /** RSS with all of them open, KiB. */
  withKiB: number | null;
}

/** What {@linkcode probeNonReader} saw. */
export interface NonReaderResult {
  seconds: number;
  /** Bytes of orders the client managed to write (the rest waited on TCP backpressure). */
  writtenBytes: number;
  /** Seconds until the client's writes stopped getting through; null if they never stopped. */
  stalledAfterS: number | null;
  /** Orders the daemon accepted from that client meanwhile. */
  accepted: number;
  beforeKiB: number | null;
  /** RSS when the writes stopped getting through, KiB. */
  stalledKiB: number | null;
  /** Highest RSS sampled while the client kept trying, KiB. */
  peakKiB: number | null;
  /** RSS at the end, still connected, KiB. */
  endKiB: number | null;
}

/** The daemon's counters now; null when it refuses (e.g. `busy`). */
async function stats(port: number): Promise<Stats | null> {
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port });
  const reply = await client.call("STATS");
  return reply.ok ? reply.stats : null;
}

/** Closes every connection of `conns`, those already closed too. */
export function closeAll(conns: Deno.TcpConn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Opens `count` connections that send nothing, measures the daemon's RSS
 * with all of them open, then closes them.
 */
export async function probeIdle(target: Target, count: number): Promise<IdleResult> {
  const beforeKiB = await target.process.rssKiB();
  const conns: Deno.TcpConn[] = [];
  let next = 0;
  try {
    const opener = async () => {
      while (next < count) {
        next++;
        try {
          conns.push(await Deno.connect({ hostname: "127.0.0.1", port: target.port }));
        } catch {
          return; // out of descriptors or ports: measure what we have
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(256, count) }, opener));
    let held = 0;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      held = (await stats(target.port))?.conexiones ?? 0;
      if (held >= conns.length + 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const withKiB = await target.process.rssKiB();
    return { wanted: count, held: Math.max(0, held - 1), beforeKiB, withKiB };
  } finally {
    closeAll(conns);
  }
}

/**
 * Writes orders on one connection without ever reading a reply, sampling
 * the daemon's RSS every 250 ms, until the writes have been held back for
 * `holdSeconds` (or `maxSeconds` pass). The daemon works at first — it
 * reads orders and writes replies while the kernel's socket buffers take
 * them — but once those are full it must stop reading, and its memory must
 * stay put.
 */
export async function probeNonReader(
  target: Target,
  options: { holdSeconds: number; maxSeconds: number },
): Promise<NonReaderResult> {
  const encoder = new TextEncoder();
  const chunk = encoder.encode(
    Array.from({ length: 100 }, (_, index) => orderJson({ client: 0, index, clave: null }) + "\n")
      .join(""),
  );
  const before = await stats(target.port);
  const beforeKiB = await target.process.rssKiB();
  let peakKiB = beforeKiB;
  let writtenBytes = 0;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: target.port });
  const writing = (async () => {
    for (;;) {
      for (let at = 0; at < chunk.length;) at += await conn.write(chunk.subarray(at));
      writtenBytes += chunk.length;
    }
  })().catch(() => {}); // ends when the connection is closed under a pending write
  let endKiB: number | null = null;
  let stalledKiB: number | null = null;
  let stalledAfterS: number | null = null;
  const start = Date.now();
  const elapsed = () => (Date.now() - start) / 1000;
  try {
    let lastWritten = -1;
    while (elapsed() < options.maxSeconds) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const rss = await target.process.rssKiB();
      if (rss !== null) peakKiB = Math.max(peakKiB ?? 0, rss);
      endKiB = rss;
      if (writtenBytes !== lastWritten) {
        stalledAfterS = null;
        stalledKiB = null;
      } else if (stalledAfterS === null) {
        stalledAfterS = elapsed();
        stalledKiB = rss;
      } else if (elapsed() - stalledAfterS >= options.holdSeconds) {
        break;
      }
      lastWritten = writtenBytes;
    }
  } finally {
    closeAll([conn]);
    await writing;
  }
  const seconds = elapsed();
  const after = await stats(target.port);
  await target.settle();
  return {
    seconds,
    writtenBytes,
    stalledAfterS,
    accepted: (after?.aceptados ?? 0) - (before?.aceptados ?? 0),
    beforeKiB,
    stalledKiB,
    peakKiB,
    endKiB,
  };
}
