/**
 * LISTAR within a byte budget: the reply never grows past `maxBytes`, and
 * the rows are read from the store a few at a time, so that neither the
 * reply nor the rows read for it ever hold much more than the budget. Reads
 * of rows take turns ({@linkcode ReadTurns}): one batch per turn of the
 * event loop, whatever the number of LISTARs at once, so other clients'
 * requests are served between two batches.
 *
 * When the budget stops the list before `limit` orders, the reply says how
 * to go on: `"mas": true` and `"siguiente_antes_de": ID` (the id of the
 * last order listed), to be sent back as `antes_de`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";

import type { ListFilter, Pedido } from "../protocol/messages.ts";
import type { ListarReply } from "../protocol/replies.ts";
import type { OrderStore } from "../store/store.ts";

/**
 * Turns for reading rows: each {@linkcode ReadTurns.wait} resolves in a
 * turn of the event loop of its own, one waiter per turn, first come first
 * served. Between two turns the loop serves sockets and timers, so however
 * many LISTARs run at once, other clients wait for at most one batch.
 */
export class ReadTurns {
  readonly #waiting: (() => void)[] = [];
  #scheduled = false;

  /** Waiters now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves at this caller's turn. */
  wait(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting.push(resolve);
    this.#schedule();
    return promise;
  }

  #schedule(): void {
    if (this.#scheduled || this.#waiting.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#waiting.shift()?.();
      this.#schedule(); // the next turn, after sockets and timers
    });
  }
}

/** Options of {@linkcode listWithinBudget}. */
export interface ListBudgetOptions {
  /** The largest reply, in bytes of UTF-8, its newline included. */
  maxBytes: number;
  /** The most bytes one order may take (`largestOrderBytes` of `reply_budget.ts`). */
  largestOrderBytes: number;
  /** Whose turn it is to read rows. @default {a ReadTurns of this call's own} */
  turns?: ReadTurns;
  /**
   * Each order as a client should see it (`ActiveOrders.present`); one whose
   * state so seen no longer matches the filter's is listed as stored.
   * @default {as stored}
   */
  present?: (pedido: Pedido) => Pedido;
}

/** The reply without any order, its `mas` and `siguiente_antes_de` at their longest. */
const ENVELOPE_BYTES =
  `{"ok":true,"pedidos":[],"mas":true,"siguiente_antes_de":${Number.MAX_SAFE_INTEGER}}\n`.length;
/** Rows read at least per query, so that small orders do not cost a query each. */
const MIN_CHUNK = 8;

/**
 * LISTAR: at most `filter.limit` orders, newest first, whose reply line
 * fits `maxBytes` (one order is always listed, whatever its size, so paging
 * never gets stuck). Reads at most `max(8, room left / largest order)` rows
 * per query, each query at its turn, so the rows read beyond the budget
 * are few and no read holds up other clients for long.
 *
 * @param store Where the orders are read.
 * @param filter LISTAR's filter.
 * @param options The budget.
 * @returns The reply; with `mas` and `siguiente_antes_de` when the budget cut it short.
 */
export async function listWithinBudget(
  store: Pick<OrderStore, "list">,
  filter: ListFilter,
  options: ListBudgetOptions,
): Promise<ListarReply> {
  const { maxBytes, largestOrderBytes, turns = new ReadTurns() } = options;
  const pedidos: Pedido[] = [];
  let bytes = ENVELOPE_BYTES;
  let antesDe = filter.antesDe;
  for (;;) {
    const left = filter.limit - pedidos.length;
    const fits = Math.floor((maxBytes - bytes) / largestOrderBytes);
    const chunk = Math.min(left, Math.max(MIN_CHUNK, fits));
    await turns.wait();
    const rows = await store.list({ ...filter, limit: chunk, ...(antesDe ? { antesDe } : {}) });
    for (const row of rows) {
      const seen = options.present?.(row) ?? row;
      const pedido = filter.estado === undefined || seen.estado === filter.estado ? seen : row;
      // A comma before every order but the first.
      const size = Buffer.byteLength(JSON.stringify(pedido)) + (pedidos.length > 0 ? 1 : 0);
      if (pedidos.length > 0 && bytes + size > maxBytes) {
        return { ok: true, pedidos, mas: true, siguiente_antes_de: pedidos.at(-1)!.id };
      }
      pedidos.push(pedido);
      bytes += size;
    }
    if (rows.length < chunk || pedidos.length >= filter.limit) return { ok: true, pedidos };
    antesDe = rows.at(-1)!.id;
  }
}
