/**
 * The request framer: splits the bytes of one connection into requests
 * (`docs/protocol.md` §1 and §8).
 *
 * A request ends at the first newline where the bracket depth (`{`/`[`
 * against `}`/`]`, outside JSON strings) is ≤ 0, so a pretty-printed object
 * pasted into telnet is one request. Each byte is examined once: the scan
 * state survives between chunks, a request that lies within one chunk is
 * decoded straight from that chunk, and only a request that spans chunks is
 * copied into the framer's own buffer. The buffer never holds more than
 * `maxRequestBytes + 4` bytes (a byte order mark and a `\r` beyond it).
 *
 * @module
 */

/** Options of {@linkcode RequestFramer}. */
export interface FramerOptions {
  /**
   * The largest request accepted, in bytes, not counting its final newline
   * (nor the `\r` before it), the whitespace before it, or a byte order mark
   * at its start (which is dropped). Whitespace at its end counts.
   *
   * @default {65536}
   */
  maxRequestBytes?: number;
}

/** What {@linkcode RequestFramer} finds in the byte stream. */
export type Frame =
  /** One complete request, decoded UTF-8, without its final `\n` / `\r\n`. */
  | { kind: "request"; text: string }
  /** A complete request whose bytes are not valid UTF-8 (the daemon answers `invalid_json`). */
  | { kind: "bad_utf8" }
  /** The request in progress exceeded the limit; the daemon replies `too_large` and closes. */
  | { kind: "too_large" };

/** The default of {@linkcode FramerOptions.maxRequestBytes}. */
export const DEFAULT_MAX_REQUEST_BYTES = 65536;

const LF = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
/** The first byte of a UTF-8 byte order mark (`EF BB BF`). */
const BOM_FIRST = 0xef;
/** The second and third bytes of a UTF-8 byte order mark. */
const BOM_SECOND = 0xbb;
const BOM_THIRD = 0xbf;
/**
 * The bytes beyond the limit a request that begins with a byte order mark
 * may have: the mark's, which is dropped. Granted on its first byte (EF),
 * taken back as soon as a byte after it is not the mark's: a request that
 * begins with another character whose UTF-8 starts with EF (such as U+FF5B
 * "｛") is held to the limit like any other.
 */
const BOM_BYTES = 3;
/** JSON's whitespace only (or nothing). */
const BLANK = /^[ \t\r\n]*$/;

/** First size of the hold buffer. */
const INITIAL_HOLD_BYTES = 1024;
/** A hold buffer larger than this is let go after its request, so idle connections stay small. */
const KEEP_HOLD_BYTES = 16384;

const EMPTY = new Uint8Array(0);
const TOO_LARGE: Frame = Object.freeze({ kind: "too_large" });
const BAD_UTF8: Frame = Object.freeze({ kind: "bad_utf8" });

/**
 * Splits a connection's byte stream into request frames. One per connection.
 *
 * `push()` keeps no reference to the chunk it is given once it returns, so
 * the caller may reuse its read buffer.
 *
 * @example Usage
 * ```ts
 * import { RequestFramer } from "./framing.ts";
 * const framer = new RequestFramer({ maxRequestBytes: 1024 });
 * const bytes = new TextEncoder().encode('{"op":"PING"}\n{\n  "op": "STATS"\n}\n');
 * console.log(framer.push(bytes));
 * // [ { kind: "request", text: '{"op":"PING"}' }, { kind: "request", text: '{\n  "op": "STATS"\n}' } ]
 * ```
 */
export class RequestFramer {
  readonly #max: number;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  /** Bytes of the request in progress that came in earlier chunks (owned copy). */
  #hold: Uint8Array = EMPTY;
  /** How many bytes of {@linkcode RequestFramer.#hold} are in use. */
  #held = 0;
  /** Whether the request in progress has begun (a non-whitespace byte was seen). */
  #started = false;
  /** The bytes the request in progress may have beyond the limit: a leading byte order mark's. */
  #bom = 0;
  /** Which byte of a leading byte order mark comes next, to check (2 or 3), or 0: none to check. */
  #bomNext = 0;
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** Set after `too_large`: nothing more is framed. */
  #closed = false;

  /**
   * @param options The size limit.
   * @throws {RangeError} If `maxRequestBytes` is not a positive safe integer.
   */
  constructor(options: FramerOptions = {}) {
    const { maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES } = options;
    if (!Number.isSafeInteger(maxRequestBytes) || maxRequestBytes < 1) {
      throw new RangeError(
        `Cannot create framer: maxRequestBytes must be a positive integer, got ${maxRequestBytes}`,
      );
    }
    this.#max = maxRequestBytes;
  }

  /** Bytes held for the request in progress (at most `maxRequestBytes + 4`). */
  get bufferedBytes(): number {
    return this.#held;
  }

