/**
 * The bench's probe of many `ESTADO esperar` waits on one big order: what
 * the daemon's memory comes to while they wait, when they all time out and
 * are answered together, and when their clients never read those answers.
 *
 * Each run has a fresh daemon with one worker held by a first order
 * (`--process-ms 600000`), so that a second, big order stays `pendiente`;
 * then many connections pipeline waits on that order, up to the daemon's
 * `--max-waiters`, each under `--max-waiters-per-connection`.
 *
 * @module
 */

import { PedidosClient } from "../client.ts";
import { closeAll } from "./memory.ts";
import { startDaemon } from "./targets.ts";
import type { ServiceProcess } from "./service_process.ts";

/** Options of {@linkcode probeManyWaits}. */
export interface ManyWaitsOptions {
  /** A directory for the daemons' databases, one subdirectory each (removed by the caller). */
  dir: string;
  /** The checkout whose daemon runs. @default {this one} */
  root?: string | undefined;
  /** Waits in all. @default {10000: the daemon's --max-waiters} */
  waits?: number;
  /** Waits pipelined on each connection. @default {127: under --max-waiters-per-connection, 128} */
  perConnection?: number;
  /** Products of the big order. @default {80} */
  products?: number;
  /** Characters of each product's name, emoji of 4 bytes in UTF-8. @default {200} */
  nameChars?: number;
  /** Every wait's `timeout_ms`. @default {8000} */
  timeoutMs?: number;
  /** Seconds the never-reading clients are watched past the timeouts (0 skips that run). @default {3} */
  notReadingS?: number;
  /** Progress lines, for people. @default {nothing} */
  log?: (line: string) => void;
  signal?: AbortSignal | undefined;
}

/** One daemon's run of {@linkcode probeManyWaits}. */
export interface WaitsRun {
  /** Whether the clients read their replies as they came. */
  reading: boolean;
  /** Waits answered with `"timeout":true` (counted after the watch when the clients do not read). */
  timedOut: number;
  /** Replies of any other kind (a wait refused, say). */
  otherReplies: number;
  /** RSS with both orders placed and the connections open, before the waits: the lowest of four samples over a second, KiB. */
  baselineKiB: number | null;
  /** Highest RSS sampled while the waits were open, KiB. */
  waitingPeakKiB: number | null;
  /** Highest RSS sampled from their timeouts to the last answer (or the end of the watch), KiB. */
  timeoutPeakKiB: number | null;
  /** Seconds from sending the waits to reading the last answer; null when not all came. */
  answeredAfterS: number | null;
  /** RSS samples taken (every 250 ms, with `ps`). */
  samples: number;
}

/** What {@linkcode probeManyWaits} saw. */
export interface ManyWaitsResult {
  waits: number;
  connections: number;
  perConnection: number;
  products: number;
  nameChars: number;
  /** Bytes of the big order's request line. */
  orderBytes: number;
  timeoutMs: number;
  /** Seconds the never-reading clients were watched past `timeoutMs`. */
  notReadingS: number;
  reading: WaitsRun;
  /** The run whose clients never read; null when skipped. */
  notReading: WaitsRun | null;
  /** Seconds the probe took. */
  seconds: number;
}

/** {@linkcode ManyWaitsOptions} with every default filled in. */
type Settings = ManyWaitsOptions & Required<Omit<ManyWaitsOptions, "root" | "log" | "signal">>;

/** The daemon's default `--max-request-bytes`: the big order must fit in it. */
const MAX_REQUEST_BYTES = 65536;
const SAMPLE_MS = 250;
const encoder = new TextEncoder();
/** How an answered wait's line ends (`docs/protocol.md` §2.2). */
const TIMEOUT_END = encoder.encode(',"timeout":true}');

/** Resolves after `ms` with true, or at once with false when `signal` aborts first. */
function delay(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const done = (elapsed: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
      resolve(elapsed);
    };
    const aborted = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", aborted, { once: true });
  });
}

/** The big order: `products` names of `nameChars` emoji, a different emoji each. */
function bigOrder(products: number, nameChars: number): Record<string, unknown> {
  return {
    op: "PEDIDO",
    cliente: "Probe",
    productos: Array.from(
      { length: products },
      (_, i) => String.fromCodePoint(0x1f330 + i % 200).repeat(nameChars),
    ),
    direccion: "Calle Larga 1",
  };
}

