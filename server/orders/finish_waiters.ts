/**
 * Clients waiting for orders to finish (`ESTADO` with `esperar`, §2.2): a
 * wait ends when the order finishes here ({@linkcode FinishWaiters.wake}),
 * when its time is up, or when its signal aborts.
 *
 * Waits are bounded: at most `maxWaiters` open at once over all clients and
 * `maxWaitersPerClient` per client ({@linkcode FinishWaiters.admit}); one
 * more gets `queue_full` at once, and nothing else changes. (A connection
 * holds its waits beyond the per-client bound back itself, so that bound
 * is a guard here.)
 *
 * @module
 */

import { ProtocolError } from "../protocol/errors.ts";

/** Options of {@linkcode FinishWaiters}. */
export interface FinishWaitersOptions {
  /** Waits open at once over all clients (`--max-waiters`). @default 10000 */
  maxWaiters?: number;
  /** Waits open at once per client (`--max-waiters-per-connection`). @default 128 */
  maxWaitersPerClient?: number;
}

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
  readonly #maxWaiters: number;
  readonly #maxPerClient: number;
  #admitted = 0;
  readonly #perClient = new WeakMap<object, number>();

  constructor(options: FinishWaitersOptions = {}) {
    this.#maxWaiters = options.maxWaiters ?? 10_000;
    this.#maxPerClient = options.maxWaitersPerClient ?? 128;
  }

  /**
   * Admits one wait of `client` (a connection; any object that identifies
   * it) until the returned handle is disposed.
   *
   * @throws {ProtocolError} `queue_full`, `campo` `esperar`, when `client`
   * has `maxWaitersPerClient` waits open, or all clients `maxWaiters`.
   */
  admit(client?: object): Disposable {
    const own = client === undefined ? 0 : this.#perClient.get(client) ?? 0;
    if (own >= this.#maxPerClient) {
      throw tooManyWaits(
        `❌ Demasiadas esperas abiertas en esta conexión (máximo ${this.#maxPerClient}). ` +
          'Espere a que terminen, o consulte sin "esperar".',
      );
    }
    if (this.#admitted >= this.#maxWaiters) {
      throw tooManyWaits(
        `❌ Demasiadas esperas abiertas en el servidor (máximo ${this.#maxWaiters}). ` +
          'Intente más tarde, o consulte sin "esperar".',
      );
    }
    this.#admitted++;
    if (client !== undefined) this.#perClient.set(client, own + 1);
    let open = true;
    return {
      [Symbol.dispose]: () => {
        if (!open) return;
        open = false;
        this.#admitted--;
        if (client !== undefined) this.#perClient.set(client, this.#perClient.get(client)! - 1);
      },
    };
  }

  /** Waits admitted and not yet ended ({@linkcode admit}). */
  get admitted(): number {
    return this.#admitted;
  }

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

function tooManyWaits(mensaje: string): ProtocolError {
  return new ProtocolError("queue_full", mensaje, { campo: "esperar" });
}
