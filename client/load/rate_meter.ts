/**
 * The recent rate of a growing counter, for a load run's progress line.
 * Pure: no I/O.
 *
 * @module
 */

/** Events per second, `0` for an empty interval. */
export function perSecond(count: number, seconds: number): number {
  return seconds > 0 ? count / seconds : 0;
}

/**
 * The rate of a growing counter over roughly the last `windowMs`, from
 * samples taken by the caller (e.g. on every progress tick).
 */
export class RateMeter {
  readonly #windowMs: number;
  readonly #samples: { at: number; count: number }[] = [];

  /** @param windowMs How far back the rate looks. @default 1000 */
  constructor(windowMs = 1000) {
    this.#windowMs = windowMs;
  }

  /**
   * Records the counter's value at time `at` (ms) and returns the rate per
   * second since the oldest sample still inside the window.
   */
  sample(at: number, count: number): number {
    this.#samples.push({ at, count });
    while (this.#samples.length > 2 && at - this.#samples[1]!.at >= this.#windowMs) {
      this.#samples.shift();
    }
    const first = this.#samples[0]!;
    return perSecond(count - first.count, (at - first.at) / 1000);
  }
}
