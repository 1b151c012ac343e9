/**
 * One client session: frames requests off the socket, hands each to the
 * dispatcher, and writes the replies in request order.
 *
 * **Effects in request order (§8).** A request runs only when the requests
 * still running before it may overlap it ({@linkcode mayOverlap}): a run of
 * orders goes to the store together, reads overlap reads, and anything else
 * waits until everything before it is answered. So a read pipelined after
 * an order sees that order.
 *
 * **Bounded pipelining.** Requests are dispatched one by one, only while fewer than
 * `maxPending` are being answered and fewer than `maxUnsentBytes` reply
 * bytes wait for the socket; the rest of a chunk waits in a backlog and reading
 * pauses until it is empty. A reply that is not ready at once gets a turn of
 * the event loop before the next request is dispatched, so quick replies
 * (reads) count against the byte cap before more are started. A peer that
 * stops reading therefore holds at most about `maxUnsentBytes` plus one
 * reply, whatever it sends. A request whose reply may be large (LISTAR,
 * {@linkcode mayReplyLarge}) counts as `maxReplyBytes` unsent while it is
 * answered, and starts only while the unsent bytes and that count are
 * under the cap, so a connection builds at most one large reply at a time
 * (small requests after it still start).
 *
 * **End of input.** When the peer stops sending (a half-close, or a close:
 * TCP tells them apart only once the daemon writes), every request already
 * received is still answered, waits (`ESTADO esperar`) included: each until
 * its order ends or its `timeout_ms` passes (§2.2, §8 half-close). A wait
 * ends early only when the connection closes (a reply could not be
 * written, or a read failed: the peer reset it and is gone) or the daemon
 * stops.
 *
 * Longer than one sitting: reading, ordering, dispatching and writing share
 * the session's state (the reply slots, the counts that pause reading), and
 * splitting them would spread one state machine over several files.
 *
 * @module
 */

import { setImmediate } from "node:timers";

import { type Dispatcher, isReply, type RunContext } from "./dispatch.ts";
import type { Logger } from "./log.ts";
import { encodeReply } from "./protocol/encode_reply.ts";
import { type LoopTurns, PROCESS_TURNS } from "./loop_turns.ts";
import { CLOSING_CODES, errorReply } from "./protocol/errors.ts";
import { type Frame, RequestFramer } from "./protocol/framing.ts";
import { INTERRUPT, TelnetFilter, type TelnetPiece } from "./protocol/telnet_commands.ts";
import type { Request } from "./protocol/messages.ts";
import type { Reply } from "./protocol/replies.ts";
import { mayReplyLarge } from "./protocol/reply_budget.ts";
import { ReplyStream } from "./protocol/reply_stream.ts";
import { mayOverlap, type Overlap, overlapOf } from "./protocol/request_effects.ts";

/**
 * How long an idle connection stays open once the daemon stops, for a
 * request already sent to be read and answered `shutting_down` rather than
 * dropped unanswered.
 */
const STOP_GRACE_MS = 50;

/** Options of {@linkcode Connection}. */
export interface ConnectionOptions {
  /** Largest request in bytes (without its newline). */
  maxRequestBytes: number;
  dispatcher: Pick<Dispatcher, "parse" | "run" | "refuseStopping">;
  logger: Logger;
  /** The peer, for logs; a function is called once, the first time it is needed. */
  peer: string | (() => string);
  /** Requests being answered (reply not ready yet) before dispatching and reading pause. @default 256 */
  maxPending?: number;
  /** Reply bytes (UTF-16 units) waiting for the socket before dispatching and reading pause. @default 262144 */
  maxUnsentBytes?: number;
  /** The largest reply (`--max-reply-bytes`): what a LISTAR being answered counts as. @default 1048576 */
  maxReplyBytes?: number;
  /**
   * `ESTADO esperar` waits open at once (`--max-waiters-per-connection`): the
   * next one is held, with everything after it, until one ends. @default 128
   */
  maxWaits?: number;
  /**
   * Whether reads run one at a time rather than together
   * ({@linkcode mayOverlap}'s `readsTogether`): for a store whose reads go
   * to a database pool (PostgreSQL). Where reads are answered in turn anyway
   * (SQLite's, synchronous), together costs nothing. @default false
   */
  serialReads?: boolean;
  /** Called once when the connection is closed. */
  onClose?: (connection: Connection) => void;
  /** The event loop's turns this connection shares. @default PROCESS_TURNS */
  turns?: LoopTurns;
}

