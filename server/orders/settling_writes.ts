/**
 * The writes that end attempts, which a drain waits for. A drain stops the
 * pool (running attempts may finish for its timeout), then gives the writes
 * still retrying (the database down, a full disk) a grace, after which
 * {@linkcode SettlingWrites.signal} aborts and they stop retrying. Shared by
 * the scheduler (one daemon) and the shared queue's attempts (several).
 *
 * @module
 */

import type { ProcessorPool } from "../processing/processor_pool.ts";

/** Writes in flight that a drain awaits. */
export class SettlingWrites {
  readonly #settling = new Set<Promise<void>>();
  readonly #closing = new AbortController();

  /** Aborted when a drain gives up on writes that keep failing. */
  get signal(): AbortSignal {
    return this.#closing.signal;
  }

  /**
   * `promise`, or a rejection with {@linkcode signal}'s reason once a drain
   * gives up: a write waiting on a database that does not answer (its
   * connections silent) does not hold the stop for the write's own deadline.
   * `promise` itself goes on, unobserved.
   */
  unlessGivenUp<T>(promise: Promise<T>): Promise<T> {
    const signal = this.#closing.signal;
    return new Promise<T>((resolve, reject) => {
      const giveUp = () => reject(signal.reason);
      if (signal.aborted) giveUp();
      else signal.addEventListener("abort", giveUp, { once: true });
      promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", giveUp));
    });
  }

  /** Keeps `promise` until it settles: a drain waits for it. */
  track(promise: Promise<void>): void {
    this.#settling.add(promise);
    promise.finally(() => this.#settling.delete(promise));
  }

  /**
   * Stops `pool`, letting running jobs finish for `timeoutMs`, closes it,
   * then waits for every write tracked, the retrying ones for a grace of a
   * quarter of `timeoutMs` (at least 1 s) before {@linkcode signal} aborts.
   */
  async drain(pool: ProcessorPool, timeoutMs: number): Promise<void> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    await pool.stop(deadline.signal);
    clearTimeout(timer);
    await pool.close();
    const grace = setTimeout(() => this.#closing.abort(), Math.max(1000, timeoutMs / 4));
    await Promise.allSettled([...this.#settling]);
    this.#closing.abort();
    clearTimeout(grace);
    while (this.#settling.size > 0) await Promise.allSettled([...this.#settling]);
  }
}
