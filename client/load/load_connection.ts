/**
 * One connection of a load run: a sender that writes orders (one at a
 * time, pipelined, or paced) and a reader that matches replies first in,
 * first out. Used by `run_load.ts`; not a public API.
 *
 * @module
 */

import { LineReader, LineTooLongError } from "../line_reader.ts";
import type { LoadSettings } from "./load_settings.ts";
import type { Pacer } from "./pacer.ts";
import type { Tally } from "./tally.ts";

/** Everything one connection needs from its run. */
export interface RunContext {
  settings: LoadSettings;
  tally: Tally;
  pacer: Pacer | null;
  /** Aborted when sending must stop. */
  stop: AbortSignal;
}

/** Codes a daemon sends as it accepts a connection it will not serve, then closes it. */
const TURNED_AWAY = new Set(["busy", "shutting_down"]);

/** A reply longer than this is not one of ours: the connection is dropped as `protocolo`. */
const MAX_REPLY_BYTES = 1 << 20;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

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
  /** Whether the daemon turned it away unasked (`busy`): a failed connection, not a lost one. */
  #turnedAway = false;
  /** Whether a reply to one of its orders came. */
  #served = false;
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
   * Closes the socket once. With `lost`, the connection was lost before its
   * client finished (one incident `conexion_perdida`); either way each
   * unanswered order counts one `sin_respuesta`.
   */
  close(lost: "conexion_perdida" | null, detail?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const { tally } = this.#ctx;
    tally.error("sin_respuesta", this.#outstanding, detail);
    this.#outstanding = 0;
    if (lost !== null && !this.#turnedAway) {
      tally.conexiones.perdidas++;
      tally.incident(lost, detail);
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
        await pacer.wait(stop);
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
    const reader = new LineReader(this.#conn, { maxLineBytes: MAX_REPLY_BYTES });
    try {
      while (await reader.fill()) {
        const now = performance.now();
        for (let line = reader.next(); line !== null; line = reader.next()) {
          if (line.length > 0) this.#onReply(line, now);
        }
        if (this.#closed) return;
      }
      this.#peerClosed("the daemon closed the connection");
    } catch (error) {
      if (error instanceof LineTooLongError) {
        this.#ctx.tally.incident("protocolo", `Reply longer than ${MAX_REPLY_BYTES} bytes`);
        this.close(null);
      } else this.#peerClosed(`Connection lost: ${message(error)}`);
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
      // Not an answer to anything we sent, e.g. `busy` as the daemon accepts
      // us: no order failed; a connection turned away failed.
      if (kind.kind === "error" && TURNED_AWAY.has(kind.code)) this.#turnAway(kind.code);
      else tally.incident(kind.kind === "error" ? kind.code : "protocolo");
      return;
    }
    // `busy` before any other reply: the connection was turned away as it
    // was accepted, unread. The orders already written on it are not
    // orders of the run (docs/protocol.md §7): a failed connection only.
    if (kind.kind === "error" && !this.#served && TURNED_AWAY.has(kind.code)) {
      tally.enviados -= this.#outstanding;
      this.#outstanding = 0;
      this.#turnAway(kind.code);
      return;
    }
    this.#served = true;
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

  /**
   * The daemon turned it away with `code` (it closes it next): an incident,
   * a failed connection; it sends no more.
   */
  #turnAway(code: string): void {
    this.#ctx.tally.incident(code);
    if (this.#turnedAway) return;
    this.#turnedAway = true;
    this.#ctx.tally.conexiones.abiertas--;
    this.#ctx.tally.conexiones.fallidas++;
    this.close(null, `the daemon turned the connection away (${code})`);
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
