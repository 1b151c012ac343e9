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

/**
 * LISTAR: `filter.limit` orders at most, newest first. Rows are read at
 * most `max(1, pieceBytes / largest order)` per query, each query at its
 * turn, and gathered into pieces of at most `pieceBytes`. When the first
 * piece is the last, the reply is a plain {@linkcode ListarReply};
 * otherwise a {@linkcode ReplyStream} of the same line, whose pieces after
 * the first are read as they are asked for.
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
  const pieces = readPieces(store, filter, options);
  let first: IteratorResult<Piece, void>;
  try {
    first = await pieces.next();
  } catch (error) {
    await pieces.return(undefined);
    throw error;
  }
  if (first.done) return { ok: true, pedidos: [] };
  if (first.value.last) return { ok: true, pedidos: first.value.pedidos };
  return new ReplyStream(OPENING + first.value.text, rest(pieces));
}

/** The pieces after the first, each after a comma, then the end of the line. */
async function* rest(pieces: AsyncGenerator<Piece, void>): AsyncGenerator<string, void> {
  try {
    for await (const piece of pieces) if (piece.text !== "") yield "," + piece.text;
  } finally {
    await pieces.return(undefined);
  }
  yield CLOSING;
}

/** Orders listed together: their JSON joined by commas, and whether they end the list. */
interface Piece {
  pedidos: Pedido[];
  text: string;
  last: boolean;
}

/**
 * The orders of `filter`, newest first, in pieces of at most `pieceBytes`
 * of text: a piece takes one more query only while a query of the largest
 * orders would still fit. Only the last may be empty (the query after a
 * full piece found nothing more); it says it is the last.
 */
async function* readPieces(
  store: Pick<OrderStore, "list">,
  filter: ListFilter,
  options: ListOptions,
): AsyncGenerator<Piece, void> {
  const { pieceBytes, largestOrderBytes, turns = new ReadTurns() } = options;
  const perQuery = Math.max(1, Math.floor(pieceBytes / largestOrderBytes));
  let listed = 0;
  let antesDe = filter.antesDe;
  let pedidos: Pedido[] = [];
  let texts: string[] = [];
  let bytes = 0;
  let ended = false;
  while (!ended) {
    const chunk = Math.min(filter.limit - listed, perQuery);
    await turns.wait();
    const rows = await store.list({ ...filter, limit: chunk, ...(antesDe ? { antesDe } : {}) });
    const seen = rows.map((row) => {
      const shown = options.present?.(row) ?? row;
      return filter.estado === undefined || shown.estado === filter.estado ? shown : row;
    });
    await options.settle?.(seen);
    for (const pedido of seen) {
      const text = JSON.stringify(pedido);
      pedidos.push(pedido);
      texts.push(text);
      bytes += Buffer.byteLength(text) + 1;
    }
    listed += rows.length;
    ended = rows.length < chunk || listed >= filter.limit;
    if (!ended) antesDe = rows.at(-1)!.id;
    if (ended || bytes + perQuery * largestOrderBytes > pieceBytes) {
      yield { pedidos, text: texts.join(","), last: ended }; // empty only when it ends the list
      pedidos = [];
      texts = [];
      bytes = 0;
    }
  }
}