/** The narrow part of `Deno.Conn` a session needs (tests may pass a fake). */
export type Socket = Pick<Deno.Conn, "read" | "write" | "close">;

interface Slot {
  line: string | null;
  closes: boolean;
  /** A reply written in pieces (a long LISTAR); `line` stays null until its last piece is out. */
  stream?: ReplyStream;
  /** Called once the stream's last piece is written: the request counts as answered then. */
  streamed?: () => void;
  /** Called once its reply is filled in (see {@linkcode Connection}'s turns). */
  filled?: (() => void)[];
}

const encoder = new TextEncoder();
const LF = 0x0a;
/**
 * The reason of a connection's abort: one object made once (an abort
 * without a reason makes a DOMException with its stack every time).
 */
const GONE = new Error("The connection is gone");
/** First read buffer: small, so that an idle connection holds little; it doubles when filled. */
const MIN_READ = 128;
const MAX_READ = 65536;
/**
 * Requests one read may frame before the next read is made small again: a
 * request waiting for its turn takes tens of bytes however short it is, so
 * a 64 KiB read of 2-byte requests would hold about 1.5 MiB.
 */
const FRAMES_PER_READ = 256;
/**
 * Reply text (UTF-16 units) joined into one write at most, unless one reply
 * alone is longer: replies that become ready together (waits ending at once)
 * are written a batch at a time, so the joined text and its bytes never copy
 * more than this beside the replies themselves.
 */
const WRITE_BATCH = 65536;

function isClosing(reply: Reply): boolean {
  return reply.ok === false && CLOSING_CODES.has(reply.error);
}

/** Whether a piece of a read holds a line's end (a LF, or telnet's CR NUL made one). */
function endsLine(piece: TelnetPiece): boolean {
  return piece !== INTERRUPT && piece.includes(LF);
}

/** One turn of the event loop (about 0.02 ms; `setTimeout(0)` costs 2 ms). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A client session over one socket. */
export class Connection {
  #peer: string | (() => string);
  /** `performance.now()` of the last request received or reply written. */
  lastActive = performance.now();
  readonly #socket: Socket;
  readonly #maxRequestBytes: number;
  /** Made at the first byte received, so an idle connection costs less. */
  #framer: RequestFramer | null = null;
  /** Takes telnet's commands out before framing; made with the framer. */
  #telnet: TelnetFilter | null = null;
  readonly #dispatcher: Pick<Dispatcher, "parse" | "run" | "refuseStopping">;
  readonly #logger: Logger;
  readonly #maxPending: number;
  readonly #maxUnsent: number;
  readonly #maxReply: number;
  readonly #maxWaits: number;
  readonly #serialReads: boolean;
  /** After a stop began on an idle connection: closes it unless a request came. */
  #stopTimer: ReturnType<typeof setTimeout> | undefined;
  /** `ESTADO esperar` requests being answered. */
  #waits = 0;
  /** Bytes counted for large replies being built (LISTAR), until they are ready. */
  #reserved = 0;
  readonly #onClose: ((connection: Connection) => void) | undefined;
  /** Replies in request order; the head is the next to write. */
  readonly #slots: Slot[] = [];
  /** Requests framed but not yet dispatched (from `#backlogHead` on). */
  #backlog: Frame[] = [];
  #backlogHead = 0;
  #pumping = false;
  readonly #turns: LoopTurns;
  /** The turn of the event loop ({@linkcode LoopTurns.now}) in which this connection last answered. */
  #loopTurn = -1;
  /** Requests this connection answered in that turn. */
  #answeredThisTurn = 0;
  /** Requests dispatched whose reply is not ready yet. */
  #answering = 0;
  /** The overlap class of the requests being answered (meaningful while `#answering` > 0). */
  #answeringClass: Overlap | null = null;
  /** The next request, parsed, waiting for the requests before it (§8). */
  #held: { request: Request; overlap: Overlap } | null = null;
  /**
   * Aborted when the connection closes: waits end.
   * Made on first use: most connections never need one.
   */
  #goneController: AbortController | null = null;
  /**
   * What every request of this connection runs with, made at its first
   * request (an idle connection holds none); its signal is made on first use.
   */
  #context: RunContext | null = null;
  #unsentBytes = 0;
  #writing = false;
  /** `performance.now()` when the write in progress began, or null. */
  #writeSince: number | null = null;
  /** The longest a write of this connection waited before the peer read some of it, in ms. */
  #longestWriteWaitMs = 0;
  #stopping = false;
  #readDone = false;
  /** A reply that closes the connection is queued: nothing after it is dispatched. */
  #closeQueued = false;
  #closed = false;
  #wakeReader: (() => void) | null = null;
  #wakeDrained: (() => void) | null = null;

