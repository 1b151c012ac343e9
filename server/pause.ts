/**
 * A wait that a signal cuts short: for loops that retry or repeat, and must
 * stop at once when what they serve closes.
 *
 * @module
 */

/**
 * Resolves after `ms`, or at once when `signal` aborts (already aborted:
 * at once). Never rejects; the caller checks `signal.aborted` after.
 *
 * @example Usage
 * ```ts
 * import { pause } from "./pause.ts";
 * const stop = new AbortController();
 * stop.abort();
 * await pause(60_000, stop.signal); // resolves at once
 * ```
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
