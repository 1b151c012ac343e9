/**
 * One connection of a load run: a sender that writes orders (one at a
 * time, pipelined, or paced) and a reader that matches replies first in,
 * first out; the shared counters; and opening the connections. Used by
 * `load.ts`; not a public API.
 *
 * @module
 */

import type { LoadProtocol } from "./load_protocol.ts";
import { LatencySamples } from "./load_stats.ts";

/** The options of a run after defaults, as every part of it sees them. */
export interface RunSettings {
  hosts: string[];
  port: number;
  clientes: number;
  pedidos: number;
  pipeline: number;
  tasa: number | null;
  duracionMs: number | null;
  clavePrefijo: string | null;
  esperar: boolean;
  esperarTimeoutMs: number;
  replyTimeoutMs: number;
  connectTimeoutMs: number;
  graceMs: number;
  progressEveryMs: number;
  protocol: LoadProtocol;
}

/** The counters of a run, shared by its connections. */
export class Tally {
  enviados = 0;
  aceptados = 0;
  duplicados = 0;
  rechazados = 0;
  errores = 0;
  readonly erroresPorTipo: Record<string, number> = {};
  readonly conexiones = { abiertas: 0, fallidas: 0, perdidas: 0 };
  readonly detalles = new Set<string>();
  readonly latency = new LatencySamples();
  readonly ids: number[] = [];
  lastReplyAt = 0;

  /** Counts `count` errors of `kind`, keeping `detail` (up to 5 distinct) for people. */
  error(kind: string, count = 1, detail?: string): void {
    if (count <= 0) return;
    this.errores += count;
    this.erroresPorTipo[kind] = (this.erroresPorTipo[kind] ?? 0) + count;
    if (detail !== undefined && this.detalles.size < 5) this.detalles.add(detail);
  }

  /** Replies and failures so far, for the progress rate. */
  get answered(): number {
    return this.aceptados + this.rechazados + this.errores;
  }
}

