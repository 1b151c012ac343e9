/**
 * A one-way pipe of messages between two threads over a `SharedArrayBuffer`:
 * one producer, one consumer, no lock. The main thread and the writer speak
 * through two of them instead of a structured-clone `postMessage` per batch:
 * waking a thread blocked in `Atomics.wait` (or a main thread in
 * `Atomics.waitAsync`) costs a fraction of a `postMessage` wake-up
 * (`/work/shared/design/performance-floors.md`: 18–25 µs against 59–64 µs a
 * round trip).
 *
 * Layout: eight 32-bit cells, then the ring of bytes. `HEAD` and `TAIL` count
 * bytes written and read (wrapping at 2³²); `DATA` is bumped by the producer
 * after each write and `SPACE` by the consumer after each read, for
 * `Atomics.wait`/`notify`. Messages are frames: a 32-bit little-endian
 * length, then the message as UTF-8 JSON. A frame larger than the free
 * space (or than the whole ring) goes in pieces as the consumer makes room:
 * {@linkcode FrameWriter} keeps what did not fit, {@linkcode FrameReader}
 * puts the pieces together.
 *
 * @module
 */

const HEAD = 0;
const TAIL = 1;
/** Bumped by the producer after a write: the consumer waits on it. */
export const DATA = 2;
/** Bumped by the consumer after a read: a producer short of room waits on it. */
export const SPACE = 3;
/** Set once to ask the other end to stop now (it is about to be terminated). */
const STOP = 4;
/** 1 while the consumer waits on `DATA`: only then does a write notify (a wake-up costs). */
const DATA_WAITER = 5;
/** 1 while the producer waits on `SPACE`. */
const SPACE_WAITER = 6;
const HEADER_BYTES = 32;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One direction of bytes between two threads. Each end makes its own `SharedPipe` over the buffer. */
export class SharedPipe {
  /** The cells, for `Atomics.wait`/`waitAsync` on {@linkcode DATA} or {@linkcode SPACE}. */
  readonly cells: Int32Array;
  readonly #data: Uint8Array;
  readonly #capacity: number;

  /** A buffer for a pipe of `capacity` bytes (at least 16). */
  static create(capacity: number): SharedArrayBuffer {
    return new SharedArrayBuffer(HEADER_BYTES + Math.max(16, capacity));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.cells = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.#data = new Uint8Array(buffer, HEADER_BYTES);
    this.#capacity = this.#data.length;
  }

  /** Whether {@linkcode SharedPipe.stop} was called on either end. */
  get stopped(): boolean {
    return Atomics.load(this.cells, STOP) === 1;
  }

  /** Asks the consumer to stop, and wakes it if it waits. */
  stop(): void {
    Atomics.store(this.cells, STOP, 1);
    Atomics.add(this.cells, DATA, 1);
    Atomics.notify(this.cells, DATA);
  }

