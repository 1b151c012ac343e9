/**
 * The pace of a load run with a rate (`tasa`).
 *
 * @module
 */

/** The longest one timer waits (2^31 − 1 ms): asked for more, it fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Hands out send times `1000 / perSecond` ms apart over every connection
 * of a run, never bursting to catch up after a late send.
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
  #next = 0;

  /** @param perSecond Sends per second, over every caller. */
  constructor(perSecond: number) {
    this.#interval = 1000 / perSecond;
  }

  /** Reserves the next slot; returns how many ms to wait for it. */
  reserve(): number {
    const now = performance.now();
    const slot = Math.max(this.#next, now);
    this.#next = slot + this.#interval;
    return slot - now;
  }

  /** Reserves the next slot and waits for it; resolves at once when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    const ms = this.reserve();
    if (ms < 1 || signal.aborted) return Promise.resolve();
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
        resolve();
      }
    });
  }
}