  /**
   * Feeds bytes as they arrive.
   *
   * @param chunk The next bytes read from the connection.
   * @returns Every request completed by this chunk, in order. A
   * `too_large` frame is always last; after it this framer returns `[]`.
   */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    if (this.#closed) return frames;
    const max = this.#max;
    let started = this.#started;
    let depth = this.#depth;
    let inString = this.#inString;
    let escaped = this.#escaped;
    let bomNext = this.#bomNext;
    // Where the request in progress begins in this chunk, and the last index
    // at which it is still within the limit.
    let start = 0;
    let last = max + this.#bom - this.#held - 1;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const b = chunk[i]!;
      if (!started) {
        if (b === SPACE || b === TAB || b === CR || b === LF) continue;
        started = true;
        start = i;
        this.#bom = b === BOM_FIRST ? BOM_BYTES : 0;
        bomNext = b === BOM_FIRST ? 2 : 0;
        last = i + max + this.#bom - 1;
      } else if (bomNext !== 0) {
        if (b !== (bomNext === 2 ? BOM_SECOND : BOM_THIRD)) {
          // No byte order mark: no bytes beyond the limit.
          this.#bom = 0;
          last -= BOM_BYTES;
          bomNext = 0;
        } else {
          bomNext = bomNext === 2 ? 3 : 0;
        }
      }
      if (b === LF) {
        if (depth <= 0) {
          const frame = this.#frame(chunk, start, i);
          if (frame !== null) frames.push(frame);
          started = false;
          depth = 0;
          inString = false;
          escaped = false;
          continue;
        }
        // Within an object a string goes on across a raw newline (the request
        // is then invalid JSON, but where it ends is where its quotes and
        // brackets say: §8 counts depth outside strings).
        escaped = false;
      } else if (inString) {
        if (escaped) escaped = false;
        else if (b === BACKSLASH) escaped = true;
        else if (b === QUOTE) inString = false;
      } else if (b === QUOTE) {
        inString = true;
      } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        depth++;
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        depth--;
      }
      // One byte over the limit is allowed only if it is the `\r` of a final `\r\n`.
      if (i > last && (i > last + 1 || b !== CR)) {
        this.#close();
        frames.push(TOO_LARGE);
        return frames;
      }
    }
    if (started && start < n) this.#append(chunk.subarray(start));
    this.#started = started;
    this.#depth = depth;
    this.#inString = inString;
    this.#escaped = escaped;
    this.#bomNext = bomNext;
    return frames;
  }

  /**
   * Drops the request in progress, as if none had begun (telnet's Ctrl-C:
   * the line being typed is abandoned). Requests already framed stay framed.
   */
  dropPartial(): void {
    if (!this.#closed) this.#reset();
  }

  /**
   * Tells the framer the peer closed its sending side.
   *
   * @returns The final request if it had non-whitespace content but no
   * trailing newline (even if its brackets do not balance), else `[]`.
   */
  end(): Frame[] {
    const frames: Frame[] = [];
    if (this.#closed) return frames;
    if (this.#started && this.#held > 0) {
      const frame = this.#decode(this.#hold.subarray(0, this.#held));
      if (frame !== null) frames.push(frame);
    }
    this.#reset();
    return frames;
  }

  /** The frame of the request ending just before `chunk[end]` (a newline); null for none. */
  #frame(chunk: Uint8Array, start: number, end: number): Frame | null {
    if (this.#held === 0) return this.#decode(chunk.subarray(start, end));
    this.#append(chunk.subarray(0, end));
    const frame = this.#decode(this.#hold.subarray(0, this.#held));
    this.#held = 0;
    if (this.#hold.length > KEEP_HOLD_BYTES) this.#hold = EMPTY;
    return frame;
  }

  /**
   * Decodes one request's bytes, without one trailing `\r`. A leading byte
   * order mark is dropped (as the decoder does); a line that held nothing
   * else (but whitespace) is a blank line: null, no request.
   */
  #decode(bytes: Uint8Array): Frame | null {
    if (bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    let text;
    try {
      text = this.#decoder.decode(bytes);
    } catch {
      return BAD_UTF8;
    }
    if (bytes[0] === BOM_FIRST && BLANK.test(text)) return null;
    return { kind: "request", text };
  }

  /** Copies `part` to the end of the hold buffer, growing it up to `max + 1` bytes. */
  #append(part: Uint8Array): void {
    const needed = this.#held + part.length;
    if (needed > this.#hold.length) {
      let size = Math.max(this.#hold.length * 2, INITIAL_HOLD_BYTES);
      size = Math.max(Math.min(size, this.#max + BOM_BYTES + 1), needed);
      const grown = new Uint8Array(size);
      grown.set(this.#hold.subarray(0, this.#held));
      this.#hold = grown;
    }
    this.#hold.set(part, this.#held);
    this.#held = needed;
  }

  #reset(): void {
    this.#hold = EMPTY;
    this.#held = 0;
    this.#started = false;
    this.#bom = 0;
    this.#bomNext = 0;
    this.#depth = 0;
    this.#inString = false;
    this.#escaped = false;
  }

  #close(): void {
    this.#reset();
    this.#closed = true;
  }
}
