/**
 * One connection of a load run: a sender that writes orders (one at a
 * time, pipelined, or paced) and a reader that matches replies first in,
 * first out. With several hosts, a connection lost before its client
 * finished, or whose daemon turns it away (`busy`) or answers
 * `shutting_down`, is opened again on the
 * next host and sends the orders it had not sent yet there (at most
 * `hosts.length - 1` moves each). Used by `run_load.ts`; not a public API.
 *
 * @module
 */

import { LineReader, LineTooLongError } from "../line_reader.ts";
import type { LoadSettings } from "./load_settings.ts";
import { openSocket } from "./open_socket.ts";
import type { Pacer } from "./pacer.ts";
import type { Tally } from "./tally.ts";
import { errorMessage } from "./error_message.ts";

/** Everything one connection needs from its run. */
export interface RunContext {
  settings: LoadSettings;
  tally: Tally;
  /** Set once the connections are open, when the run has a rate: it then ends the sending. */
  pacer: Pacer | null;
  /** Aborted when sending must stop: the run interrupted, or `duracionMs` over. */
  stop: AbortSignal;
  /**
   * Aborted only when the run is interrupted (the caller's signal). A paced
   * run's end of `duracionMs` is kept by its pacer, which hands out no slot
   * at or after it: an order whose slot came before it goes out even when
   * its timer fires a little after `stop` does, so the orders sent are those
   * the rate gives, not one fewer when the machine is busy.
   */
  interrupt: AbortSignal;
}

/** Codes a daemon sends as it accepts a connection it will not serve, then closes it. */
const TURNED_AWAY = new Set(["busy", "shutting_down"]);

/** A reply longer than this is not one of ours: the connection is dropped as `protocolo`. */
const MAX_REPLY_BYTES = 1 << 20;

/**
 * Why a connection that ended goes on from another host: it was lost
 * (`lost`, with what happened), turned away with `shutting_down` as it was
 * accepted (`turned_away`), or its daemon answered an order `shutting_down`
 * and then its last replies came (`stopping`).
 */
type Move =
  | { why: "lost"; detail: string }
  | { why: "turned_away" }
  | { why: "stopping" };

/** Why a connection whose replies went out of step with its orders is given up. */
const OUT_OF_STEP =
  "a reply that answers none of its orders: its replies can no longer be matched to them";

/** One connection of a run: a sender and a reader, replies matched first in, first out. */
export class LoadConnection {
  #conn: Deno.TcpConn;
  /** The place in the settings' `hosts` of the current socket's host. */
  #host: number;
  /** Times it was opened again on another host. */
  #moves = 0;
  /** Set when the socket ended and the connection goes on from another host. */
  #move: Move | null = null;
  /** Its daemon answered an order `shutting_down`: it sends no more on this socket. */
  #stopping = false;
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

