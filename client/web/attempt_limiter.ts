/**
 * Attempts counted per key (a client address, an account), with a backoff:
 * the first `free` attempts go through; after that each attempt must wait
 * a delay that doubles from `baseDelayMs` up to `maxDelayMs`; an attempt
 * made before its time is refused with how long to wait. A key left alone
 * for `forgetAfterMs` starts over. Attempts are counted when they start, so
 * a burst of concurrent requests is refused as surely as a slow series.
 *
 * Memory is bounded: at most `maxKeys` keys are kept; beyond, the key used
 * least recently is forgotten.
 *
 * @module
 */

/** Options of {@linkcode AttemptLimiter}. */
export interface AttemptLimiterOptions {
  /** Attempts without any wait. @default {5} */
  free?: number;
  /** The wait after the free attempts, doubled after each further attempt. @default {1000} */
  baseDelayMs?: number;
  /** The longest wait. @default {900000} */
  maxDelayMs?: number;
  /** A key without attempts for this long starts over. @default {900000} */
  forgetAfterMs?: number;
  /** Keys kept at most. @default {10000} */
  maxKeys?: number;
  /** The clock, in ms. @default {Date.now} */
  now?: () => number;
}

/** The outcome of {@linkcode AttemptLimiter.take}. */
export type Attempt = { ok: true } | { ok: false; retryAfterMs: number };

interface Entry {
  attempts: number;
  nextAt: number;
  lastAt: number;
}

/** Counts attempts per key; see the module docs. */
export class AttemptLimiter {
  readonly #free: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #forgetAfterMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: AttemptLimiterOptions = {}) {
    this.#free = options.free ?? 5;
    this.#baseDelayMs = options.baseDelayMs ?? 1000;
    this.#maxDelayMs = options.maxDelayMs ?? 900_000;
    this.#forgetAfterMs = options.forgetAfterMs ?? 900_000;
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Keys kept now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Whether an attempt of `key` may go ahead now; if so it is counted.
   *
   * @returns `{ok: true}`, or `{ok: false, retryAfterMs}` (nothing counted).
   */
  check(key: string): Attempt {
    const now = this.#now();
    const entry = this.#live(key, now);
    if (entry !== undefined && now < entry.nextAt) {
      return { ok: false, retryAfterMs: entry.nextAt - now };
    }
    return { ok: true };
  }

  /**
   * Counts one attempt of `key` if it may go ahead now.
   *
   * @returns `{ok: true}`, or `{ok: false, retryAfterMs}` (nothing counted).
   */
  take(key: string): Attempt {
    const now = this.#now();
    const refused = this.check(key);
    if (!refused.ok) return refused;
    const entry = this.#live(key, now) ?? { attempts: 0, nextAt: 0, lastAt: now };
    entry.attempts++;
    entry.lastAt = now;
    const over = entry.attempts - this.#free;
    if (over >= 0) {
      entry.nextAt = now + Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(over, 40));
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry); // most recently used last
    if (this.#entries.size > this.#maxKeys) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    return { ok: true };
  }

  /** Takes back one attempt of `key` (it succeeded), and any wait it caused. */
  forgive(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    entry.attempts = Math.max(0, entry.attempts - 1);
    if (entry.attempts < this.#free) entry.nextAt = 0;
  }

  /** Forgets `key`: it starts over. */
  reset(key: string): void {
    this.#entries.delete(key);
  }

  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined && now - entry.lastAt >= this.#forgetAfterMs && now >= entry.nextAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }
}
