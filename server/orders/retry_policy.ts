/**
 * When a failed attempt is tried again (docs/protocol.md §11): up to
 * `maxAttempts` attempts in all, the n-th retry after `baseMs · 2^(n−1)`
 * with ±{@linkcode JITTER} jitter, capped at {@linkcode MAX_BACKOFF_MS} (or, for a
 * base longer than that, at the first wait's longest: a base is never cut short).
 * With the jitter at a quarter, every wait is longer than any earlier one
 * could be (the shortest n-th wait, 1.5·2^(n−2)·base, beats the longest
 * (n−1)-th, 1.25·2^(n−2)·base), so attempt times grow.
 *
 * The policy is pure; {@linkcode backoff} is the wait itself, which a
 * CANCELAR (or a stop) cuts short through its signal.
 *
 * @module
 */

/** The jitter: a wait is its nominal time times a factor in `[1 − JITTER, 1 + JITTER)`. */
export const JITTER = 0.25;

/** The longest wait between two attempts, unless the base is longer: 10 minutes. */
export const MAX_BACKOFF_MS = 600_000;

/** Options of {@linkcode RetryPolicy}. */
export interface RetryPolicyOptions {
  /** Attempts in all, the first included. @default 3 */
  maxAttempts?: number;
  /** The wait before the second attempt, in ms. @default 1000 */
  baseMs?: number;
  /** A number in `[0, 1)`. @default {Math.random} */
  random?: () => number;
}

/**
 * Decides whether, and after how long, a failed order is tried again.
 *
 * @example Usage
 * ```ts
 * import { RetryPolicy } from "./retry_policy.ts";
 * const policy = new RetryPolicy({ maxAttempts: 3, baseMs: 1000, random: () => 0.5 });
 * console.log(policy.delayAfter(1), policy.delayAfter(2), policy.delayAfter(3)); // 1000 2000 null
 * ```
 */
export class RetryPolicy {
  /** Attempts in all. */
  readonly maxAttempts: number;
  /** The wait before the second attempt, in ms. */
  readonly baseMs: number;
  readonly #random: () => number;

  /**
   * Makes a policy.
   *
   * @throws {RangeError} When `maxAttempts` is below 1 or `baseMs` negative.
   */
  constructor(options: RetryPolicyOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? 3;
    this.baseMs = options.baseMs ?? 1000;
    this.#random = options.random ?? Math.random;
    if (!Number.isSafeInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new RangeError(
        `Cannot make retry policy: maxAttempts must be ≥ 1, got ${this.maxAttempts}`,
      );
    }
    if (!Number.isFinite(this.baseMs) || this.baseMs < 0) {
      throw new RangeError(`Cannot make retry policy: baseMs must be ≥ 0, got ${this.baseMs}`);
    }
  }

  /**
   * The wait after failed attempt number `attempts` (1 for the first), in
   * whole ms; null when that was the last attempt allowed.
   */
  delayAfter(attempts: number): number | null {
    if (attempts >= this.maxAttempts) return null;
    const [min, max] = this.bounds(attempts);
    return Math.min(this.#cap, Math.round(min + (max - min) * this.#random()));
  }

  /**
   * Whether an order whose attempt number `attempts` was cut short by its
   * daemon's end (killed, crashed, a second signal), with a processor module
   * (which may be what ended it), ends `error` instead of running again:
   * only when that attempt was already one past `maxAttempts`. An attempt
   * cut short is counted, but it never takes an order's last run away
   * (§4: processed again at the next start); a module that takes the daemon
   * down on some order takes it down at most `maxAttempts + 1` times.
   */
  endsAfterCut(attempts: number): boolean {
    return attempts > this.maxAttempts;
  }

  /** The range `[min, max]` of the wait after failed attempt `attempts`, in ms. */
  bounds(attempts: number): [min: number, max: number] {
    const nominal = Math.min(this.#cap, this.baseMs * 2 ** Math.max(0, attempts - 1));
    return [nominal * (1 - JITTER), Math.min(this.#cap, nominal * (1 + JITTER))];
  }

  /**
   * The longest wait: {@linkcode MAX_BACKOFF_MS}, or the first wait's longest
   * when the base is longer than that (a base is never cut short).
   */
  get #cap(): number {
    return Math.max(MAX_BACKOFF_MS, this.baseMs * (1 + JITTER));
  }
}

/**
 * Waits `ms`, or less when `signal` aborts first.
 *
 * @returns true when the whole wait passed, false when it was cut short.
 */
export function backoff(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => settle(true), ms);
    function settle(passed: boolean) {
      clearTimeout(timer);
      signal.removeEventListener("abort", cut);
      resolve(passed);
    }
    function cut() {
      settle(false);
    }
    signal.addEventListener("abort", cut, { once: true });
  });
}
