/**
 * Telnet's commands, taken out of a connection's byte stream before it is
 * framed (`docs/protocol.md`, Readings of the spec: "Telnet's commands" and
 * "CR NUL ends a line").
 *
 * A person types requests into `telnet` (§1), and telnet clients send
 * commands among the typed bytes: option negotiation (`IAC WILL x`,
 * `IAC WONT x`, `IAC DO x`, `IAC DONT x`), subnegotiation
 * (`IAC SB x … IAC SE`), and two-byte commands (`IAC IP` for Ctrl-C,
 * `IAC NOP`, `IAC AYT`, …). Left in the line they made the user's first
 * request `invalid_json`, or a telnet waiting for its timing mark mute for
 * good. But byte FF is also what a client sends that is not telnet at all
 * (a binary or hostile one, invalid UTF-8 such as FF FE FD), and its
 * bytes must stay what they are: `invalid_json`, never swallowed with a
 * newline or made into a valid request. So:
 *
 * - anywhere, telnet's Ctrl-C, `IAC IP IAC DO TIMING-MARK` (FF F4 FF FD
 *   06, split across reads or not), drops the request being typed
 *   ({@linkcode INTERRUPT}) and is removed; its timing mark, until it is
 *   answered, makes telnet hide every reply, so it is answered
 *   `WONT TIMING-MARK`;
 * - a connection *negotiates* once an option command (`IAC WILL/WONT/DO/
 *   DONT x`) comes at the start of a line (as PuTTY's and Windows telnet's
 *   first bytes, or `telnet`'s on a change of mode) for an option telnet
 *   has (`x` 0–39 but 10 and 13, which are line ends); from then on every
 *   command is removed wherever it falls (between requests or inside one,
 *   split across reads or not), subnegotiations too, and `IAC IP` and
 *   `IAC DO TIMING-MARK` are each acted on alone;
 * - before that, any other FF is left as it is, for the framing to reject
 *   (invalid UTF-8, `invalid_json`): `IAC IP` or `IAC DO TIMING-MARK` alone
 *   too, so that no such bytes inside a request make it valid, swallow its
 *   line, or put an answer that is no JSON before its reply;
 * - nothing else is answered. The daemon supports no option, and a
 *   request for one left unanswered stays off (RFC 1143): telnet clients
 *   go on as typed. Answering every `DO x`/`WILL x` would write bytes that
 *   are no JSON line between the replies. Not `IAC AYT` either, as every
 *   line the daemon writes is a JSON reply to a request.
 *
 * Telnet in character mode ends a line with CR NUL (NVT's bare carriage
 * return) rather than CR LF: a NUL right after a CR is taken as LF. A raw
 * NUL is never valid JSON, so no JSON request loses by it.
 *
 * Byte FF (IAC) never occurs in UTF-8, so no JSON client sends a command:
 * a chunk with neither byte FF nor NUL (every chunk of a JSON client) is
 * passed on as it is, after one native scan for each. `IAC IAC` (the data
 * byte FF), an IAC before a byte that is no command, and (before the
 * connection negotiates) every command but Ctrl-C's whole sequence are left
 * in the stream for the framing to reject (invalid UTF-8).
 *
 * Pure: bytes in, values out; the connection writes the answers.
 *
 * @module
 */

/** Stands, among the data, where Ctrl-C (`IAC IP`) was: the request being typed is dropped there. */
export const INTERRUPT = "interrupt";

/** What {@linkcode TelnetFilter.push} yields, in stream order: data to frame, or {@linkcode INTERRUPT}. */
export type TelnetPiece = Uint8Array | typeof INTERRUPT;

/**
 * The most bytes of one subnegotiation skipped (after `IAC SB`: its option
 * byte and its data). The daemon keeps none of them (it supports no
 * option), so this bounds not memory but how much input one that never
 * ends (`IAC SB` and no `IAC SE`) can swallow: past it the subnegotiation
 * is given up and the bytes after it are data again (which the framing
 * then answers, `invalid_json` most likely). Real ones are a few bytes
 * (window size, terminal type) to a few hundred.
 */
export const MAX_SUBNEGOTIATION_BYTES = 1024;

const NUL = 0x00;
const LF = 0x0a;
const CR = 0x0d;
/** Interpret As Command: every command begins with it. */
const IAC = 0xff;
/** The lowest command byte after IAC: EOF (236, RFC 1184); below it, none. */
const FIRST_COMMAND = 0xec;
/** Subnegotiation end and begin. */
const SE = 0xf0;
const SB = 0xfa;
/** Interrupt Process. */
const IP = 0xf4;
/** The option verbs, WILL (FB) to DONT (FE): each takes an option byte. */
const WILL = 0xfb;
const WONT = 0xfc;
const DO = 0xfd;
const DONT = 0xfe;
/** The option telnet asks about after Ctrl-C (RFC 860). */
const TIMING_MARK = 0x06;
/**
 * Whether `option` is one telnet has (0–39: RFC 856 to RFC 2217 and the
 * like), but 10 and 13 (obsolete, and the bytes of a line's end): an option
 * command for it at a line's start means a telnet client.
 */