  constructor(socket: Socket, options: ConnectionOptions) {
    this.#socket = socket;
    this.#peer = options.peer;
    this.#maxRequestBytes = options.maxRequestBytes;
    this.#dispatcher = options.dispatcher;
    this.#logger = options.logger;
    this.#maxPending = options.maxPending ?? 256;
    this.#maxUnsent = options.maxUnsentBytes ?? 262_144;
    this.#maxReply = options.maxReplyBytes ?? 1_048_576;
    this.#maxWaits = options.maxWaits ?? 128;
    this.#serialReads = options.serialReads ?? false;
    this.#onClose = options.onClose;
    this.#turns = options.turns ?? PROCESS_TURNS;
  }

  /** The peer address, for people. */
  get peer(): string {
    if (typeof this.#peer === "function") this.#peer = this.#peer();
    return this.#peer;
  }

  /** Aborted when the connection closes. */
  get #gone(): AbortSignal {
    this.#goneController ??= new AbortController();
    if (this.#closed) this.#goneController.abort(GONE);
    return this.#goneController.signal;
  }

  #makeContext(): RunContext {
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      get signal() {
        return self.#gone;
      },
      get peer() {
        return self.peer;
      },
      connection: this,
    };
  }

  /**
   * The context a request runs with: the connection's, and for a wait its
   * turn ({@linkcode RunContext.turn}).
   */
  #contextOf(slot: Slot, overlap: Overlap): RunContext {
    const shared = this.#context ??= this.#makeContext();
    if (overlap !== "wait") return shared;
    const context: RunContext = Object.create(shared);
    return Object.assign(context, { turn: () => this.#turn(slot) });
  }

  /**
   * Resolves once every request before `slot` is answered (at once when
   * none is left, or when the connection closed: nothing is then answered).
   */
  #turn(slot: Slot): Promise<void> {
    const earlier: Promise<void>[] = [];
    for (const before of this.#slots) {
      if (before === slot) break;
      if (before.line === null) {
        earlier.push(new Promise((resolve) => (before.filled ??= []).push(resolve)));
      }
    }
    return Promise.all(earlier).then(() => {});
  }

  /** Requests received whose replies are not yet written (dispatched or waiting to be). */
  get pending(): number {
    return this.#slots.length + this.#backlog.length - this.#backlogHead + (this.#held ? 1 : 0);
  }

  /** How long the write in progress has waited for the peer to read, in ms (0 when none). */
  get writeStalledMs(): number {
    return this.#writeSince === null ? 0 : performance.now() - this.#writeSince;
  }

  /**
   * The longest a write has waited before the peer read some of it, in ms:
   * how often a peer reading slowly is seen to read. The system frees room
   * in the socket's buffer in large steps (a third of it, up to megabytes),
   * so a peer that reads steadily, but slowly, is seen to at long intervals.
   */
  get longestWriteWaitMs(): number {
    return this.#longestWriteWaitMs;
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
          // Closed by us, or reset by the peer: unlike a half-close, a reset
          // says nothing can be written any more, so nothing is answered and
          // its waits end now rather than hold their slots until they time out.
          this.close();
          break;
        }
        if (n === null) {
          this.#readDone = true;
          const rest = this.#telnet?.end() ?? null;
          const frames = rest === null || this.#framer === null ? [] : this.#framer.push(rest);
          this.#accept([...frames, ...(this.#framer?.end() ?? [])]);
          break;
        }
        this.#framer ??= new RequestFramer({ maxRequestBytes: this.#maxRequestBytes });
        this.#telnet ??= new TelnetFilter();
        const pieces = this.#telnet.push(buffer.subarray(0, n));
        const frames = this.#frame(this.#framer, pieces);
        // Telnet's answers go out at once, between two reply lines.
        if (this.#telnet.answersDue) void this.#flush();
        // A request coming in line by line (typed into telnet, pasted over a
        // slow link) is activity at each of its lines. Bytes that end no line
        // are not (a peer dribbling a request that never ends is cut by the
        // idle timeout), nor is whitespace between requests.
        if (this.#framer.bufferedBytes > 0 && pieces.some(endsLine)) {
          this.lastActive = performance.now();
        }
        if (frames.length > FRAMES_PER_READ) {
          // Many small requests: each waits as an object until its turn, many
          // times its bytes, so the next reads are small again.
          buffer = new Uint8Array(MIN_READ);
        } else if (n === buffer.length && buffer.length < MAX_READ) {
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
    if (this.pending > 0) {
      this.#wake(); // a request held back (§8) is answered shutting_down now
      return;
    }
    this.#closeWhenQuiet();
  }

  /**
   * Stopping, with everything received answered: closed once nothing more
   * comes for a moment, so that a request already on its way in (in the
   * socket's buffer, not read yet, or sent as the last reply arrived) gets
   * its `shutting_down` rather than no reply at all. A request partly
   * received (a pretty-printed order still being pasted, a line still being
   * typed) is on its way too: the connection waits for its end, to answer it
   * `shutting_down`, until the drain ends (and the stop's last second for
   * replies has passed: `Server.shutdown`).
   */
  #closeWhenQuiet(): void {
    this.#stopTimer ??= setTimeout(() => {
      this.#stopTimer = undefined;
      if (this.pending === 0 && (this.#framer?.bufferedBytes ?? 0) === 0) this.close();
    }, STOP_GRACE_MS);
  }

  /** Closes the socket now. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#stopTimer);
    this.#stopTimer = undefined;
    for (const slot of this.#slots) {
      if (slot.stream) void slot.stream[Symbol.asyncDispose]().catch(() => {});
    }
    this.#slots.length = 0;
    this.#backlog = [];
    this.#backlogHead = 0;
    this.#held = null;
    this.#unsentBytes = 0;
    this.#reserved = 0;
    this.#goneController?.abort(GONE);
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

  /**
   * Whether `held` may start now: §8's order, room for a large reply (one at
   * a time), and for a wait, fewer than `maxWaits` open.
   */
  #mayStart(held: { request: Request; overlap: Overlap }): boolean {
    const readsTogether = !this.#serialReads;
    if (!mayOverlap(held.overlap, this.#answering, this.#answeringClass, readsTogether)) {
      return false;
    }
    if (held.overlap === "wait" && this.#waits >= this.#maxWaits) return false;
    return !mayReplyLarge(held.request) || this.#unsentBytes + this.#reserved < this.#maxUnsent;
  }

  /** Whether the pump could dispatch something now. */
  #canProgress(): boolean {
    if (this.#closed || this.#closeQueued || !this.#hasRoom()) return false;
    if (this.#held !== null) return this.#stopping || this.#mayStart(this.#held);
    return this.#backlogHead < this.#backlog.length;
  }

  /** Dispatches backlog requests one by one while there is room. One pump at a time. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    // Requests are answered a share of a turn of the event loop at a time
    // (see LoopTurns): other connections, the listener and the timers get theirs.
    const turns = this.#turns;
    try {
      while (!this.#closed && !this.#closeQueued && this.#hasRoom()) {
        if (this.#held === null && this.#backlogHead === this.#backlog.length) break;
        const turn = turns.now();
        if (turn !== this.#loopTurn) {
          this.#loopTurn = turn;
          this.#answeredThisTurn = 0;
          turns.joined();
        }
        if (++this.#answeredThisTurn > turns.share()) {
          await nextTurn();
          continue; // closed, stopped or out of room meanwhile: checked again
        }
        turns.answered();
        if (this.#held === null) {
          const frame = this.#backlog[this.#backlogHead++]!;
          if (this.#backlogHead === this.#backlog.length) {
            this.#backlog = [];
            this.#backlogHead = 0;
          }
          const early = this.#answerAtOnce(frame);
          if (early !== null) {
            this.#fill(this.#reserve(), early);
            continue;
          }
        }
        if (this.#stopping) {
          // Parsed before the stop, waiting for the requests before it: it runs no more.
          const { request } = this.#held!;
          this.#held = null;
          this.#fill(this.#reserve(), this.#dispatcher.refuseStopping(request));
          continue;
        }
        const { request, overlap } = this.#held!;
        // §8: wait until the requests before it are answered, unless it may overlap them;
        // a large reply also waits for the one being built and for unsent bytes to drain.
        if (!this.#mayStart(this.#held!)) break;
        this.#held = null;
        const slot = this.#run(request, overlap);
        // Let a reply that is ready within a turn (a read) count before the next request.
        if (slot.line === null && !this.#closed) await nextTurn();
      }
      if (this.#closeQueued) {
        // Nothing after a closing reply is read or answered. A stop's refusal closes it, yet
        // the orders read behind it were received all the same: counted (§8).
        if (this.#stopping) this.#countUnanswered();
        this.#backlog = [];
        this.#backlogHead = 0;
        this.#held = null;
        this.#readDone = true;
      }
    } finally {
      this.#pumping = false;
    }
    this.#wake();
  }

  /** Counts the PEDIDOs among the requests received that will not be answered (stopping). */
  #countUnanswered(): void {
    if (this.#held !== null) this.#dispatcher.refuseStopping(this.#held.request);
    for (let i = this.#backlogHead; i < this.#backlog.length; i++) {
      const frame = this.#backlog[i]!;
      if (frame.kind !== "request") continue;
      try {
        this.#refuseWhileStopping(frame.text);
      } catch {
        // not parsed: not counted
      }
    }
  }

  /**
   * The `shutting_down` of a request read while stopping: parsed first, so
   * that a PEDIDO, valid or not, is counted received all the same (§8).
   */
  #refuseWhileStopping(text: string): Reply {
    const parsed = this.#dispatcher.parse(text); // counts a PEDIDO that is not valid
    return isReply(parsed) ? errorReply("shutting_down") : this.#dispatcher.refuseStopping(parsed);
  }

  /**
   * The reply to a frame that is answered without running anything (too
   * large, bad UTF-8, bad JSON or fields, the daemon stopping), or null when
   * the frame is a request to run; it is then parsed into `#held`.
   */
  #answerAtOnce(frame: Frame): Reply | null {
    if (frame.kind === "too_large") {
      this.#logger.info("request.too_large", { peer: this.peer });
      return errorReply(
        "too_large",
        `❌ Solicitud demasiado grande: el límite es de ${this.#maxRequestBytes} bytes por solicitud. ` +
          "La conexión se cierra.",
      );
    }
    if (this.#stopping) {
      if (frame.kind === "bad_utf8") return errorReply("shutting_down");
      try {
        return this.#refuseWhileStopping(frame.text);
      } catch (error) {
        this.#logger.error("request.failed", { peer: this.peer, error: String(error) });
        return errorReply("shutting_down");
      }
    }
    if (frame.kind === "bad_utf8") return errorReply("invalid_json");
    let parsed;
    try {
      parsed = this.#dispatcher.parse(frame.text);
    } catch (error) {
      this.#logger.error("request.failed", { peer: this.peer, error: String(error) });
      return errorReply("internal");
    }
    if (isReply(parsed)) return parsed;
    this.#held = { request: parsed, overlap: overlapOf(parsed) };
    return null;
  }

  #reserve(): Slot {
    const slot: Slot = { line: null, closes: false };
    this.#slots.push(slot);
    return slot;
  }

  #run(request: Request, overlap: Overlap): Slot {
    const slot = this.#reserve();
    let reply: Reply | Promise<Reply | ReplyStream>;
    try {
      reply = this.#dispatcher.run(request, this.#contextOf(slot, overlap));
    } catch (error) {
      this.#logger.error("request.failed", { peer: this.peer, error: String(error) });
      reply = errorReply("internal");
    }
    if (!(reply instanceof Promise)) {
      this.#fill(slot, reply);
      return slot;
    }
    this.#answering++;
    this.#answeringClass = overlap;
    const wait = overlap === "wait" ? 1 : 0;
    this.#waits += wait;
    const reserved = mayReplyLarge(request) ? this.#maxReply : 0;
    this.#reserved += reserved;
    const done = () => {
      this.#answering--;
      this.#waits -= wait;
      if (!this.#closed) this.#reserved -= reserved;
    };
    const answered = (value: Reply | ReplyStream) => {
      if (value instanceof ReplyStream) {
        if (this.#closed) {
          void value[Symbol.asyncDispose]().catch(() => {});
          return;
        }
        // Answered only once the last piece is written (§8: a change sent
        // after it must not show in its later pieces).
        slot.stream = value;
        slot.streamed = () => {
          done();
          this.#wake();
        };
        void this.#flush();
        return;
      }
      done();
      this.#fill(slot, value);
      this.#wake(); // the next request may have waited for this one
    };
    reply.then(answered, (error) => {
      this.#logger.error("request.failed", { peer: this.peer, error: String(error) });
      answered(errorReply("internal"));
    });
    return slot;
  }

  /** Resumes whatever waits for room: the pump, the reader, the drain at end of input. */
  #wake(): void {
    if (this.#closed) {
      this.#wakeReader?.();
      this.#wakeDrained?.();
      return;
    }
    const backlogged = this.#held !== null || this.#backlogHead < this.#backlog.length;
    if (!this.#pumping && this.#canProgress()) {
      void this.#pump();
      return; // the pump wakes the others when it stops
    }
    if (!backlogged) {
      this.#wakeReader?.();
      if (this.#slots.length === 0) {
        this.#wakeDrained?.();
        if (this.#stopping) this.#closeWhenQuiet();
      }
    }
  }

  /**
   * The requests the pieces of a read complete (`telnet_commands.ts`):
   * telnet's Ctrl-C among them drops the request being typed.
   */
  #frame(framer: RequestFramer, pieces: TelnetPiece[]): Frame[] {
    const [first] = pieces;
    if (pieces.length === 1 && first !== INTERRUPT) return framer.push(first!);
    const frames: Frame[] = [];
    for (const piece of pieces) {
      if (piece === INTERRUPT) framer.dropPartial();
      else frames.push(...framer.push(piece));
    }
    return frames;
  }

  #fill(slot: Slot, reply: Reply): void {
    if (this.#closed) return;
    slot.line = encodeReply(reply);
    for (const resolve of slot.filled?.splice(0) ?? []) resolve();
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
        // Telnet's answers (`telnet_commands.ts`), at a line boundary of the replies.
        const answers = this.#telnet?.takeAnswers() ?? null;
        if (answers !== null) {
          await this.#writeAll(answers);
          if (this.#closed) return;
        }
        const head = this.#slots[0];
        if (head?.stream) {
          await this.#writeStream(head, head.stream);
          if (this.#closed) return;
          this.#slots.shift();
          this.lastActive = performance.now();
          head.streamed?.();
          continue;
        }
        let text = "";
        let count = 0;
        let closeAfter = false;
        for (const slot of this.#slots) {
          if (slot.line === null || slot.stream) break;
          if (count > 0 && text.length + slot.line.length > WRITE_BATCH) break;
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

  /**
   * Writes a reply in pieces, making each only once the one before is
   * written. A piece that cannot be made (the store failed mid-list) cannot
   * be answered any more, half a line being out: the connection closes.
   */
  async #writeStream(slot: Slot, stream: ReplyStream): Promise<void> {
    let piece: string | null = stream.first;
    while (piece !== null) {
      const bytes = encoder.encode(piece);
      // The piece counts as unsent while it is written: it is what this
      // connection holds of the reply (§1's bound, `Server.bufferedBytes`).
      this.#unsentBytes += bytes.length;
      try {
        await this.#writeAll(bytes);
      } finally {
        if (!this.#closed) this.#unsentBytes -= bytes.length;
      }
      if (this.#closed) return;
      this.lastActive = performance.now();
      try {
        piece = await stream.next();
      } catch (error) {
        this.#logger.error("request.failed", {
          peer: this.peer,
          error: String(error),
          detail: "the reply was cut short: its start was already written",
        });
        this.close();
        return;
      }
      if (this.#closed) return; // close() disposed of the stream: its slot was still queued
    }
    slot.line = "";
    for (const resolve of slot.filled?.splice(0) ?? []) resolve();
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    this.#writeSince = performance.now();
    try {
      let offset = 0;
      while (offset < bytes.length) {
        offset += await this.#socket.write(bytes.subarray(offset));
        // The peer read something.
        const now = performance.now();
        this.#longestWriteWaitMs = Math.max(this.#longestWriteWaitMs, now - this.#writeSince);
        this.#writeSince = now;
      }
    } finally {
      this.#writeSince = null;
    }
  }

  /** Resolves when the backlog is dispatched and there is room for more. */
  #roomToRead(): Promise<void> | void {
    const ready = () =>
      this.#closed ||
      (this.#held === null && this.#backlogHead === this.#backlog.length && this.#hasRoom());
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
