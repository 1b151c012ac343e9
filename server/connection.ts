/**
 * One client session: frames requests off the socket, hands each to the
 * dispatcher, and writes the replies in request order. Pipelining is
 * bounded: requests are dispatched one by one, only while fewer than
 * `maxPending` are being answered and fewer than `maxUnsentBytes` reply
 * bytes wait for the socket; the rest of a chunk waits in a backlog and reading
 * pauses until it is empty. A reply that is not ready at once gets a turn of
 * the event loop before the next request is dispatched, so quick replies
 * (reads) count against the byte cap before more are started. A peer that
 * stops reading therefore holds at most about `maxUnsentBytes` plus one
 * reply, whatever it sends.
 *
 * @module
 */

import { setImmediate } from "node:timers";

import type { Logger } from "./log.ts";
import { CLOSING_CODES, errorReply } from "./protocol/errors.ts";
import type { ErrorCode } from "./protocol/errors.ts";
import { type Frame, RequestFramer } from "./protocol/framing.ts";
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
  /** Requests being answered (reply not ready yet) before dispatching and reading pause. @default 256 */
  maxPending?: number;
  /** Reply bytes (UTF-16 units) waiting for the socket before dispatching and reading pause. @default 262144 */
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
/** First read buffer: small, so that an idle connection holds little; it doubles when filled. */
const MIN_READ = 128;
const MAX_READ = 65536;

function isClosing(reply: Reply): boolean {
  return reply.ok === false && CLOSING_CODES.has(reply.error as ErrorCode);
}

/** One turn of the event loop (about 0.02 ms; `setTimeout(0)` costs 2 ms). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A client session over one socket. */
export class Connection {
  /** The peer address, for people. */
  readonly peer: string;
  /** `performance.now()` of the last request received or reply written. */
  lastActive = performance.now();
  readonly #socket: Socket;
  readonly #maxRequestBytes: number;
  /** Made at the first byte received, so an idle connection costs less. */
  #framer: RequestFramer | null = null;
  readonly #handle: RequestHandler;
  readonly #logger: Logger;
  readonly #maxPending: number;
  readonly #maxUnsent: number;
  readonly #onClose: ((connection: Connection) => void) | undefined;
  /** Replies in request order; the head is the next to write. */
  readonly #slots: Slot[] = [];
  /** Requests framed but not yet dispatched (from `#backlogHead` on). */
  #backlog: Frame[] = [];
  #backlogHead = 0;
  #pumping = false;
  /** Requests dispatched whose reply is not ready yet. */
  #answering = 0;
  #unsentBytes = 0;
  #writing = false;
  /** `performance.now()` when the write in progress began, or null. */
  #writeSince: number | null = null;
  #stopping = false;
  #readDone = false;
  /** A reply that closes the connection is queued: nothing after it is dispatched. */
  #closeQueued = false;
  #closed = false;
  #wakeReader: (() => void) | null = null;
  #wakeDrained: (() => void) | null = null;

  constructor(socket: Socket, options: ConnectionOptions) {
    this.#socket = socket;
    this.peer = options.peer;
    this.#maxRequestBytes = options.maxRequestBytes;
    this.#handle = options.handle;
    this.#logger = options.logger;
    this.#maxPending = options.maxPending ?? 256;
    this.#maxUnsent = options.maxUnsentBytes ?? 262_144;
    this.#onClose = options.onClose;
  }

  /** Requests received whose replies are not yet written (dispatched or waiting to be). */
  get pending(): number {
    return this.#slots.length + this.#backlog.length - this.#backlogHead;
  }

