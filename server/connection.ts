/**
 * One client session: frames requests off the socket, hands each to the
 * dispatcher, and writes the replies in request order. Pipelining is
 * bounded: reading pauses while too many requests are unanswered or too
 * many reply bytes are unsent, so a peer that stops reading cannot grow
 * the daemon's memory.
 *
 * @module
 */

import type { Logger } from "./log.ts";
import { CLOSING_CODES, errorReply } from "./protocol/errors.ts";
import type { ErrorCode } from "./protocol/errors.ts";
import { RequestFramer } from "./protocol/framing.ts";
import type { Reply } from "./protocol/messages.ts";

/** Answers one request's text. */
export type RequestHandler = (text: string) => Reply | Promise<Reply>;

/** Options of {@linkcode Connection}. */
export interface ConnectionOptions {
  /** Largest request in bytes (without its newline). */
  maxRequestBytes: number;
  handle: RequestHandler;
  logger: Logger;
  /** The peer, for logs. */
  peer: string;
  /** Requests received but not yet written back before reading pauses. @default 256 */
  maxPending?: number;
  /** Reply bytes waiting for the socket before reading pauses. @default 262144 */
  maxUnsentBytes?: number;
  /** Called once when the connection is closed. */
  onClose?: (connection: Connection) => void;
}

/** The narrow part of `Deno.Conn` a session needs (tests may pass a fake). */
export type Socket = Pick<Deno.Conn, "read" | "write" | "close">;

interface Slot {
  line: string | null;
  closes: boolean;
}

const encoder = new TextEncoder();
const MIN_READ = 2048;
const MAX_READ = 65536;

function isClosing(reply: Reply): boolean {
  return reply.ok === false && CLOSING_CODES.has(reply.error as ErrorCode);
}

/** A client session over one socket. */
export class Connection {
  /** The peer address, for people. */
  readonly peer: string;
  /** `performance.now()` of the last request received or reply written. */
  lastActive = performance.now();
  readonly #socket: Socket;
  readonly #framer: RequestFramer;
  readonly #handle: RequestHandler;
  readonly #logger: Logger;
  readonly #maxPending: number;
  readonly #maxUnsent: number;
  readonly #onClose: ((connection: Connection) => void) | undefined;
  /** Replies in request order; the head is the next to write. */
  readonly #slots: Slot[] = [];
  #unsentBytes = 0;
  #writing = false;
  #stopping = false;
  #readDone = false;
  #closed = false;
  #wakeReader: (() => void) | null = null;
  #wakeDrained: (() => void) | null = null;

  constructor(socket: Socket, options: ConnectionOptions) {
    this.#socket = socket;
    this.peer = options.peer;
    this.#framer = new RequestFramer({ maxRequestBytes: options.maxRequestBytes });
    this.#handle = options.handle;
    this.#logger = options.logger;
    this.#maxPending = options.maxPending ?? 256;
    this.#maxUnsent = options.maxUnsentBytes ?? 262_144;
    this.#onClose = options.onClose;
  }

  /** Requests received whose replies are not yet written. */
  get pending(): number {
    return this.#slots.length;
  }

  /** Reply bytes waiting to be written. */
  get unsentBytes(): number {
    return this.#unsentBytes;
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Reads and answers requests until the peer leaves or the connection is closed. */
  async serve(): Promise<void> {
    let buffer = new Uint8Array(MIN_READ);
    try {
      while (!this.#closed && !this.#readDone) {
        await this.#roomToRead();
        if (this.#closed || this.#readDone) break;
        let n: number | null;
        try {
          n = await this.#socket.read(buffer);
        } catch {
          n = null; // reset by peer or closed by us
          if (this.#closed) break;
        }
        if (n === null) {
          this.#readDone = true;
          this.#accept(this.#framer.end());
          break;
        }
        const chunk = buffer.slice(0, n);
        if (n === buffer.length && buffer.length < MAX_READ) {
          buffer = new Uint8Array(buffer.length * 2);
        }
        this.#accept(this.#framer.push(chunk));
      }
      // Half-close: answer everything already received, then close.
      if (!this.#closed) await this.#drained();
    } finally {
      this.close();
    }
  }

  /**
   * The daemon is stopping: an idle connection is closed at once; a busy one
   * answers what it has, and any new request gets `shutting_down`.
   */
  beginStop(): void {
    this.#stopping = true;
    if (this.#slots.length === 0) this.close();
  }

  /** Closes the socket now. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#slots.length = 0;
    this.#unsentBytes = 0;
    try {
      this.#socket.close();
    } catch {
      // already closed by the peer
    }
    this.#wakeReader?.();
    this.#wakeDrained?.();
    this.#onClose?.(this);
  }

  #accept(frames: ReturnType<RequestFramer["push"]>): void {
    if (frames.length === 0) return;
    this.lastActive = performance.now();
    for (const frame of frames) {
      if (this.#closed) return;
      let reply: Reply | Promise<Reply>;
      if (frame.kind === "too_large") reply = errorReply("too_large");
      else if (this.#stopping) reply = errorReply("shutting_down");
      else if (frame.kind === "bad_utf8") reply = errorReply("invalid_json");
      else {
        try {
          reply = this.#handle(frame.text);
        } catch (error) {
          this.#logger.error("request.failed", { peer: this.peer, error: String(error) });
          reply = errorReply("internal");
        }
      }
      const slot: Slot = { line: null, closes: false };
      this.#slots.push(slot);
      if (reply instanceof Promise) {
        reply.then(
          (value) => this.#fill(slot, value),
          (error) => {
            this.#logger.error("request.failed", { peer: this.peer, error: String(error) });
            this.#fill(slot, errorReply("internal"));
          },
        );
      } else this.#fill(slot, reply);
      if (slot.closes) {
        // Nothing after a closing reply is read or answered.
        this.#readDone = true;
        return;
      }
    }
  }

  #fill(slot: Slot, reply: Reply): void {
    if (this.#closed) return;
    slot.line = JSON.stringify(reply) + "\n";
    slot.closes = isClosing(reply);
    this.#unsentBytes += slot.line.length;
    if (slot.closes) this.#readDone = true;
    this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (!this.#closed) {
        let text = "";
        let count = 0;
        let closeAfter = false;
        for (const slot of this.#slots) {
          if (slot.line === null) break;
          text += slot.line;
          count++;
          if (slot.closes) {
            closeAfter = true;
            break;
          }
        }
        if (count === 0) break;
        await this.#writeAll(encoder.encode(text));
        if (this.#closed) return;
        this.#slots.splice(0, count);
        this.#unsentBytes -= text.length;
        this.lastActive = performance.now();
        if (closeAfter) {
          this.close();
          return;
        }
        this.#wakeReader?.();
      }
    } catch {
      this.close(); // the peer went away mid-reply
    } finally {
      this.#writing = false;
    }
    if (this.#slots.length === 0) {
      this.#wakeDrained?.();
      if (this.#stopping) this.close();
    }
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#socket.write(bytes.subarray(offset));
    }
  }

  #roomToRead(): Promise<void> | void {
    if (this.#slots.length < this.#maxPending && this.#unsentBytes < this.#maxUnsent) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wakeReader = () => {
      if (
        this.#closed ||
        (this.#slots.length < this.#maxPending && this.#unsentBytes < this.#maxUnsent)
      ) {
        this.#wakeReader = null;
        resolve();
      }
    };
    return promise;
  }

  #drained(): Promise<void> | void {
    if (this.#slots.length === 0) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wakeDrained = () => {
      if (this.#closed || this.#slots.length === 0) {
        this.#wakeDrained = null;
        resolve();
      }
    };
    return promise;
  }
}
