/**
 * Clients waiting for orders to finish (`ESTADO` with `esperar`, §2.2): a
 * wait ends when the order finishes here ({@linkcode FinishWaiters.wake}),
 * when its time is up, or when its signal aborts.
 *
 * @module
 */

/** Options of {@linkcode FinishWaiters.wait}. */
export interface WaitOptions {
  /** The longest wait, in ms. */
  timeoutMs: number;
  /** Ends the wait early (the client left, the daemon stops). */
  signal?: AbortSignal;
}

/** Waiters by order id. */
export class FinishWaiters {
  readonly #waiters = new Map<number, Set<() => void>>();
  #count = 0;

  /**
   * Waits until order `id` finishes here, the time is up, or the signal aborts.
   *
   * @returns true when the order finished.
   */
  wait(id: number, options: WaitOptions): Promise<boolean> {
    const { timeoutMs, signal } = options;
    if (signal?.aborted) return Promise.resolve(false);
    const { promise, resolve } = Promise.withResolvers<boolean>();
    let set = this.#waiters.get(id);
    if (set === undefined) this.#waiters.set(id, set = new Set());
    const waiters = set;
    const settle = (finished: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (waiters.delete(wake)) this.#count--;
      if (waiters.size === 0 && this.#waiters.get(id) === waiters) this.#waiters.delete(id);
      resolve(finished);
    };
    const wake = () => settle(true);
    const onAbort = () => settle(false);
    const timer = setTimeout(() => settle(false), Math.max(0, timeoutMs));
    signal?.addEventListener("abort", onAbort, { once: true });
    waiters.add(wake);
    this.#count++;
    return promise;
  }

  /** Order `id` finished: ends every wait on it. */
  wake(id: number): void {
    const waiters = this.#waiters.get(id);
    if (waiters === undefined) return;
    for (const wake of [...waiters]) wake();
  }

  /** Waits in progress. */
  get size(): number {
    return this.#count;
  }
}
