/**
 * The finished orders of the Panel's timeline: every order that ended
 * (`listo`, `error`, `cancelado`) within its span, read from the daemon a
 * bounded amount at a time and kept between refreshes.
 *
 * LISTAR gives the newest orders first and pages back with `antes_de`
 * (§2.3). For each finished state a refresh reads the orders newer than
 * the newest it already has (a small first page, then pages of
 * {@linkcode TimelineWindowOptions.pageSize}), then, with what is left of
 * its page budget, goes on back from where earlier refreshes stopped, until
 * it reaches an order that ended before the span's start (orders end
 * roughly oldest first: the older ones ended before it too). So a Panel
 * opened under 1000 orders a second fills its minute in a few refreshes,
 * and then reads only what finished since the last one.
 *
 * An order that finishes after a newer one (it ran longer) is behind the
 * newest already read: it was running or waiting at the refresh before,
 * so the ids seen so then are followed, and one not seen again is asked
 * for with ESTADO (a bounded number per refresh).
 *
 * Bounded: pages per refresh, orders per page, ESTADO per refresh, orders
 * kept (the oldest go first). What it could not read or keep is said in
 * {@linkcode WindowRead.coverage}: the moment from which the span is
 * whole, and why not before.
 *
 * @module
 */

import type { Estado, Pedido } from "../../../server/protocol/messages.ts";
import type { Ask } from "../ask.ts";
import { cutText } from "../user_text.ts";

/** Options of {@linkcode TimelineWindow}. */
export interface TimelineWindowOptions {
  /** The timeline's span, in ms. */
  spanMs: number;
  /** Orders asked for in one LISTAR page. @default {500} */
  pageSize?: number;
  /** LISTAR pages of finished orders per refresh, in all (at least one per finished state). @default {6} */
  maxPages?: number;
  /** ESTADO requests per refresh, for orders that finished behind newer ones. @default {16} */
  maxLookups?: number;
  /** Finished orders kept; past it, those that ended first are dropped. @default {30000} */
  maxOrders?: number;
}

/** Where the span is not whole: before `from`, orders are missing. */
export interface Coverage {
  /** Whole from then on, ms since the epoch. */
  from: number;
  /**
   * Why not before: `reading`, the gateway has not read that far back yet
   * (more pages at the next refreshes); `limit`, it keeps at most
   * {@linkcode TimelineWindowOptions.maxOrders} finished orders.
   */
  reason: "reading" | "limit";
  /** The bound on orders kept, for the words. */
  maxOrders: number;
}

/** What one refresh gives the timeline. */
export interface WindowRead {
  /** Orders that ended within the span, in no particular order (slim copies). */
  finished: Pedido[];
  /** Null when the span is whole. */
  coverage: Coverage | null;
}

const FINISHED = ["listo", "error", "cancelado"] as const satisfies readonly Estado[];
type Finished = (typeof FINISHED)[number];

/** How far the orders of one finished state have been read. */
interface Chain {
  /** The newest id read, or null before the first read. */
  top: number | null;
  /** Where to go on reading back (`antes_de`), or null when the span's start was reached. */
  floor: number | null;
  /** When the oldest order read back to ended: the state is whole since then. */
  reach: number;
  /** How many newer orders the last refresh found, to size the next first page. */
  lastNew: number;
}

function ms(iso: string | null): number | null {
  if (iso === null) return null;
  const value = Date.parse(iso);
  return Number.isNaN(value) ? null : value;
}

/** When an order ended, as the timeline places it. */
function endOf(p: Pedido): number {
  return ms(p.fecha_fin) ?? ms(p.fecha_inicio) ?? ms(p.fecha_recibido) ?? 0;
}

/** What the timeline draws of a finished order, and nothing else. */
function slim(p: Pedido): Pedido {
  return {
    ...p,
    cliente: cutText(p.cliente, 40),
    productos: [],
    direccion: "",
    clave: null,
    detalle_error: null,
    resultado: null,
  };
}

function isFinished(estado: Estado): estado is Finished {
  return (FINISHED as readonly Estado[]).includes(estado);
}

