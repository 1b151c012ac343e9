/**
 * Pure counting helpers of the load generator: latency samples with exact
 * percentiles, a recent-rate meter, and rounding for reports. No I/O.
 *
 * @module
 */

/** Latency percentiles in milliseconds; every field `null` before the first sample. */
export interface LatencySummary {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/**
 * The nearest-rank percentile of an ascending array: the smallest value
 * with at least `p` percent of the values at or below it.
 *
 * @param sorted Values in ascending order.
 * @param p The percentile, from 0 to 100.
 * @returns The value, or `null` when `sorted` is empty.
 * @throws {RangeError} When `p` is outside 0..100.
 *
 * @example Usage
 * ```ts
 * import { percentile } from "./load_stats.ts";
 * console.log(percentile([1, 2, 3, 4], 50)); // 2
 * ```
 */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`Cannot take percentile ${p}: must be 0..100`);
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Rounds to `digits` decimals (`round(1.23456, 2)` → `1.23`). */
export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Events per second, `0` for an empty interval. */
export function perSecond(count: number, seconds: number): number {
  return seconds > 0 ? count / seconds : 0;
}

/**
 * Latency samples kept exactly (8 bytes each) in a growing `Float64Array`,
 * so percentiles are exact, not bucketed.
 */
export class LatencySamples {
  #values = new Float64Array(1024);
  #count = 0;

  /** How many samples were added. */
  get count(): number {
    return this.#count;
  }

  /** Adds one latency in milliseconds. */
  add(ms: number): void {
    if (this.#count === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.#count++] = ms;
  }

  /** Adds every sample of `other`. */
  addAll(other: LatencySamples): void {
    for (const value of other.#values.subarray(0, other.#count)) this.add(value);
  }

  /**
   * p50, p95, p99 and max, rounded to `digits` decimals.
   *
   * @example Usage
   * ```ts
   * import { LatencySamples } from "./load_stats.ts";
   * const samples = new LatencySamples();
   * for (const ms of [4, 1, 3, 2]) samples.add(ms);
   * console.log(samples.summary()); // { p50: 2, p95: 4, p99: 4, max: 4 }
   * ```
   */
  summary(digits = 3): LatencySummary {
    const sorted = this.#values.slice(0, this.#count).sort();
    const at = (p: number) => {
      const value = percentile(sorted, p);
      return value === null ? null : round(value, digits);
    };
    return { p50: at(50), p95: at(95), p99: at(99), max: at(100) };
  }
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

/** The median of `values` (mean of the middle two for an even count); `null` when empty. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