function isTelnetOption(option: number): boolean {
  return option <= 39 && option !== LF && option !== CR;
}

/** `IAC WONT TIMING-MARK`: the answer to `IAC DO TIMING-MARK`. */
const TIMING_MARK_REFUSED = Uint8Array.of(IAC, WONT, TIMING_MARK);

/** Where in a command the stream is: data. */
const DATA = 0;
/** After an IAC in the data. */
const COMMAND = 1;
/** After `IAC WILL` (or WONT, DO, DONT): the option byte comes next. */
const OPTION = 2;
/** Within a subnegotiation. */
const SUB = 3;
/** After an IAC within a subnegotiation. */
const SUB_COMMAND = 4;
/** Before the client negotiates: after `IAC IP`, Ctrl-C only if `IAC DO TIMING-MARK` follows. */
const CTRL_C = 5;
/** After `IAC IP IAC`, the same. */
const CTRL_C_IAC = 6;
/** After `IAC IP IAC DO`, the same. */
const CTRL_C_DO = 7;

const LF_PIECE = Uint8Array.of(LF);
const IAC_PIECE = Uint8Array.of(IAC);

/**
 * Takes telnet's commands out of one connection's byte stream, and says
 * when the timing mark's answer is due. One per connection; its state (a command cut
 * by the end of a read, a CR just before) goes on across reads, and it
 * holds no byte of the stream.
 *
 * @example Usage
 * ```ts
 * import { TelnetFilter } from "./telnet_commands.ts";
 * const telnet = new TelnetFilter();
 * // IAC DO ECHO, then a request ending in CR NUL.
 * const pieces = telnet.push(Uint8Array.of(0xff, 0xfd, 0x01, 0x7b, 0x7d, 0x0d, 0x00));
 * console.log(pieces); // [ Uint8Array(3) [ 123, 125, 13 ], Uint8Array(1) [ 10 ] ]
 * console.log(telnet.takeAnswers()); // null: an option request is not answered
 * ```
 */
export class TelnetFilter {
  #state = DATA;
  /** The verb of the option command in progress (state `OPTION`). */
  #verb = 0;
  /** Bytes of the subnegotiation in progress so far. */
  #subBytes = 0;
  /** Whether the last data byte was a CR (a NUL after it ends a line). */
  #cr = false;
  /** Whether the next data byte begins a line (none yet, or the last was a LF). */
  #lineStart = true;
  /** Whether the command in progress began at the start of a line. */
  #commandAtLineStart = false;
  /** Whether the connection negotiates (see the module docs): every command is removed. */
  #negotiates = false;
  /** Whether `IAC DO TIMING-MARK` came and its answer is not taken yet. */
  #timingMarkDue = false;

  /**
   * Whether an answer is due ({@linkcode TelnetFilter.takeAnswers}): one,
   * however many timing marks come before it is taken.
   */
  get answersDue(): boolean {
    return this.#timingMarkDue;
  }

