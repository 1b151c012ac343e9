/**
 * Latencies of a load run, kept exactly, and their percentiles. Pure: no I/O.
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
 * import { percentile } from "./latency_samples.ts";
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

  /**
   * p50, p95, p99 and max, rounded to `digits` decimals.
   *
   * @example Usage
   * ```ts
   * import { LatencySamples } from "./latency_samples.ts";
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