/** RSS samples of `process` every {@linkcode SAMPLE_MS} until `stop()`. */
function sampleRss(process: ServiceProcess, start: number) {
  const samples: { atMs: number; kib: number }[] = [];
  const stopped = new AbortController();
  const loop = (async () => {
    while (!stopped.signal.aborted) {
      const kib = await process.rssKiB();
      if (kib !== null) samples.push({ atMs: performance.now() - start, kib });
      await delay(SAMPLE_MS, stopped.signal);
    }
  })();
  return {
    samples,
    async stop(): Promise<void> {
      stopped.abort();
      await loop;
    },
  };
}

/** Replies read on a set of connections, told apart by how their lines end. */
interface Tally {
  timedOut: number;
  other: number;
  lastAtMs: number | null;
  firstAtMs: number | null;
}

/**
 * Reads `expected` reply lines from `conn` (or until it ends), counting
 * into `tally` those that end as an answered wait does; the text is not
 * decoded, only each line's last bytes looked at.
 */
async function readReplies(conn: Deno.TcpConn, expected: number, tally: Tally, start: number) {
  const buffer = new Uint8Array(256 * 1024);
  const k = TIMEOUT_END.length;
  const carry = new Uint8Array(k); // the last k bytes read before this chunk
  let lines = 0;
  try {
    while (lines < expected) {
      const n = await conn.read(buffer);
      if (n === null) return;
      tally.firstAtMs ??= performance.now() - start;
      const chunk = buffer.subarray(0, n);
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
        let same = true;
        for (let j = 0; j < k && same; j++) {
          const at = i - k + j;
          same = (at >= 0 ? chunk[at] : carry[k + at]) === TIMEOUT_END[j];
        }
        if (same) tally.timedOut++;
        else tally.other++;
        lines++;
      }
      if (n >= k) carry.set(chunk.subarray(n - k));
      else {
        carry.copyWithin(0, n);
        carry.set(chunk, k - n);
      }
      tally.lastAtMs = performance.now() - start;
    }
  } catch {
    // closed under the read: the deadline passed
  }
}

/** Waits until `read` settles; when `ms` pass or `signal` aborts first, closes `conns` to end it. */
async function readWithin(
  read: Promise<unknown>,
  conns: Deno.TcpConn[],
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  const done = new AbortController();
  const closing = delay(ms, AbortSignal.any([done.signal, ...(signal ? [signal] : [])]))
    .then(() => done.signal.aborted || closeAll(conns));
  try {
    await read;
  } finally {
    done.abort();
    await closing;
  }
}

function peak(samples: { atMs: number; kib: number }[], from: number, to: number): number | null {
  const inside = samples.filter((s) => s.atMs >= from && s.atMs < to).map((s) => s.kib);
  return inside.length === 0 ? null : Math.max(...inside);
}

/** Places the order that holds the only worker, then the big one, which stays `pendiente`. */
async function placeOrders(port: number, big: Record<string, unknown>): Promise<number> {
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port });
  const first = await client.call("PEDIDO", {
    cliente: "Probe",
    productos: ["pan"],
    direccion: "Calle 1",
  });
  if (!first.ok) throw new Error(`Cannot place the first order: ${first.error}`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const stats = await client.call("STATS");
    if (stats.ok && stats.stats.en_proceso === 1) break;
    if (Date.now() > deadline) throw new Error("Cannot start the first order: not en proceso");
    await delay(20);
  }
  const reply = await client.request(big);
  if (!reply.ok || typeof reply.id !== "number") {
    throw new Error(`Cannot place the big order: ${JSON.stringify(reply).slice(0, 300)}`);
  }
  return reply.id;
}

