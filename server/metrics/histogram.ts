/**
 * A Prometheus-style histogram: fixed upper bounds, a count per bucket, the
 * sum and the count. Constant memory; `observe` is a short scan.
 *
 * @module
 */

/** A histogram as it is exported: cumulative counts per upper bound. */
export interface HistogramSnapshot {
  /** `[le, observations ≤ le]`, bounds ascending, `+Inf` last. */
  buckets: [le: number, count: number][];
  /** The sum of every value observed. */
  sum: number;
  /** How many values were observed. */
  count: number;
}

/**
 * Counts observations into buckets.
 *
 * @example Usage
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const h = new Histogram([0.1, 1]);
 * h.observe(0.05);
 * h.observe(3);
 * console.log(h.snapshot().buckets); // [[0.1, 1], [1, 1], [Infinity, 2]]
 * ```
 */
export class Histogram {
  readonly #bounds: number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /**
   * Makes an empty histogram.
   *
   * @param bounds The buckets' upper bounds, ascending (`+Inf` is added).
   * @throws {RangeError} When the bounds do not ascend.
   */
  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) {
        throw new RangeError(`Cannot make histogram: bounds must ascend, got ${bounds.join(", ")}`);
      }
    }
    this.#bounds = [...bounds];
    this.#counts = new Array(bounds.length + 1).fill(0);
  }

  /** Records one value. */
  observe(value: number): void {
    let i = 0;
    while (i < this.#bounds.length && value > this.#bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  /** The cumulative counts, sum and count now. */
  snapshot(): HistogramSnapshot {
    let seen = 0;
    const buckets: [number, number][] = this.#counts.map((n, i) => {
      seen += n;
      return [this.#bounds[i] ?? Infinity, seen];
    });
    return { buckets, sum: this.#sum, count: this.#count };
  }
}