/** Hands out send times `interval` apart, never bursting to catch up. */
export class Pacer {
  readonly #interval: number;
  #next = 0;
  constructor(perSecond: number) {
    this.#interval = 1000 / perSecond;
  }
  /** Reserves the next slot; returns how many ms to wait for it. */
  reserve(): number {
    const now = performance.now();
    const slot = Math.max(this.#next, now);
    this.#next = slot + this.#interval;
    return slot - now;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Everything one connection needs from its run. */
export interface RunContext {
  settings: RunSettings;
  tally: Tally;
  pacer: Pacer | null;
  /** Aborted when sending must stop. */
  stop: AbortSignal;
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const MAX_REPLY_BYTES = 1 << 20;

/** One connection of a run: a sender and a reader, replies matched first in, first out. */
export class LoadConnection {
  readonly #conn: Deno.TcpConn;
  readonly #client: number;
  readonly #ctx: RunContext;
  /** Send times of the requests awaiting replies, a ring of `pipeline` slots. */
  readonly #sentAt: Float64Array;
  #head = 0;
  #outstanding = 0;
  #next = 0;
  #closed = false;
  #wake: (() => void) | null = null;

  constructor(conn: Deno.TcpConn, client: number, ctx: RunContext) {
    this.#conn = conn;
    this.#client = client;
    this.#ctx = ctx;
    this.#sentAt = new Float64Array(ctx.settings.pipeline);
  }

  /** When the oldest unanswered request was written, or null. */
  get oldestSentAt(): number | null {
    return this.#outstanding > 0 && !this.#closed ? this.#sentAt[this.#head]! : null;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends this connection's orders, waits for their replies, then closes. */
  async run(): Promise<void> {
    const reading = this.#read();
    try {
      await this.#send();
      while (!this.#closed && this.#outstanding > 0) await this.#sleepUntilWoken();
      this.close(null);
    } catch (error) {
      this.close("conexion_perdida", `Cannot send: ${message(error)}`);
    }
    await reading;
  }

  /**
   * Closes the socket once. With a `kind`, the connection failed: that
   * counts one error of `kind`, and each unanswered order one `sin_respuesta`.
   */
  close(kind: string | null, detail?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const { tally } = this.#ctx;
    tally.error("sin_respuesta", this.#outstanding, detail);
    this.#outstanding = 0;
    if (kind === "conexion_perdida") {
      tally.conexiones.perdidas++;
      tally.error(kind, 1, detail);
    }
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#wakeUp();
  }

  async #send(): Promise<void> {
    const { settings, tally, pacer, stop } = this.#ctx;
    const { pipeline, pedidos, protocol, clavePrefijo } = settings;
    while (!this.#closed && !stop.aborted && this.#next < pedidos) {
      if (this.#outstanding >= pipeline) {
        await this.#sleepUntilWoken();
        continue;
      }
      let count = Math.min(pipeline - this.#outstanding, pedidos - this.#next);
      if (pacer !== null) {
        count = 1;
        const wait = pacer.reserve();
        if (wait >= 1) await sleep(wait, stop);
        if (this.#closed || stop.aborted) break;
      }
      const parts: Uint8Array[] = [];
      let size = 0;
      for (let i = 0; i < count; i++) {
        const index = this.#next++;
        const clave = clavePrefijo === null
          ? null
          : `${clavePrefijo}-${this.#client + 1}-${index + 1}`;
        const bytes = protocol.encode({ client: this.#client, index, clave });
        parts.push(bytes);
        size += bytes.length;
      }
      let bytes = parts[0]!;
      if (count > 1) {
        bytes = new Uint8Array(size);
        let at = 0;
        for (const part of parts) {
          bytes.set(part, at);
          at += part.length;
        }
      }
      const now = performance.now();
      for (let i = 0; i < count; i++) {
        this.#sentAt[(this.#head + this.#outstanding) % pipeline] = now;
        this.#outstanding++;
      }
      tally.enviados += count;
      for (let at = 0; at < bytes.length && !this.#closed;) {
        at += await this.#conn.write(bytes.subarray(at));
      }
    }
  }

  async #read(): Promise<void> {
    let buffer = new Uint8Array(16 * 1024);
    let length = 0;
    try {
      for (;;) {
        if (length === buffer.length) {
          if (buffer.length >= MAX_REPLY_BYTES) {
            this.#ctx.tally.error("protocolo", 1, `Reply longer than ${MAX_REPLY_BYTES} bytes`);
            this.close(null);
            return;
          }
          const bigger = new Uint8Array(buffer.length * 2);
          bigger.set(buffer);
          buffer = bigger;
        }
        const n = await this.#conn.read(buffer.subarray(length));
        if (n === null) break;
        const now = performance.now();
        const end = length + n;
        let start = 0;
        for (let nl = buffer.indexOf(NEWLINE, length); nl !== -1 && nl < end;) {
          const stop = nl > start && buffer[nl - 1] === CR ? nl - 1 : nl;
          if (stop > start) this.#onReply(buffer.subarray(start, stop), now);
          start = nl + 1;
          nl = start < end ? buffer.indexOf(NEWLINE, start) : -1;
        }
        if (start > 0) buffer.copyWithin(0, start, end);
        length = end - start;
        if (this.#closed) return;
      }
      this.#peerClosed("the daemon closed the connection");
    } catch (error) {
      this.#peerClosed(`Connection lost: ${message(error)}`);
    }
  }

  #peerClosed(detail: string): void {
    if (this.#closed) return;
    const finished = this.#outstanding === 0 &&
      (this.#next >= this.#ctx.settings.pedidos || this.#ctx.stop.aborted);
    this.close(finished ? null : "conexion_perdida", detail);
  }

  #onReply(line: Uint8Array, now: number): void {
    const { tally, settings } = this.#ctx;
    const kind = settings.protocol.classify(line);
    tally.lastReplyAt = now;
    if (this.#outstanding === 0) {
      // Not an answer to anything we sent, e.g. `busy` as the daemon accepts us.
      tally.error(kind.kind === "error" ? kind.code : "protocolo");
      return;
    }
    tally.latency.add(now - this.#sentAt[this.#head]!);
    this.#head = (this.#head + 1) % settings.pipeline;
    this.#outstanding--;
    switch (kind.kind) {
      case "accepted":
        tally.aceptados++;
        if (kind.duplicado) tally.duplicados++;
        if (settings.esperar && kind.id !== null) tally.ids.push(kind.id);
        break;
      case "rejected":
        tally.rechazados++;
        break;
      default:
        tally.error(kind.code);
    }
    this.#wakeUp();
  }

  #sleepUntilWoken(): Promise<void> {
    return new Promise((resolve) => this.#wake = resolve);
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

async function connectOne(
  settings: RunSettings,
  signal: AbortSignal,
): Promise<Deno.TcpConn> {
  let last: unknown = null;
  for (const hostname of settings.hosts) {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), settings.connectTimeoutMs);
    try {
      const conn = await Deno.connect({
        hostname,
        port: settings.port,
        signal: AbortSignal.any([signal, timeout.signal]),
      });
      try {
        conn.setNoDelay(true);
      } catch {
        // not fatal
      }
      return conn;
    } catch (error) {
      if (signal.aborted) throw error;
      last = timeout.signal.aborted
        ? new Error(`no answer within ${settings.connectTimeoutMs} ms`)
        : error;
    } finally {
      clearTimeout(timer);
    }
  }
  const where = settings.hosts.join(", ");
  throw new Error(`Cannot connect to ${where} port ${settings.port}: ${message(last)}`);
}

/** Opens up to `clientes` connections, at most 128 at a time; failures are counted. */
export async function connectAll(
  ctx: RunContext,
  signal: AbortSignal,
): Promise<(LoadConnection | null)[]> {
  const { settings, tally } = ctx;
  const result: (LoadConnection | null)[] = new Array(settings.clientes).fill(null);
  let next = 0;
  async function opener(): Promise<void> {
    while (next < settings.clientes && !signal.aborted) {
      const client = next++;
      try {
        const conn = await connectOne(settings, signal);
        result[client] = new LoadConnection(conn, client, ctx);
        tally.conexiones.abiertas++;
      } catch (error) {
        if (signal.aborted) return;
        tally.conexiones.fallidas++;
        tally.error("conexion", 1, message(error));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(128, settings.clientes) }, opener));
  return result;
}
