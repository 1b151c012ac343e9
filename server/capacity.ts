/**
 * Capacity (§4): the one module that takes and gives back the slots of
 * `--max-pedidos`. A slot is a {@linkcode Permit}: taken when an order is
 * accepted (or a task starts, or a failed order is retried), given back
 * when the order's final state is committed (or the task ends). Whatever
 * the store, the decision is made here, on the main thread, over the
 * `Atomics` semaphore of `admission.ts`.
 *
 * @module
 */

import { Admission } from "./admission.ts";

/**
 * One slot of capacity. Releasing it twice gives back one slot: a permit
 * cannot leak a slot on an early return (`using`), nor free one twice.
 */
export interface Permit extends Disposable {
  /** Gives the slot back. Idempotent. */
  release(): void;
  /** Whether {@linkcode Permit.release} was called. */
  readonly released: boolean;
}

/**
 * The daemon's capacity.
 *
 * @example Usage
 * ```ts
 * import { Capacity } from "./capacity.ts";
 * const capacity = Capacity.create(1);
 * const permit = capacity.tryTake();
 * console.log(permit !== null, capacity.tryTake()); // true null
 * permit?.release();
 * console.log(capacity.free); // 1
 * ```
 */
export class Capacity {
  readonly #admission: Admission;

  private constructor(admission: Admission) {
    this.#admission = admission;
  }

  /**
   * A capacity of `slots` free slots.
   *
   * @throws {RangeError} When `slots` is not an integer of 1 or more.
   */
  static create(slots: number): Capacity {
    return new Capacity(Admission.create(slots));
  }

  /** Total slots (`--max-pedidos`). */
  get capacity(): number {
    return this.#admission.capacity;
  }

  /** Slots held now (more than {@linkcode Capacity.capacity} after a restart with a backlog). */
  get used(): number {
    return this.#admission.used;
  }

  /** Slots free now, never negative. */
  get free(): number {
    return this.#admission.free;
  }

  /** Takes a slot if one is free; never waits. */
  tryTake(): Permit | null {
    return this.#admission.tryAcquire() ? this.#permit() : null;
  }

  /**
   * Takes `count` slots even beyond capacity: at a restart, the unfinished
   * orders found hold capacity like any order, so new ones are refused until
   * enough of them end.
   */
  takeBeyond(count: number): Permit[] {
    if (count <= 0) return [];
    this.#admission.forceAcquire(count);
    return Array.from({ length: count }, () => this.#permit());
  }

  #permit(): Permit {
    return new SlotPermit(this.#admission);
  }
}

/** A slot of an {@linkcode Admission}, given back once. */
class SlotPermit implements Permit {
  readonly #admission: Admission;
  #released = false;

  constructor(admission: Admission) {
    this.#admission = admission;
  }

  get released(): boolean {
    return this.#released;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#admission.release();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