  /** Producer: copies as much of `bytes` as fits and wakes the consumer; returns how many. */
  write(bytes: Uint8Array): number {
    const head = Atomics.load(this.cells, HEAD) >>> 0;
    const tail = Atomics.load(this.cells, TAIL) >>> 0;
    const free = this.#capacity - ((head - tail) >>> 0);
    const n = Math.min(free, bytes.length);
    if (n === 0) return 0;
    const at = head % this.#capacity;
    const first = Math.min(n, this.#capacity - at);
    this.#data.set(bytes.subarray(0, first), at);
    if (n > first) this.#data.set(bytes.subarray(first, n), 0);
    Atomics.store(this.cells, HEAD, (head + n) | 0);
    Atomics.add(this.cells, DATA, 1);
    if (Atomics.load(this.cells, DATA_WAITER) !== 0) Atomics.notify(this.cells, DATA);
    return n;
  }

  /** Consumer: takes every byte waiting (a copy), or null when none; wakes a waiting producer. */
  read(): Uint8Array | null {
    const head = Atomics.load(this.cells, HEAD) >>> 0;
    const tail = Atomics.load(this.cells, TAIL) >>> 0;
    const n = (head - tail) >>> 0;
    if (n === 0) return null;
    const out = new Uint8Array(n);
    const at = tail % this.#capacity;
    const first = Math.min(n, this.#capacity - at);
    out.set(this.#data.subarray(at, at + first));
    if (n > first) out.set(this.#data.subarray(0, n - first), first);
    Atomics.store(this.cells, TAIL, (tail + n) | 0);
    Atomics.add(this.cells, SPACE, 1);
    if (Atomics.load(this.cells, SPACE_WAITER) !== 0) Atomics.notify(this.cells, SPACE);
    return out;
  }

  /**
   * Blocks this thread until `cell` ({@linkcode DATA} or {@linkcode SPACE})
   * is no longer `seen`, or `ms` pass. Not on the main thread.
   */
  waitSync(cell: typeof DATA | typeof SPACE, seen: number, ms: number): void {
    const waiter = cell === DATA ? DATA_WAITER : SPACE_WAITER;
    Atomics.store(this.cells, waiter, 1);
    Atomics.wait(this.cells, cell, seen, ms);
    Atomics.store(this.cells, waiter, 0);
  }

  /** Like {@linkcode SharedPipe.waitSync}, without blocking (for the main thread). */
  async waitAsync(cell: typeof DATA | typeof SPACE, seen: number, ms?: number): Promise<void> {
    const waiter = cell === DATA ? DATA_WAITER : SPACE_WAITER;
    Atomics.store(this.cells, waiter, 1);
    const wait = Atomics.waitAsync(this.cells, cell, seen, ms);
    if (wait.async) await wait.value;
    Atomics.store(this.cells, waiter, 0);
  }
}

/** The producer's side: frames messages and keeps, in order, what did not fit yet. */
export class FrameWriter {
  readonly #pipe: SharedPipe;
  #queue: Uint8Array[] = [];

  constructor(pipe: SharedPipe) {
    this.#pipe = pipe;
  }

  /** Bytes still waiting for room in the pipe. */
  get waiting(): boolean {
    return this.#queue.length > 0;
  }

  /** Frames `message` as JSON and writes what fits; returns true when all of it went in. */
  send(message: unknown): boolean {
    const body = encoder.encode(JSON.stringify(message));
    const frame = new Uint8Array(4 + body.length);
    new DataView(frame.buffer).setUint32(0, body.length, true);
    frame.set(body, 4);
    this.#queue.push(frame);
    return this.flush();
  }

  /** Writes what waits, as far as there is room; returns true when nothing waits any more. */
  flush(): boolean {
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!;
      const n = this.#pipe.write(next);
      if (n < next.length) {
        this.#queue[0] = next.subarray(n);
        return false;
      }
      this.#queue.shift();
    }
    return true;
  }
}

/** The consumer's side: puts frames together from what the pipe gives and parses them. */
export class FrameReader<T> {
  readonly #pipe: SharedPipe;
  #buffer: Uint8Array = new Uint8Array(0);
  #start = 0;

  constructor(pipe: SharedPipe) {
    this.#pipe = pipe;
  }

  /** Reads what the pipe holds and returns every whole message in it, in order. */
  drain(): T[] {
    const bytes = this.#pipe.read();
    if (bytes !== null) {
      if (this.#start === this.#buffer.length) {
        this.#buffer = bytes;
      } else {
        const rest = this.#buffer.subarray(this.#start);
        const joined = new Uint8Array(rest.length + bytes.length);
        joined.set(rest);
        joined.set(bytes, rest.length);
        this.#buffer = joined;
      }
      this.#start = 0;
    }
    const messages: T[] = [];
    const view = new DataView(this.#buffer.buffer, this.#buffer.byteOffset);
    while (this.#buffer.length - this.#start >= 4) {
      const length = view.getUint32(this.#start, true);
      if (this.#buffer.length - this.#start - 4 < length) break;
      const body = this.#buffer.subarray(this.#start + 4, this.#start + 4 + length);
      messages.push(JSON.parse(decoder.decode(body)) as T);
      this.#start += 4 + length;
    }
    return messages;
  }
}