/** The finished orders of one viewer's timeline (one session: the daemon shows each its own). */
export class TimelineWindow {
  readonly #spanMs: number;
  readonly #pageSize: number;
  readonly #maxPages: number;
  readonly #maxLookups: number;
  readonly #maxOrders: number;
  /** Slim copies of the finished orders that ended within the span, by id. */
  #orders = new Map<number, Pedido>();
  #chains = new Map<Finished, Chain>();
  /** Ids seen waiting or running at the last refresh: they may finish behind newer ones. */
  #watch = new Set<number>();
  /** Orders that ended before this were dropped for {@linkcode TimelineWindowOptions.maxOrders}. */
  #droppedUntil = -Infinity;
  /** The refresh in flight: refreshes of one window run one at a time. */
  #busy: Promise<unknown> = Promise.resolve();

  /** Holds nothing until the first refresh. */
  constructor(options: TimelineWindowOptions) {
    this.#spanMs = options.spanMs;
    this.#pageSize = options.pageSize ?? 500;
    this.#maxPages = Math.max(options.maxPages ?? 6, FINISHED.length);
    this.#maxLookups = options.maxLookups ?? 16;
    this.#maxOrders = options.maxOrders ?? 30_000;
    this.#reset();
  }

  /** Finished orders held now. */
  get size(): number {
    return this.#orders.size;
  }

  /**
   * Reads what finished since the last refresh, and further back while the
   * span is not whole, within the bounds.
   *
   * @param ask Asks the daemon, with `token`.
   * @param token The viewer's session token.
   * @param at The timeline's right edge ("ahora").
   * @param live The orders waiting and running, as read for this refresh just before.
   * @returns The finished orders within the span, and what is missing.
   */
  refresh(ask: Ask, token: string, at: number, live: readonly Pedido[]): Promise<WindowRead> {
    const run = this.#busy.then(() => this.#refresh(ask, token, at, live));
    this.#busy = run.catch(() => {});
    return run;
  }

  async #refresh(ask: Ask, token: string, at: number, live: readonly Pedido[]) {
    const start = at - this.#spanMs;
    const liveIds = new Set(live.map((p) => p.id));
    // An order waiting or running again (Reintentar) is no longer finished.
    for (const id of liveIds) this.#orders.delete(id);
    const budget = { pages: this.#maxPages - FINISHED.length };
    for (const estado of FINISHED) {
      if (!await this.#readNewer(ask, token, estado, start, budget)) break; // a new store: read again
    }
    for (const estado of FINISHED) await this.#readBack(ask, token, estado, start, budget);
    await this.#lookUp(ask, token, start, liveIds);
    this.#forget(start);
    return { finished: [...this.#orders.values()], coverage: this.#coverage(start) };
  }

  /** Keeps `p` when it ended within the span. */
  #keep(p: Pedido, start: number): void {
    if (isFinished(p.estado) && endOf(p) >= start) this.#orders.set(p.id, slim(p));
  }

  async #list(ask: Ask, token: string, estado: Finished, limit: number, antesDe?: number) {
    const reply = await ask({
      op: "LISTAR",
      estado,
      limit,
      token,
      ...(antesDe === undefined ? {} : { antes_de: antesDe }),
    });
    return reply?.ok ? reply.pedidos : null;
  }

  /**
   * Reads the orders of `estado` newer than the newest read, newest first;
   * false when the daemon's ids went back (a new store): everything is
   * dropped, to be read again.
   */
  async #readNewer(
    ask: Ask,
    token: string,
    estado: Finished,
    start: number,
    budget: { pages: number },
  ): Promise<boolean> {
    const chain = this.#chains.get(estado)!;
    const fresh = chain.top === null;
    let limit = fresh
      ? this.#pageSize
      : Math.min(this.#pageSize, Math.max(20, 2 * chain.lastNew + 10));
    let antesDe: number | undefined;
    let newest: number | null = null;
    let oldest: Pedido | null = null;
    let found = 0;
    for (let first = true; first || budget.pages-- > 0; first = false) {
      const pedidos = await this.#list(ask, token, estado, limit, antesDe);
      if (pedidos === null) return true; // not read this time: nothing changes
      if (first && chain.top !== null && pedidos.length > 0 && pedidos[0]!.id < chain.top) {
        this.#reset();
        return false;
      }
      newest ??= pedidos[0]?.id ?? null;
      for (const p of pedidos) {
        if (chain.top !== null && p.id <= chain.top) {
          // Met what was read before: the newer ones are all in.
          chain.top = newest ?? chain.top;
          chain.lastNew = found;
          return true;
        }
        found++;
        this.#keep(p, start);
        oldest = p;
      }
      const whole = pedidos.length < limit || (oldest !== null && endOf(oldest) < start);
      if (whole) {
        // Every order of this state, or back to the span's start: nothing older to read.
        chain.top = newest ?? chain.top ?? 0;
        chain.floor = null;
        chain.reach = -Infinity;
        chain.lastNew = fresh ? 0 : found;
        return true;
      }
      antesDe = oldest!.id;
      limit = this.#pageSize;
    }
    // The budget ran out before meeting what was read before (or the span's
    // start): the gap is read back at the next refreshes.
    chain.top = newest ?? chain.top;
    chain.floor = oldest?.id ?? chain.floor;
    chain.reach = oldest === null ? chain.reach : endOf(oldest);
    chain.lastNew = fresh ? 0 : found;
    return true;
  }

  /** Reads further back, while `estado` does not reach the span's start and pages are left. */
  async #readBack(
    ask: Ask,
    token: string,
    estado: Finished,
    start: number,
    budget: { pages: number },
  ): Promise<void> {
    const chain = this.#chains.get(estado)!;
    while (chain.floor !== null && budget.pages > 0) {
      if (chain.reach <= this.#droppedUntil) {
        chain.floor = null; // what is older would not be kept
        return;
      }
      budget.pages--;
      const pedidos = await this.#list(ask, token, estado, this.#pageSize, chain.floor);
      if (pedidos === null) return;
      for (const p of pedidos) this.#keep(p, start);
      const oldest = pedidos.at(-1);
      if (oldest === undefined || pedidos.length < this.#pageSize || endOf(oldest) < start) {
        chain.floor = null;
        chain.reach = -Infinity;
      } else {
        chain.floor = oldest.id;
        chain.reach = endOf(oldest);
      }
    }
  }