  /**
   * Filters the next bytes read.
   *
   * @param chunk The bytes read. The pieces returned are views of it (but
   * for a LF that stands for a NUL, and an IAC held from the read before),
   * to be framed before it is used again.
   * @returns The data, without telnet's commands, and {@linkcode INTERRUPT}
   * where `IAC IP` was; `[chunk]` itself when it holds no byte FF or NUL.
   */
  push(chunk: Uint8Array): TelnetPiece[] {
    const n = chunk.length;
    if (n === 0) return [];
    if (this.#state === DATA && chunk.indexOf(IAC) === -1 && chunk.indexOf(NUL) === -1) {
      this.#cr = chunk[n - 1] === CR;
      this.#lineStart = chunk[n - 1] === LF;
      return [chunk];
    }
    const pieces: TelnetPiece[] = [];
    let state = this.#state;
    let cr = this.#cr;
    let lineStart = this.#lineStart;
    // The data not passed on yet begins at `start`; -1 while in a command. The
    // command in progress began at `command` (-1: in an earlier chunk).
    let start = state === DATA ? 0 : -1;
    let command = -1;
    /**
     * The command in progress is data after all, from its IAC on; the data
     * goes on at `i` (the caller reads that byte again, or not).
     */
    const asData = (i: number) => {
      if (command === -1) {
        pieces.push(this.#commandBytes(state)!); // begun in an earlier chunk
        start = i;
      } else if (start === -1) {
        start = command;
      }
      state = DATA;
      cr = false;
      lineStart = false;
    };
    for (let i = 0; i < n; i++) {
      const b = chunk[i]!;
      switch (state) {
        case DATA:
          if (b === IAC) {
            command = i;
            state = COMMAND;
            this.#commandAtLineStart = lineStart;
          } else if (b === NUL && cr) {
            if (i > start) pieces.push(chunk.subarray(start, i));
            pieces.push(LF_PIECE);
            start = i + 1;
            cr = false;
            lineStart = true;
          } else {
            cr = b === CR;
            lineStart = b === LF;
          }
          break;
        case COMMAND: {
          const verb = b >= WILL && b <= DONT;
          if (
            b < FIRST_COMMAND || b === IAC ||
            (!this.#negotiates && !verb && b !== IP)
          ) {
            // `IAC IAC`, an IAC before no command, or a command of a client
            // that does not negotiate: data, for the framing to reject.
            asData(i);
            if (b !== IAC) i--; // the byte after the IAC is data of its own
            break;
          }
          if (start !== -1 && command > start) pieces.push(chunk.subarray(start, command));
          start = -1;
          if (verb) {
            this.#verb = b;
            state = OPTION;
          } else if (b === IP && !this.#negotiates) {
            state = CTRL_C; // Ctrl-C only with its timing mark after it
          } else if (b === SB) {
            this.#subBytes = 0;
            state = SUB;
          } else {
            if (b === IP) pieces.push(INTERRUPT);
            state = DATA;
            start = i + 1;
          }
          break;
        }
        case OPTION:
          if (!this.#negotiates) {
            if (this.#commandAtLineStart && isTelnetOption(b)) {
              this.#negotiates = true;
            } else {
              // Not telnet's: IAC, the verb and this byte are data.
              asData(i);
              i--;
              break;
            }
          }
          if (this.#verb === DO && b === TIMING_MARK) this.#timingMarkDue = true;
          state = DATA;
          start = i + 1;
          break;
        case CTRL_C:
        case CTRL_C_IAC:
        case CTRL_C_DO:
          if (state === CTRL_C && b === IAC) {
            state = CTRL_C_IAC;
          } else if (state === CTRL_C_IAC && b === DO) {
            state = CTRL_C_DO;
          } else if (state === CTRL_C_DO && b === TIMING_MARK) {
            pieces.push(INTERRUPT);
            this.#timingMarkDue = true;
            state = DATA;
            start = i + 1;
          } else {
            // Not Ctrl-C's sequence: its bytes so far are data, and this one is read again.
            asData(i);
            i--;
          }
          break;
        case SUB:
          if (b === IAC) {
            state = SUB_COMMAND;
          } else if (++this.#subBytes > MAX_SUBNEGOTIATION_BYTES) {
            // Given up: what follows is data.
            state = DATA;
            start = i;
            i--;
          }
          break;
        case SUB_COMMAND:
          if (b === SE) {
            state = DATA;
            start = i + 1;
          } else if (b === IAC) {
            state = SUB; // an escaped byte FF of the subnegotiation
            this.#subBytes++;
          } else {
            // IAC and another byte within it: the subnegotiation ended without
            // its IAC SE, and the IAC begins whatever comes next.
            command = i - 1;
            start = command === -1 ? 0 : command;
            state = COMMAND;
            i--;
          }
          break;
      }
    }
    if (state === DATA) {
      if (start !== -1 && start < n) pieces.push(start === 0 ? chunk : chunk.subarray(start));
    } else if (state !== SUB && state !== SUB_COMMAND) {
      // Within a command: the data before it goes on.
      if (start !== -1 && command > start) pieces.push(chunk.subarray(start, command));
    }
    this.#state = state;
    this.#cr = cr;
    this.#lineStart = lineStart;
    return pieces;
  }

  /**
   * The end of input: a command cut by it (`IAC`, `IAC` and a verb, or
   * part of Ctrl-C's sequence before the client negotiates) is data after
   * all, for the framing to reject; a subnegotiation cut by it is dropped.
   *
   * @returns Those bytes, or null for none.
   */
  end(): Uint8Array | null {
    const state = this.#state;
    this.#state = DATA;
    this.#cr = false;
    return this.#commandBytes(state);
  }

  /** The bytes of a command begun in `state` (`IAC`, `IAC` and a verb, part of Ctrl-C's), or null in no such state. */
  #commandBytes(state: number): Uint8Array | null {
    switch (state) {
      case COMMAND:
        return IAC_PIECE;
      case OPTION:
        return Uint8Array.of(IAC, this.#verb);
      case CTRL_C:
        return Uint8Array.of(IAC, IP);
      case CTRL_C_IAC:
        return Uint8Array.of(IAC, IP, IAC);
      case CTRL_C_DO:
        return Uint8Array.of(IAC, IP, IAC, DO);
      default:
        return null;
    }
  }

  /**
   * Takes the answer due, to be written at once (between two reply lines:
   * telnet shows nothing until the timing mark's comes).
   *
   * @returns `IAC WONT TIMING-MARK`, or null when none is due.
   */
  takeAnswers(): Uint8Array | null {
    if (!this.#timingMarkDue) return null;
    this.#timingMarkDue = false;
    return TIMING_MARK_REFUSED;
  }
}
