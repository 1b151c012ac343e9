/**
 * A bounded-memory histogram of durations in milliseconds: exact below
 * 1024 ms, within 1/64 (about 1.6 %) above, exact min, max and mean.
 *
 * @module
 */

import type { DurationSummary } from "./protocol/replies.ts";

export type { DurationSummary };

const LINEAR = 1024;
const SUB_BUCKETS = 64;

function bucketOf(ms: number): number {
  if (ms < LINEAR) return ms;
  const exponent = Math.floor(Math.log2(ms)); // ≥ 10
  const base = 2 ** exponent;
  const sub = Math.floor(((ms - base) / base) * SUB_BUCKETS);
  return LINEAR + (exponent - 10) * SUB_BUCKETS + sub;
}

function upperEdgeOf(bucket: number): number {
  if (bucket < LINEAR) return bucket;
  const exponent = 10 + Math.floor((bucket - LINEAR) / SUB_BUCKETS);
  const sub = (bucket - LINEAR) % SUB_BUCKETS;
  const base = 2 ** exponent;
  return Math.floor(base + ((sub + 1) * base) / SUB_BUCKETS) - 1;
}

/**
 * Records durations and answers percentiles.
 *
 * @example Usage
 * ```ts
 * import { DurationHistogram } from "./duration_histogram.ts";
 * const h = new DurationHistogram();
 * for (const ms of [10, 20, 30]) h.record(ms);
 * console.log(h.summary()); // { min: 10, p50: 20, p95: 30, max: 30, avg: 20 }
 * ```
 */
export class DurationHistogram {
  readonly #counts = new Map<number, number>();
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;

  /** How many values were recorded. */
  get count(): number {
    return this.#count;
  }

  /** Records one duration (negative values count as 0). */
  record(ms: number): void {
    const value = Math.max(0, Math.round(ms));
    const bucket = bucketOf(value);
    this.#counts.set(bucket, (this.#counts.get(bucket) ?? 0) + 1);
    this.#count++;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /** The smallest recorded value v such that at least `p` % of values are ≤ v. */
  percentile(p: number): number | null {
    if (this.#count === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    const buckets = [...this.#counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const bucket of buckets) {
      seen += this.#counts.get(bucket)!;
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, upperEdgeOf(bucket)));
    }
    return this.#max;
  }

  /** min, p50, p95, max and the mean (rounded to whole ms). */
  summary(): DurationSummary {
    if (this.#count === 0) return { min: null, p50: null, p95: null, max: null, avg: null };
    return {
      min: this.#min,
      p50: this.percentile(50),
      p95: this.percentile(95),
      max: this.#max,
      avg: Math.round(this.#sum / this.#count),
    };
  }
}