  /** How long the write in progress has waited for the peer to read, in ms (0 when none). */
  get writeStalledMs(): number {
    return this.#writeSince === null ? 0 : performance.now() - this.#writeSince;
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
          this.#accept(this.#framer?.end() ?? []);
          break;
        }
        this.#framer ??= new RequestFramer({ maxRequestBytes: this.#maxRequestBytes });
        const frames = this.#framer.push(buffer.subarray(0, n));
        if (n === buffer.length && buffer.length < MAX_READ) {
          buffer = new Uint8Array(buffer.length * 2);
        }
        this.#accept(frames);
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
    if (this.pending === 0) this.close();
  }

  /** Closes the socket now. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#slots.length = 0;
    this.#backlog = [];
    this.#backlogHead = 0;
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

  /** Queues framed requests and dispatches what the limits allow. */
  #accept(frames: Frame[]): void {
    if (frames.length === 0 || this.#closed || this.#closeQueued) return;
    this.lastActive = performance.now();
    for (const frame of frames) this.#backlog.push(frame);
    void this.#pump();
  }

  #hasRoom(): boolean {
    return this.#answering < this.#maxPending && this.#unsentBytes < this.#maxUnsent;
  }

  /** Dispatches backlog requests one by one while there is room. One pump at a time. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (
        this.#backlogHead < this.#backlog.length && !this.#closed && !this.#closeQueued &&
        this.#hasRoom()
      ) {
        const frame = this.#backlog[this.#backlogHead++]!;
        if (this.#backlogHead === this.#backlog.length) {
          this.#backlog = [];
          this.#backlogHead = 0;
        }
        const slot = this.#dispatch(frame);
        // Let a reply that is ready within a turn (a read) count before the next request.
        if (slot.line === null && !this.#closed) await nextTurn();
      }
      if (this.#closeQueued) {
        // Nothing after a closing reply is read or answered.
        this.#backlog = [];
        this.#backlogHead = 0;
        this.#readDone = true;
      }
    } finally {
      this.#pumping = false;
    }
    this.#wake();
  }

  #dispatch(frame: Frame): Slot {
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
      this.#answering++;
      reply.then(
        (value) => {
          this.#answering--;
          this.#fill(slot, value);
        },
        (error) => {
          this.#answering--;
          this.#logger.error("request.failed", { peer: this.peer, error: String(error) });
          this.#fill(slot, errorReply("internal"));
        },
      );
    } else this.#fill(slot, reply);
    return slot;
  }

  /** Resumes whatever waits for room: the pump, the reader, the drain at end of input. */
  #wake(): void {
    if (this.#closed) {
      this.#wakeReader?.();
      this.#wakeDrained?.();
      return;
    }
    const backlogged = this.#backlogHead < this.#backlog.length;
    if (backlogged && !this.#pumping && !this.#closeQueued && this.#hasRoom()) {
      void this.#pump();
      return; // the pump wakes the others when it stops
    }
    if (!backlogged) {
      this.#wakeReader?.();
      if (this.#slots.length === 0) {
        this.#wakeDrained?.();
        if (this.#stopping) this.close();
      }
    }
  }

  #fill(slot: Slot, reply: Reply): void {
    if (this.#closed) return;
    slot.line = JSON.stringify(reply) + "\n";
    slot.closes = isClosing(reply);
    this.#unsentBytes += slot.line.length;
    if (slot.closes) {
      this.#closeQueued = true;
      this.#readDone = true;
    }
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
        this.#wake();
      }
    } catch {
      this.close(); // the peer went away mid-reply
    } finally {
      this.#writing = false;
    }
    this.#wake();
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    this.#writeSince = performance.now();
    try {
      let offset = 0;
      while (offset < bytes.length) {
        offset += await this.#socket.write(bytes.subarray(offset));
        this.#writeSince = performance.now(); // the peer read something
      }
    } finally {
      this.#writeSince = null;
    }
  }

  /** Resolves when the backlog is dispatched and there is room for more. */
  #roomToRead(): Promise<void> | void {
    const ready = () =>
      this.#closed || (this.#backlogHead === this.#backlog.length && this.#hasRoom());
    if (ready()) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wakeReader = () => {
      if (ready()) {
        this.#wakeReader = null;
        resolve();
      }
    };
    return promise;
  }

  /** Resolves when every request received is answered (or the connection closed). */
  #drained(): Promise<void> | void {
    const done = () => this.#closed || this.pending === 0;
    if (done()) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wakeDrained = () => {
      if (done()) {
        this.#wakeDrained = null;
        resolve();
      }
    };
    return promise;
  }
}
