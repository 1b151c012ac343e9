/**
 * SIGINT (Ctrl-C) and SIGTERM as an `AbortSignal`, for the commands that
 * say what they had done when stopped (`client`, `load`) rather than die
 * with the signal.
 *
 * @module
 */

/**
 * A signal aborted on SIGINT or SIGTERM, until disposed.
 *
 * @example Usage
 * ```ts ignore
 * using stop = stopSignals();
 * await work({ signal: stop.signal });
 * ```
 */
export function stopSignals(): { signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const abort = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const name of signals) Deno.addSignalListener(name, abort);
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      for (const name of signals) Deno.removeSignalListener(name, abort);
    },
  };
}
