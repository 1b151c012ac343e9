/**
 * The one line reader of the client side: the pipelining client, the load
 * generator, the bench's echo server and the tests' fake server all split
 * their input with it.
 *
 * @module
 */

const NEWLINE = 0x0a;
const CR = 0x0d;

/** Something bytes are read from: a `Deno.Conn`, or any `Deno.Reader`-like object. */
export interface ByteReader {
  /** Reads into `buffer`; resolves with how many bytes were read, or `null` at end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Options of {@linkcode LineReader}. */
export interface LineReaderOptions {
  /** Longest line accepted, in bytes, without its `\r\n`. @default {1048576} */
  maxLineBytes?: number;
  /** The buffer's first size; it doubles while a line does not fit, up to the cap. @default {16384} */
  bufferBytes?: number;
}

/** A line longer than {@linkcode LineReaderOptions.maxLineBytes}. */
export class LineTooLongError extends RangeError {
  /** The cap that was exceeded. */
  readonly maxLineBytes: number;

  /** @param maxLineBytes The cap that was exceeded. */
  constructor(maxLineBytes: number) {
    super(`Cannot read line: longer than ${maxLineBytes} bytes`);
    this.name = "LineTooLongError";
    this.maxLineBytes = maxLineBytes;
  }
}

/** Reads `stream` chunk by chunk, copying into the caller's buffer. */
function chunkReader(stream: ReadableStream<Uint8Array>): ByteReader {
  const reader = stream.getReader();
  let rest: Uint8Array = new Uint8Array(0);
  return {
    async read(buffer) {
      while (rest.length === 0) {
        const { value, done } = await reader.read();
        if (done) return null;
        rest = value;
      }
      const n = Math.min(buffer.length, rest.length);
      buffer.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      return n;
    },
  };
}

/**
 * Splits a byte source into lines. It owns one buffer: each
 * {@linkcode LineReader.fill} reads once into it, and
 * {@linkcode LineReader.next} hands out the complete lines read so far
 * without copying. A line ends at `\n`; a `\r` before it is dropped; bytes
 * after the last `\n` at end of input are dropped. A line longer than
 * `maxLineBytes` throws {@linkcode LineTooLongError}, so the buffer never
 * grows without bound. Bytes already scanned are not scanned again.
 *
 * Work that belongs to one read (a timestamp, one write of all the replies)
 * goes between `fill()` and the `next()` loop.
 *
 * @example Usage
 * ```ts
 * import { LineReader } from "./line_reader.ts";
 * const reader = new LineReader(ReadableStream.from([new TextEncoder().encode("a\r\nb\n")]));
 * const lines: string[] = [];
 * while (await reader.fill()) {
 *   for (let line = reader.next(); line !== null; line = reader.next()) {
 *     lines.push(new TextDecoder().decode(line));
 *   }
 * }
 * console.log(lines); // ["a", "b"]
 * ```
 */
export class LineReader {
  readonly #source: ByteReader;
  readonly #maxLineBytes: number;
  #buffer: Uint8Array;
  /** The first byte not handed out yet. */
  #start = 0;
  /** The end of the bytes read. */
  #end = 0;
  /** Where the search for the next `\n` resumes. */
  #scan = 0;

  /**
   * @param source A connection, a reader, or a stream of byte chunks.
   * @param options The cap and the first buffer size.
   */
  constructor(source: ByteReader | ReadableStream<Uint8Array>, options: LineReaderOptions = {}) {
    const { maxLineBytes = 1024 * 1024, bufferBytes = 16 * 1024 } = options;
    if (!(maxLineBytes >= 1) || !(bufferBytes >= 1)) {
      throw new RangeError("Cannot create LineReader: sizes must be at least 1");
    }
    this.#source = source instanceof ReadableStream ? chunkReader(source) : source;
    this.#maxLineBytes = maxLineBytes;
    this.#buffer = new Uint8Array(Math.min(bufferBytes, maxLineBytes + 2));
  }

  /**
   * Reads once from the source. Lines handed out before are no longer valid.
   *
   * @returns `false` at end of input.
   * @throws {LineTooLongError} When the buffer is full of one line at its cap.
   */
  fill(): Promise<boolean> {
    if (this.#start === this.#end) {
      this.#start = this.#end = this.#scan = 0;
    } else if (this.#start > 0) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#scan -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buffer.length) {
      try {
        this.#grow();
      } catch (error) {
        return Promise.reject(error);
      }
    }
    // `then`, not `async`/`await`: one promise less per read, on the hot path of the bench.
    return this.#source.read(this.#buffer.subarray(this.#end)).then(this.#filled);
  }

  readonly #filled = (n: number | null): boolean => {
    if (n === null) return false;
    this.#end += n;
    return true;
  };

  /**
   * The next complete line, without its `\n` (or `\r\n`), or `null` when
   * none is buffered (call {@linkcode LineReader.fill}). The line is a view
   * of the reader's buffer, valid until the next `fill()`.
   *
   * @throws {LineTooLongError} When the line is longer than the cap.
   */
  next(): Uint8Array | null {
    const start = this.#start;
    const end = this.#end;
    if (start === end) return null;
    // Searching the whole buffer saves a view per read; a `\n` past `end` is stale and ignored.
    let newline = this.#scan < end ? this.#buffer.indexOf(NEWLINE, this.#scan) : -1;
    if (newline >= end) newline = -1;
    if (newline === -1) {
      // The longest line accepted may be waiting for its `\n` after its `\r`.
      if (end - start > this.#maxLineBytes + 1) throw new LineTooLongError(this.#maxLineBytes);
      this.#scan = end;
      return null;
    }
    const stop = newline > start && this.#buffer[newline - 1] === CR ? newline - 1 : newline;
    if (stop - start > this.#maxLineBytes) throw new LineTooLongError(this.#maxLineBytes);
    this.#start = this.#scan = newline + 1;
    return this.#buffer.subarray(start, stop);
  }

  #grow(): void {
    // One line fills the buffer: room for the longest line accepted and its `\r\n`, no more.
    const limit = this.#maxLineBytes + 2;
    if (this.#buffer.length >= limit) throw new LineTooLongError(this.#maxLineBytes);
    const bigger = new Uint8Array(Math.min(this.#buffer.length * 2, limit));
    bigger.set(this.#buffer);
    this.#buffer = bigger;
  }
}
