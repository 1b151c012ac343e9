/**
 * The callers of a pipelining connection waiting for their replies, oldest
 * first. Replies come in request order, so each one settles the oldest
 * waiter.
 *
 * @module
 */

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * A first-in, first-out queue of callers waiting for a reply. A caller that
 * gives up (its signal aborts) keeps its place, so the reply meant for it is
 * dropped when it comes and later replies stay matched.
 *
 * @example Usage
 * ```ts
 * import { ReplyWaiters } from "./reply_waiters.ts";
 * const waiters = new ReplyWaiters<string>();
 * const first = waiters.add();
 * waiters.resolveOldest("pong");
 * console.log(await first); // pong
 * ```
 */
export class ReplyWaiters<T> {
  #queue: (Waiter<T> | undefined)[] = [];
  #head = 0;

  /** How many wait, including those that gave up and whose replies have not come yet. */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Adds a waiter at the end.
   *
   * @param signal Stops waiting: the promise rejects with `signal.reason` (the place is kept).
   * @returns What the waiter is settled with.
   */
  add(signal?: AbortSignal): Promise<T> {
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    let done = false;
    const onAbort = () => waiter.reject(signal?.reason);
    const settle = (): boolean => {
      if (done) return false;
      done = true;
      signal?.removeEventListener("abort", onAbort);
      return true;
    };
    const waiter: Waiter<T> = {
      resolve: (value) => settle() && resolve(value),
      reject: (error) => settle() && reject(error),
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#queue.push(waiter);
    return promise;
  }

  /** Resolves the oldest waiter with `value`; `false` when nobody waits. */
  resolveOldest(value: T): boolean {
    const waiter = this.#takeOldest();
    waiter?.resolve(value);
    return waiter !== undefined;
  }

  /** Rejects the oldest waiter with `error`; `false` when nobody waits. */
  rejectOldest(error: unknown): boolean {
    const waiter = this.#takeOldest();
    waiter?.reject(error);
    return waiter !== undefined;
  }

  /** Rejects every waiter with `error` and empties the queue. */
  rejectAll(error: unknown): void {
    const waiting = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    for (const waiter of waiting) waiter?.reject(error);
  }

  #takeOldest(): Waiter<T> | undefined {
    const waiter = this.#queue[this.#head];
    if (waiter === undefined) return undefined;
    this.#queue[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return waiter;
  }
}