  constructor(conn: Deno.TcpConn, client: number, ctx: RunContext, host = 0) {
    this.#conn = conn;
    this.#host = host;
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

  /**
   * Sends this connection's orders, waits for their replies, then closes;
   * when its socket ends early and another host may take it, goes on there.
   */
  async run(): Promise<void> {
    for (;;) {
      const reading = this.#read(this.#conn);
      try {
        await this.#send();
        while (!this.#closed && this.#outstanding > 0) await this.#sleepUntilWoken();
        this.close(null);
      } catch (error) {
        this.close("conexion_perdida", `Cannot send: ${errorMessage(error)}`);
      }
      await reading;
      if (this.#move === null || !await this.#moveOn(this.#move)) return;
    }
  }

  /**
   * Whether the connection, its socket ending now, may go on from another
   * host: there is one it has not used up its moves on, and orders left to send.
   */
  #canMove(): boolean {
    const { settings, stop } = this.#ctx;
    return this.#moves < settings.hosts.length - 1 && !stop.aborted &&
      this.#next < settings.pedidos;
  }

  /**
   * Opens the connection again on the first of the hosts after its own
   * (round the list) that accepts it. Counts the move (incident
   * `reconectadas`), or, when none accepts, what ended the socket as it
   * would have been counted without a move.
   *
   * @returns Whether it moved.
   */
  async #moveOn(move: Move): Promise<boolean> {
    this.#move = null;
    const { settings, tally, stop } = this.#ctx;
    const count = settings.hosts.length;
    const order = Array.from({ length: count - 1 }, (_, i) => (this.#host + 1 + i) % count);
    let failure = "";
    try {
      const { conn, host } = await openSocket(settings, stop, order);
      if (!stop.aborted) {
        if (move.why === "lost") tally.incident("conexion_perdida", move.detail);
        tally.incident(
          "reconectadas",
          `A connection to ${settings.hosts[this.#host]} went on from ${settings.hosts[host]}`,
        );
        this.#moves++;
        this.#conn = conn;
        this.#host = host;
        this.#head = 0;
        this.#outstanding = 0;
        this.#closed = false;
        this.#turnedAway = false;
        this.#served = false;
        this.#stopping = false;
        return true;
      }
      conn.close();
    } catch (error) {
      failure = `; not opened again elsewhere: ${errorMessage(error)}`;
    }
    switch (move.why) {
      case "lost":
        tally.conexiones.perdidas++;
        tally.incident("conexion_perdida", move.detail + failure);
        break;
      case "turned_away":
        this.#countFailed();
        break;
      case "stopping":
        if (!stop.aborted) this.#lostToStop(failure);
    }
    return false;
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
      if (this.#canMove()) this.#move = { why: "lost", detail: detail ?? lost };
      else {
        tally.conexiones.perdidas++;
        tally.incident(lost, detail);
      }
    } else if (lost === null && this.#stopping) {
      if (this.#canMove()) this.#move = { why: "stopping" };
      else if (this.#next < this.#ctx.settings.pedidos && !this.#ctx.stop.aborted) {
        // Its daemon stopped with orders of its left unsent, and there is nowhere to go.
        this.#lostToStop(`; ${this.#ctx.settings.pedidos - this.#next} orders not sent`);
      }
    }
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#wakeUp();
  }

  async #send(): Promise<void> {
    const { settings, tally, pacer, stop, interrupt } = this.#ctx;
    const { pipeline, pedidos, protocol, clavePrefijo } = settings;
    // Paced, sending ends when the pacer has no slot left (or the run is interrupted).
    const ended = pacer === null ? stop : interrupt;
    while (!this.#closed && !this.#stopping && !ended.aborted && this.#next < pedidos) {
      if (this.#outstanding >= pipeline) {
        await this.#sleepUntilWoken();
        continue;
      }
      let count = Math.min(pipeline - this.#outstanding, pedidos - this.#next);
      if (pacer !== null) {
        count = 1;
        if (!await pacer.wait(interrupt)) break; // no slot left before the end of duracionMs
        if (this.#closed || this.#stopping || interrupt.aborted) break;
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

  async #read(conn: Deno.TcpConn): Promise<void> {
    const reader = new LineReader(conn, { maxLineBytes: MAX_REPLY_BYTES });
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
      } else this.#peerClosed(`Connection lost: ${errorMessage(error)}`);
    }
  }

  #peerClosed(detail: string): void {
    if (this.#closed) return;
    const finished = this.#outstanding === 0 &&
      (this.#next >= this.#ctx.settings.pedidos || this.#ctx.stop.aborted || this.#stopping);
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
      else {
        // A reply to nothing: the replies that follow cannot be matched to their orders.
        tally.incident(kind.kind === "error" ? kind.code : "protocolo");
        this.close("conexion_perdida", OUT_OF_STEP);
      }
      return;
    }
    // `busy` before any other reply: the connection was turned away as it
    // was accepted, unread. The orders already written on it are not
    // orders of the run (docs/protocol.md §7): a failed connection only.
    // They are sent again if the connection moves to another host.
    if (kind.kind === "error" && !this.#served && TURNED_AWAY.has(kind.code)) {
      tally.enviados -= this.#outstanding;
      this.#next -= this.#outstanding;
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
        // A line that answers no order (not JSON, of another shape): the lines that follow
        // cannot be trusted to answer the orders they would be counted for.
        if (kind.code === "protocolo") {
          this.close("conexion_perdida", OUT_OF_STEP);
          return;
        }
        // Stopping: nothing more is sent here; the orders not sent yet go to
        // another host, if there is one, once the replies in flight here came.
        if (kind.code === "shutting_down") this.#stopping = true;
    }
    this.#wakeUp();
  }

  /**
   * The daemon turned it away with `code` (it closes it next): an incident,
   * a failed connection; it sends no more. With another host to go to
   * (`busy`: that daemon is full of connections; `shutting_down`: it is
   * stopping), it is not failed: it goes on there.
   */
  #turnAway(code: string): void {
    this.#ctx.tally.incident(code);
    if (this.#turnedAway) return;
    this.#turnedAway = true;
    if (this.#canMove()) this.#move = { why: "turned_away" };
    else this.#countFailed();
    this.close(null, `the daemon turned the connection away (${code})`);
  }

  /** Counts it lost: its daemon stopped with orders of its left, and no other host took it. */
  #lostToStop(detail: string): void {
    this.#ctx.tally.conexiones.perdidas++;
    this.#ctx.tally.incident("conexion_perdida", `The daemon stopped${detail}`);
  }

  /** Counted as opened, it turns out a failed connection (turned away, and not moved). */
  #countFailed(): void {
    this.#ctx.tally.conexiones.abiertas--;
    this.#ctx.tally.conexiones.fallidas++;
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
