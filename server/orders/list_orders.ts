/**
 * LISTAR in pieces: the rows are read from the store a few at a time, and
 * a reply longer than `pieceBytes` is written as a {@linkcode ReplyStream},
 * each further piece read only once the one before it was written. So a
 * LISTAR of `limit` orders (§2.3: up to 1000) always lists them all, while
 * neither the rows read nor the text made for it ever hold much more than
 * `pieceBytes` at a time, however slowly the peer reads (§1: a peer that
 * stops reading must not make the daemon's memory grow without bound).
 * Reads of rows take turns ({@linkcode ReadTurns}): one batch per turn of
 * the event loop, whatever the number of LISTARs at once, so other
 * clients' requests are served between two batches.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";

import type { ListFilter, Pedido } from "../protocol/messages.ts";
import type { ListarReply } from "../protocol/replies.ts";
import { ReplyStream } from "../protocol/reply_stream.ts";
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

/** Options of {@linkcode listOrders}. */
export interface ListOptions {
  /**
   * A reply longer than this, in bytes of UTF-8, is written in pieces of
   * about this size (`--max-reply-bytes`).
   */
  pieceBytes: number;
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
  /** Awaited with each batch of orders read, before it is listed. @default {nothing} */
  settle?: (pedidos: Pedido[]) => Promise<void>;
}

/** The reply's text before the first order. */
const OPENING = '{"ok":true,"pedidos":[';
/** The reply's text after the last order. */
const CLOSING = "]}\n";
/** Rows read at least per query, so that small orders do not cost a query each. */
const MIN_CHUNK = 8;

/**
 * LISTAR: `filter.limit` orders at most, newest first. Reads at most
 * `max(8, pieceBytes / largest order)` rows per query, each query at its
 * turn. When every order listed fits in `pieceBytes` the reply is a plain
 * {@linkcode ListarReply}; otherwise a {@linkcode ReplyStream} of the same
 * line, whose pieces after the first are read as they are asked for.
 *
 * @param store Where the orders are read.
 * @param filter LISTAR's filter.
 * @param options The piece size and how rows are read.
 * @returns The reply, whole or in pieces.
 */
export async function listOrders(
  store: Pick<OrderStore, "list">,
  filter: ListFilter,
  options: ListOptions,
): Promise<ListarReply | ReplyStream> {
  const batches = readBatches(store, filter, options);
  const first: Pedido[] = [];
  const texts: string[] = [];
  let bytes = 0;
  try {
    while (bytes < options.pieceBytes) {
      const next = await batches.next();
      if (next.done) return { ok: true, pedidos: first };
      for (const pedido of next.value) {
        const text = JSON.stringify(pedido);
        first.push(pedido);
        texts.push(text);
        bytes += Buffer.byteLength(text) + 1;
      }
    }
  } catch (error) {
    await batches.return(undefined);
    throw error;
  }
  return new ReplyStream(OPENING + texts.join(","), rest(batches));
}

/** The pieces after the first: each further batch, then the end of the line. */
async function* rest(batches: AsyncGenerator<Pedido[], void>): AsyncGenerator<string, void> {
  try {
    for await (const batch of batches) {
      yield "," + batch.map((pedido) => JSON.stringify(pedido)).join(",");
    }
  } finally {
    await batches.return(undefined);
  }
  yield CLOSING;
}

/** The orders of `filter`, newest first, a batch per query; no batch is empty. */
async function* readBatches(
  store: Pick<OrderStore, "list">,
  filter: ListFilter,
  options: ListOptions,
): AsyncGenerator<Pedido[], void> {
  const { pieceBytes, largestOrderBytes, turns = new ReadTurns() } = options;
  const chunkMax = Math.max(MIN_CHUNK, Math.floor(pieceBytes / largestOrderBytes));
  let listed = 0;
  let antesDe = filter.antesDe;
  while (listed < filter.limit) {
    const chunk = Math.min(filter.limit - listed, chunkMax);
    await turns.wait();
    const rows = await store.list({ ...filter, limit: chunk, ...(antesDe ? { antesDe } : {}) });
    if (rows.length === 0) return;
    const pedidos = rows.map((row) => {
      const seen = options.present?.(row) ?? row;
      return filter.estado === undefined || seen.estado === filter.estado ? seen : row;
    });
    await options.settle?.(pedidos);
    listed += rows.length;
    yield pedidos;
    if (rows.length < chunk) return;
    antesDe = rows.at(-1)!.id;
  }
}
