/**
 * Runs the calls made for one key one after the other, each once those
 * before it for that key have settled; calls for other keys are not held.
 * REINTENTAR uses it per order: retries of one order sent at the same time
 * (a double click, two operators) would otherwise each read it `error`,
 * each hold a slot while the first is stored, and answer `queue_full` when
 * the others are `not_retryable`.
 *
 * @module
 */

/**
 * Calls in turn, by key.
 *
 * @example Usage
 * ```ts
 * import { OneAtATime } from "./one_at_a_time.ts";
 * const turns = new OneAtATime<number>();
 * const seen: string[] = [];
 * await Promise.all([
 *   turns.run(1, async () => { await Promise.resolve(); seen.push("first"); }),
 *   turns.run(1, () => { seen.push("second"); return Promise.resolve(); }),
 * ]);
 * console.log(seen); // ["first", "second"]
 * ```
 */
export class OneAtATime<K> {
  readonly #last = new Map<K, Promise<unknown>>();

  /** Runs `call` once every call made before for `key` has settled; resolves with its result. */
  run<T>(key: K, call: () => Promise<T>): Promise<T> {
    const before = this.#last.get(key);
    const result = before === undefined ? call() : before.then(call, call);
    // Registered before the caller's own reactions: the key is let go by
    // the time the caller learns the result.
    const done = () => {
      if (this.#last.get(key) === settled) this.#last.delete(key);
    };
    const settled: Promise<void> = result.then(done, done);
    this.#last.set(key, settled);
    return result;
  }

  /** How many keys have a call in flight. */
  get size(): number {
    return this.#last.size;
  }
}
