/**
 * Admission control: a counting semaphore built on `Atomics` over a
 * `SharedArrayBuffer`, so the main thread and the workers share one count.
 *
 * Nothing here ever blocks: {@linkcode Admission.tryAcquire} takes slots
 * with a compare-and-swap loop and {@linkcode Admission.release} gives them
 * back with `Atomics.sub`, from any thread that holds the buffer. The
 * daemon uses it through `capacity.ts`, which decides who takes a slot.
 *
 * @module
 */

const USED = 0;
const CAPACITY = 1;
const SLOTS = 2;

/** The largest capacity: what the semaphore's 32-bit cells count with room to spare. */
export const MAX_CAPACITY = 0x3fffffff;

/**
 * A counting semaphore shared between threads.
 *
 * @example Usage
 * ```ts
 * import { Admission } from "./admission.ts";
 * const sem = Admission.create(2);
 * console.log(sem.tryAcquire(), sem.tryAcquire(), sem.tryAcquire()); // true true false
 * sem.release();
 * console.log(sem.free); // 1
 * ```
 */
export class Admission {
  readonly #cells: Int32Array;

  private constructor(buffer: SharedArrayBuffer) {
    if (buffer.byteLength < SLOTS * 4) throw new RangeError("Cannot use buffer: too small");
    this.#cells = new Int32Array(buffer, 0, SLOTS);
  }

  /** A new semaphore with `capacity` free slots. */
  static create(capacity: number): Admission {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(
        `Cannot create semaphore: capacity must be from 1 to ${MAX_CAPACITY}, got ${capacity}`,
      );
    }
    const sem = new Admission(new SharedArrayBuffer(SLOTS * 4));
    Atomics.store(sem.#cells, CAPACITY, capacity);
    return sem;
  }

  /** The same semaphore seen from another thread (pass {@linkcode buffer} in a message). */
  static from(buffer: SharedArrayBuffer): Admission {
    return new Admission(buffer);
  }

  /** The shared memory; post it to a worker and call {@linkcode Admission.from} there. */
  get buffer(): SharedArrayBuffer {
    return this.#cells.buffer as SharedArrayBuffer;
  }

  /** Total slots. */
  get capacity(): number {
    return Atomics.load(this.#cells, CAPACITY);
  }

  /** Slots taken (may exceed capacity after {@linkcode forceAcquire}). */
  get used(): number {
    return Atomics.load(this.#cells, USED);
  }

  /** Slots free now (never negative). */
  get free(): number {
    return Math.max(0, this.capacity - this.used);
  }

  /** Takes `n` slots if that many are free; never blocks. */
  tryAcquire(n = 1): boolean {
    const cap = this.capacity;
    let used = Atomics.load(this.#cells, USED);
    for (;;) {
      if (used + n > cap) return false;
      const seen = Atomics.compareExchange(this.#cells, USED, used, used + n);
      if (seen === used) return true;
      used = seen;
    }
  }

  /**
   * Takes `n` slots even beyond capacity. Used at restart, when more
   * unfinished orders are found than there are slots: they hold capacity
   * and new orders are refused until enough of them end.
   */
  forceAcquire(n = 1): void {
    Atomics.add(this.#cells, USED, n);
  }

  /** Gives back `n` slots. */
  release(n = 1): void {
    const before = Atomics.sub(this.#cells, USED, n);
    if (before - n < 0) {
      Atomics.add(this.#cells, USED, n);
      throw new RangeError("Cannot release slot: none is taken");
    }
  }
}