  /**
   * Asks for the orders seen waiting or running at the last refresh that
   * are neither now nor among those read: they finished behind newer ones.
   */
  async #lookUp(ask: Ask, token: string, start: number, liveIds: Set<number>): Promise<void> {
    const missing = [...this.#watch].filter((id) => !liveIds.has(id) && !this.#orders.has(id));
    const asked = missing.slice(0, this.#maxLookups);
    const replies = await Promise.all(asked.map((id) => ask({ op: "ESTADO", id, token })));
    const watch = new Set(liveIds);
    replies.forEach((reply, i) => {
      if (reply === null) watch.add(asked[i]!); // ask again next time
      else if (reply.ok && isFinished(reply.pedido.estado)) this.#keep(reply.pedido, start);
      else if (reply.ok) watch.add(reply.pedido.id); // waiting beyond the list
    });
    // Those not asked this time wait for the next refreshes, up to a bound.
    for (const id of missing.slice(asked.length, asked.length + 1000)) watch.add(id);
    this.#watch = watch;
  }

  /** Drops what ended before the span, and the oldest past the bound. */
  #forget(start: number): void {
    for (const [id, p] of this.#orders) if (endOf(p) < start) this.#orders.delete(id);
    const over = this.#orders.size - this.#maxOrders;
    if (over <= 0) return;
    const byEnd = [...this.#orders.values()].sort((a, b) => endOf(a) - endOf(b));
    for (const p of byEnd.slice(0, over)) this.#orders.delete(p.id);
    this.#droppedUntil = Math.max(this.#droppedUntil, endOf(byEnd[over - 1]!));
  }

  #coverage(start: number): Coverage | null {
    const reading = Math.max(
      ...[...this.#chains.values()].map((c) => c.floor === null ? -Infinity : c.reach),
    );
    const from = Math.max(reading, this.#droppedUntil);
    if (from <= start) return null;
    const reason = this.#droppedUntil >= reading ? "limit" : "reading";
    return { from, reason, maxOrders: this.#maxOrders };
  }

  #reset(): void {
    this.#orders = new Map();
    this.#watch = new Set();
    this.#droppedUntil = -Infinity;
    for (const estado of FINISHED) {
      this.#chains.set(estado, { top: null, floor: null, reach: -Infinity, lastNew: 0 });
    }
  }
}
