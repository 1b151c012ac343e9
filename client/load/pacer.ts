/**
 * The pace of a load run with a rate (`tasa`).
 *
 * @module
 */

/** The longest one timer waits (2^31 − 1 ms): asked for more, it fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * How far before `until` a slot must begin to be handed out: slots are sums
 * of fractional intervals, and one meant to fall on `until` itself must not
 * slip in a rounding error before it.
 */
const ROUNDING_MS = 1e-6;

/** Options of a {@linkcode Pacer}, as `performance.now()` times. */
export interface PacerOptions {
  /** When the first slot begins. @default {the time of the first reservation} */
  start?: number;
  /** No slot is handed out at or after this time (the end of `--duracion`). @default {Infinity} */
  until?: number;
}

/**
 * Hands out send times `1000 / perSecond` ms apart over every connection
 * of a run, never bursting to catch up after a late send, and none at or
 * after `until`.
 *
 * @example Usage
 * ```ts
 * import { Pacer } from "./pacer.ts";
 * const pacer = new Pacer(1000);
 * await pacer.wait(new AbortController().signal); // at once
 * await pacer.wait(new AbortController().signal); // about 1 ms later
 * ```
 */
export class Pacer {
  readonly #interval: number;
  readonly #until: number;
  #next: number;

  /**
   * @param perSecond Sends per second, over every caller.
   * @param options When the pace starts and ends.
   */
  constructor(perSecond: number, options: PacerOptions = {}) {
    this.#interval = 1000 / perSecond;
    this.#next = options.start ?? 0;
    this.#until = options.until ?? Infinity;
  }

  /**
   * When the pace handed out ends: the time of the slot after the last one
   * handed out (when the next send would go), no later than `until`. Before
   * any slot, the start.
   */
  get end(): number {
    return Math.min(this.#next, this.#until);
  }

  /**
   * Reserves the next slot; returns how many ms to wait for it, or null
   * when no slot is left before `until` (nothing is reserved then).
   */
  reserve(): number | null {
    const now = performance.now();
    const slot = Math.max(this.#next, now);
    if (slot >= this.#until - ROUNDING_MS) return null;
    this.#next = slot + this.#interval;
    return slot - now;
  }

  /**
   * Reserves the next slot and waits for it.
   *
   * @returns True once the slot has come, or at once when `signal` aborts;
   * false at once when no slot is left before `until`.
   */
  wait(signal: AbortSignal): Promise<boolean> {
    const ms = this.reserve();
    if (ms === null) return Promise.resolve(false);
    if (ms < 1 || signal.aborted) return Promise.resolve(true);
    const until = performance.now() + ms;
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      // In hops a timer can wait: one asked for longer fires at once.
      const arm = () => {
        const left = until - performance.now();
        if (left < 1) return done();
        timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      };
      signal.addEventListener("abort", done, { once: true });
      arm();
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve(true);
      }
    });
  }
}