/** One fresh daemon: the orders, the waits, and its RSS meanwhile. */
async function runOnce(options: Settings, reading: boolean): Promise<WaitsRun> {
  const { waits, perConnection, timeoutMs, signal } = options;
  const dir = `${options.dir}/waits-${reading ? "reading" : "not-reading"}`;
  await Deno.mkdir(dir, { recursive: true });
  const connections = Math.ceil(waits / perConnection);
  await using daemon = await startDaemon({
    dir,
    sync: "full",
    workers: 1,
    processMs: 600_000,
    maxConnections: connections + 16,
    maxPedidos: 1000,
    name: "daemon, many waits",
    root: options.root,
  });
  const id = await placeOrders(daemon.port, bigOrder(options.products, options.nameChars));
  const conns: Deno.TcpConn[] = [];
  try {
    for (let c = 0; c < connections; c++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port: daemon.port }));
    }
    let baselineKiB: number | null = null;
    for (let i = 0; i < 4; i++) {
      await delay(SAMPLE_MS);
      const kib = await daemon.process.rssKiB();
      if (kib !== null) baselineKiB = Math.min(baselineKiB ?? kib, kib);
    }
    const line = `{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":${timeoutMs}}\n`;
    const counts = conns.map((_, c) => Math.min(perConnection, waits - c * perConnection));
    const start = performance.now();
    const sampler = sampleRss(daemon.process, start);
    const tally: Tally = { timedOut: 0, other: 0, lastAtMs: null, firstAtMs: null };
    const read = () =>
      Promise.all(conns.map((conn, c) => readReplies(conn, counts[c]!, tally, start)));
    let answeredAtMs: number | null = null;
    try {
      const reads = reading ? read() : null;
      await Promise.all(conns.map(async (conn, c) => {
        const bytes = encoder.encode(line.repeat(counts[c]!));
        for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
      }));
      if (reads) {
        await readWithin(reads, conns, timeoutMs + 20_000, signal);
        if (tally.timedOut + tally.other === waits) answeredAtMs = tally.lastAtMs;
      } else {
        await delay(timeoutMs + options.notReadingS * 1000, signal);
      }
    } finally {
      await sampler.stop();
    }
    // Not reading: the answers are read only now, to count them.
    if (!reading) await readWithin(read(), conns, 20_000, signal);
    // The waits' timeouts start when the daemon reads them; none is answered before timeoutMs.
    const boundary = reading && tally.firstAtMs !== null
      ? Math.min(tally.firstAtMs, timeoutMs)
      : timeoutMs;
    return {
      reading,
      timedOut: tally.timedOut,
      otherReplies: tally.other,
      baselineKiB,
      waitingPeakKiB: peak(sampler.samples, 0, boundary),
      timeoutPeakKiB: peak(sampler.samples, boundary, Infinity),
      answeredAfterS: answeredAtMs === null ? null : answeredAtMs / 1000,
      samples: sampler.samples.length,
    };
  } finally {
    closeAll(conns);
  }
}

/**
 * Measures the daemon's RSS with `waits` `ESTADO esperar` waits on one big
 * order, in two runs on fresh daemons: clients that read their answers,
 * and clients that never read them (watched `notReadingS` past the
 * timeouts, then read to count the answers). Nothing about time is checked.
 *
 * @throws {RangeError} When the big order would not fit the daemon's default `--max-request-bytes`.
 * @throws {Error} When a daemon does not start or refuses the orders.
 */
export async function probeManyWaits(options: ManyWaitsOptions): Promise<ManyWaitsResult> {
  const settings: Settings = {
    ...options,
    waits: options.waits ?? 10_000,
    perConnection: options.perConnection ?? 127,
    products: options.products ?? 80,
    nameChars: options.nameChars ?? 200,
    timeoutMs: options.timeoutMs ?? 8000,
    notReadingS: options.notReadingS ?? 3,
  };
  const log = options.log ?? (() => {});
  const orderBytes = encoder.encode(
    JSON.stringify(bigOrder(settings.products, settings.nameChars)) + "\n",
  ).length;
  if (orderBytes > MAX_REQUEST_BYTES) {
    throw new RangeError(
      `The big order is ${orderBytes} bytes: over --max-request-bytes ${MAX_REQUEST_BYTES}`,
    );
  }
  const started = performance.now();
  const describe = (run: WaitsRun) =>
    `${run.timedOut} answered, ${run.otherReplies} other; RSS ${run.baselineKiB} → ` +
    `${run.waitingPeakKiB} waiting → ${run.timeoutPeakKiB} KiB at the timeouts`;
  log(`many waits: ${settings.waits} on one ${orderBytes}-byte order, clients reading…`);
  const reading = await runOnce(settings, true);
  log(`many waits, reading: ${describe(reading)}`);
  let notReading: WaitsRun | null = null;
  if (settings.notReadingS > 0 && !options.signal?.aborted) {
    log("many waits: clients not reading…");
    notReading = await runOnce(settings, false);
    log(`many waits, not reading: ${describe(notReading)}`);
  }
  return {
    waits: settings.waits,
    connections: Math.ceil(settings.waits / settings.perConnection),
    perConnection: settings.perConnection,
    products: settings.products,
    nameChars: settings.nameChars,
    orderBytes,
    timeoutMs: settings.timeoutMs,
    notReadingS: settings.notReadingS,
    reading,
    notReading,
    seconds: (performance.now() - started) / 1000,
  };
}
