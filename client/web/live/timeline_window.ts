/**
 * The finished orders of the Panel's timeline: every order that ended
 * (`listo`, `error`, `cancelado`) within its span, read from the daemon a
 * bounded amount at a time and kept between refreshes. One window serves
 * every operador session: the Panel is theirs alone, and an operador's
 * token reads everyone's orders, so each refresh reads with the token of
 * the session asking (valid now: its session is signed in).
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
 * for with ESTADO (a bounded number per refresh). The newest id of a state
 * may go down (Reintentar sends the newest `error` order back to
 * `pendiente`, §2.9): ids are never reused (§4), so that changes nothing.
 *
 * A daemon on another store starts its ids again. Only a restart can bring
 * one, so when STATS' `uptime_s` goes down, the newest order read is asked
 * for (ESTADO): gone (`not_found`) or received at another time, the store
 * is new, and what was read is dropped; the part of the span before that
 * moment is then not known.
 *
 * The session asking may no longer be an operador (its role taken back
 * since it signed in: its token now sees only its own orders). A refresh
 * given a {@linkcode TimelineRefreshOptions.check} runs it after its reads,
 * with orders known before them as witnesses and what its lists returned;
 * unless it proves an operador, everything the refresh read is undone and
 * it resolves with the outcome (`demoted` or `unknown`): nothing read with
 * that token is kept, and nothing of the window is given.
 *
 * Bounded: pages per refresh, orders per page, ESTADO per refresh, orders
 * kept (the oldest go first). What it could not read or keep is said in
 * {@linkcode WindowRead.coverage}: the moment from which the span is
 * whole and why not before, and the moment since which a read failed.
 *
 * @module
 */

import type { Estado, Pedido } from "../../../server/protocol/messages.ts";
import type { Ask } from "../ask.ts";
import { cutText } from "../user_text.ts";
import type { OperatorCheck, TokenReads, Witness } from "./operator_check.ts";

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

/** Where the span is not whole: before `from`, and after `unreadSince`, orders are missing. */
export interface Coverage {
  /** Whole from then on (until `unreadSince`), ms since the epoch; at or before the span's start when whole from its start. */
  from: number;
  /**
   * Why not before `from`: `reading`, the gateway has not read that far
   * back yet (more pages at the next refreshes); `limit`, it keeps at most
   * {@linkcode TimelineWindowOptions.maxOrders} finished orders; `reset`,
   * the daemon came back on another store then, and what ended before on
   * the old one is no longer there to read; `unchecked`, the session's role
   * could not be checked at this refresh, so the shared window is not shown
   * to it (`from` is then "ahora": none of the span is).
   */
  reason: "reading" | "limit" | "reset" | "unchecked";
  /** The bound on orders kept, for the words. */
  maxOrders: number;
  /**
   * Orders that ended after this (ms since the epoch) were not read: a
   * LISTAR of this refresh got no reply in time or was refused, or the
   * orders running and waiting could not be listed (then the span's start:
   * none of it is known). Null when every read was answered.
   */
  unreadSince: number | null;
}

/** What one refresh gives the timeline. */
export interface WindowRead {
  /** Orders that ended within the span, in no particular order (slim copies). */
  finished: Pedido[];
  /** Null when the span is whole. */
  coverage: Coverage | null;
}

/** What one refresh of a {@linkcode TimelineWindow} reads with. */
export interface TimelineRefreshOptions {
  /** An operador's session token, valid now (the session asking for the Panel). */
  token: string;
  /** The timeline's right edge ("ahora"), ms since the epoch. */
  at: number;
  /** The orders waiting and running, as read for this refresh just before; null when they could not be. */
  live: readonly Pedido[] | null;
  /**
   * STATS' `uptime_s` of this refresh: lower than the last one seen, the
   * daemon restarted (maybe on another store). @default {unknown: no restart is told}
   */
  uptimeS?: number | null;
  /**
   * Whether `token` still sees every order, asked after the reads, given
   * the newest orders known before them (newest first) and what its lists
   * returned. Unless `operador`: nothing this refresh read is kept, and it
   * resolves with the outcome. @default {not asked}
   */
  check?: (witnesses: readonly Witness[], reads: TokenReads) => Promise<OperatorCheck>;
  /**
   * Whether an order held is known to be the asking account's own: the
   * newest held that is not is always among the witnesses, so that a token
   * that cannot see it is caught however many newer orders are its own.
   * @default {none is}
   */
  ownOrder?: (pedido: Pedido) => boolean;
  /**
   * Whether an order held is known to be another account's: the newest held
   * that is is always among the witnesses too (it proves the most).
   * @default {none is}
   */
  otherOrder?: (pedido: Pedido) => boolean;
}

/** Witnesses given to {@linkcode TimelineRefreshOptions.check}, at most. */
const WITNESSES = 8;

const FINISHED = ["listo", "error", "cancelado"] as const satisfies readonly Estado[];

/** A refresh's outcome when its check did not prove an operador. */
export type Unproven = Exclude<OperatorCheck, "operador">;
type Finished = (typeof FINISHED)[number];

/** How far the orders of one finished state have been read. */
interface Chain {
  /** The newest id read, or null before the first read (since the window began or was reset). */
  top: number | null;
  /** Where to go on reading back (`antes_de`), or null when the span's start was reached. */
  floor: number | null;
  /** When the oldest order read back to ended: the state is whole since then. */
  reach: number;
  /** How many newer orders the last refresh found, to size the next first page. */
  lastNew: number;
  /** The right edge of the last refresh that read its newer orders. */
  readAt: number;
}

/** The window as it was before a refresh, to undo it. */
interface Saved {
  orders: Map<number, Pedido>;
  /** What the orders of `orders` the refresh changed were before (undefined: absent). */
  changed: Map<number, Pedido | undefined>;
  chains: Map<Finished, Chain>;
  watch: Set<number>;
  droppedUntil: number;
  resetAt: number;
  anchor: { id: number; recibido: string } | null;
  uptimeS: number | null;
  restarted: boolean;
}

/** One refresh's reading: whom it asks with, its budgets, what failed. */
interface Run {
  ask: Ask;
  token: string;
  at: number;
  start: number;
  /** LISTAR pages left beyond the first of each state. */
  pages: number;
  /** ESTADO requests left. */
  lookups: number;
  /** States whose newer orders could not be read this time. */
  failed: Set<Finished>;
  /** What the token's lists returned, for the check. */
  ids: Set<number>;
  /** By state, the lowest id from which its newer orders were all listed (0: all). */
  from: Map<Estado, number>;
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

/**
 * The finished orders of the Panel's timeline, one window for every
 * operador session (an operador's token reads everyone's orders, so all
 * would hold the same).
 */
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
  /** When the daemon was found on another store: what ended before is not known. */
  #resetAt = -Infinity;
  /** The newest order read, to tell the store it came from. */
  #anchor: { id: number; recibido: string } | null = null;
  /** The last `uptime_s` seen. */
  #uptimeS: number | null = null;
  /** The daemon restarted and its store is not yet known to be the same. */
  #restarted = false;
  /** The window before the refresh in flight, while it may be undone. */
  #saved: Saved | null = null;
  /** The refresh in flight: refreshes of one window run one at a time. */
  #busy: Promise<unknown> = Promise.resolve();

  /** Holds nothing until the first refresh. */
  constructor(options: TimelineWindowOptions) {
    this.#spanMs = options.spanMs;
    this.#pageSize = options.pageSize ?? 500;
    this.#maxPages = Math.max(options.maxPages ?? 6, FINISHED.length);
    this.#maxLookups = options.maxLookups ?? 16;
    this.#maxOrders = options.maxOrders ?? 30_000;
    this.#reset(-Infinity);
  }

  /** Finished orders held now. */
  get size(): number {
    return this.#orders.size;
  }

  /**
   * Reads what finished since the last refresh, and further back while the
   * span is not whole, within the bounds. Refreshes run one at a time.
   *
   * @param ask Asks the daemon.
   * @param options The token to read with, the right edge, the live orders, the check.
   * @returns The finished orders within the span, and what is missing; the
   * check's outcome when it did not prove an operador (nothing read was kept).
   */
  refresh(ask: Ask, options: TimelineRefreshOptions & { check?: undefined }): Promise<WindowRead>;
  refresh(ask: Ask, options: TimelineRefreshOptions): Promise<WindowRead | Unproven>;
  refresh(ask: Ask, options: TimelineRefreshOptions): Promise<WindowRead | Unproven> {
    const run = this.#busy.then(() => this.#refresh(ask, options));
    this.#busy = run.catch(() => {});
    return run;
  }

  async #refresh(ask: Ask, options: TimelineRefreshOptions): Promise<WindowRead | Unproven> {
    const { check } = options;
    if (check === undefined) return (await this.#read(ask, options)).read;
    const witnesses = this.#witnesses(
      options.ownOrder ?? (() => false),
      options.otherOrder ?? (() => false),
    );
    this.#save();
    try {
      const { read, reads } = await this.#read(ask, options);
      const outcome = await check(witnesses, reads);
      if (outcome === "operador") return read;
      this.#undo();
      return outcome;
    } catch (error) {
      this.#undo();
      throw error;
    } finally {
      this.#saved = null;
    }
  }

  /**
   * The newest orders known, newest first: the last one read, and those
   * held; and, wherever they are, the newest held that is not known to be
   * the account's own (`ownOrder`) and the newest known to be another's
   * (`otherOrder`).
   */
  #witnesses(
    ownOrder: (pedido: Pedido) => boolean,
    otherOrder: (pedido: Pedido) => boolean,
  ): Witness[] {
    const known = new Map<number, string>();
    if (this.#anchor !== null) known.set(this.#anchor.id, this.#anchor.recibido);
    const held = [...this.#orders.keys()].sort((a, b) => b - a);
    for (const id of held.slice(0, WITNESSES)) known.set(id, this.#orders.get(id)!.fecha_recibido);
    const witnesses = [...known].sort(([a], [b]) => b - a).slice(0, WITNESSES)
      .map(([id, recibido]) => ({ id, recibido }));
    const notOwn = held.find((id) => !ownOrder(this.#orders.get(id)!));
    const others = held.find((id) => otherOrder(this.#orders.get(id)!));
    for (const id of [notOwn, others]) {
      if (id === undefined || witnesses.some((w) => w.id === id)) continue;
      witnesses.push({ id, recibido: this.#orders.get(id)!.fecha_recibido });
    }
    return witnesses;
  }

  #save(): void {
    this.#saved = {
      orders: this.#orders,
      changed: new Map(),
      chains: new Map([...this.#chains].map(([estado, chain]) => [estado, { ...chain }])),
      watch: this.#watch,
      droppedUntil: this.#droppedUntil,
      resetAt: this.#resetAt,
      anchor: this.#anchor,
      uptimeS: this.#uptimeS,
      restarted: this.#restarted,
    };
  }

  /** Puts the window back as it was before the refresh in flight. */
  #undo(): void {
    const saved = this.#saved;
    if (saved === null) return;
    for (const [id, p] of saved.changed) {
      if (p === undefined) saved.orders.delete(id);
      else saved.orders.set(id, p);
    }
    this.#orders = saved.orders;
    this.#chains = saved.chains;
    this.#watch = saved.watch;
    this.#droppedUntil = saved.droppedUntil;
    this.#resetAt = saved.resetAt;
    this.#anchor = saved.anchor;
    this.#uptimeS = saved.uptimeS;
    this.#restarted = saved.restarted;
  }

  /** Notes what an order held was before the refresh in flight changed it. */
  #change(id: number): void {
    const saved = this.#saved;
    if (saved === null || saved.orders !== this.#orders || saved.changed.has(id)) return;
    saved.changed.set(id, this.#orders.get(id));
  }

  #put(p: Pedido): void {
    this.#change(p.id);
    this.#orders.set(p.id, p);
  }

  #drop(id: number): void {
    if (!this.#orders.has(id)) return;
    this.#change(id);
    this.#orders.delete(id);
  }

  async #read(
    ask: Ask,
    options: TimelineRefreshOptions,
  ): Promise<{ read: WindowRead; reads: TokenReads }> {
    const { token, at, live } = options;
    const run: Run = {
      ask,
      token,
      at,
      start: at - this.#spanMs,
      pages: this.#maxPages - FINISHED.length,
      lookups: this.#maxLookups,
      failed: new Set(),
      ids: new Set(),
      from: new Map(),
    };
    const uptime = options.uptimeS ?? null;
    if (uptime !== null && this.#uptimeS !== null && uptime < this.#uptimeS) this.#restarted = true;
    if (uptime !== null) this.#uptimeS = uptime;
    const store = this.#restarted ? await this.#checkStore(run) : "same";
    if (store === "new") this.#reset(at);
    if (live !== null) {
      // An order waiting or running again (Reintentar) is no longer finished.
      for (const p of live) {
        this.#drop(p.id);
        this.#see(p);
      }
    }
    if (store === "unknown") {
      // Whether what would be read comes from the same store is not known: nothing is.
      for (const estado of FINISHED) run.failed.add(estado);
    } else {
      for (const estado of FINISHED) await this.#readNewer(run, estado);
      for (const estado of FINISHED) await this.#readBack(run, estado);
      if (live !== null) await this.#lookUp(run, new Set(live.map((p) => p.id)));
    }
    this.#forget(run.start);
    const read = {
      finished: [...this.#orders.values()],
      coverage: this.#coverage(run, live === null),
    };
    return { read, reads: { ids: run.ids, from: run.from } };
  }

  /**
   * After a restart: whether the daemon is on the store read so far, told
   * by the newest order read (the same id, received at the same time).
   * `unknown` when it could not be asked.
   */
  async #checkStore(run: Run): Promise<"same" | "new" | "unknown"> {
    const anchor = this.#anchor;
    if (anchor === null) {
      this.#restarted = false;
      return "same"; // nothing read: nothing to drop
    }
    run.lookups--;
    const reply = await run.ask({ op: "ESTADO", id: anchor.id, token: run.token });
    if (reply === null || (!reply.ok && reply.error !== "not_found")) return "unknown";
    this.#restarted = false;
    return reply.ok && reply.pedido.fecha_recibido === anchor.recibido ? "same" : "new";
  }

  /** Notes the newest order read. */
  #see(p: Pedido): void {
    if (this.#anchor === null || p.id > this.#anchor.id) {
      this.#anchor = { id: p.id, recibido: p.fecha_recibido };
    }
  }

  /** Keeps `p` when it ended within the span. */
  #keep(p: Pedido, start: number): void {
    this.#see(p);
    if (isFinished(p.estado) && endOf(p) >= start) this.#put(slim(p));
  }

  async #list(run: Run, estado: Finished, limit: number, antesDe?: number) {
    const reply = await run.ask({
      op: "LISTAR",
      estado,
      limit,
      token: run.token,
      ...(antesDe === undefined ? {} : { antes_de: antesDe }),
    });
    if (!reply?.ok) return null;
    for (const p of reply.pedidos) run.ids.add(p.id);
    return reply.pedidos;
  }

  /**
   * Reads the orders of `estado` newer than the newest read, newest first.
   * The newest id may be lower than before (the newest `error` order sent
   * back to the queue): what is not newer was read before.
   */
  async #readNewer(run: Run, estado: Finished): Promise<void> {
    const chain = this.#chains.get(estado)!;
    const fresh = chain.top === null;
    let limit = fresh
      ? this.#pageSize
      : Math.min(this.#pageSize, Math.max(20, 2 * chain.lastNew + 10));
    let antesDe: number | undefined;
    let newest: number | null = null;
    let oldest: Pedido | null = null;
    let found = 0;
    for (let first = true; first || run.pages-- > 0; first = false) {
      const pedidos = await this.#list(run, estado, limit, antesDe);
      if (pedidos === null) {
        if (first) {
          // Not read this time: what ended since the last read is not known.
          run.failed.add(estado);
          return;
        }
        break; // the newest were read: what is behind them is read back later
      }
      newest ??= pedidos[0]?.id ?? null;
      // From the newest down, every order of this state the token sees was listed.
      run.from.set(estado, pedidos.length < limit ? 0 : pedidos.at(-1)!.id);
      for (const p of pedidos) {
        if (chain.top !== null && p.id <= chain.top) {
          // Met what was read before: the newer ones are all in.
          chain.top = Math.max(chain.top, newest ?? 0);
          chain.lastNew = found;
          chain.readAt = run.at;
          return;
        }
        found++;
        this.#keep(p, run.start);
        oldest = p;
      }
      const whole = pedidos.length < limit || (oldest !== null && endOf(oldest) < run.start);
      if (whole) {
        // Every order of this state, or back to the span's start: nothing older to read.
        chain.top = Math.max(chain.top ?? 0, newest ?? 0);
        chain.floor = null;
        chain.reach = -Infinity;
        chain.lastNew = fresh ? 0 : found;
        chain.readAt = run.at;
        return;
      }
      antesDe = oldest!.id;
      limit = this.#pageSize;
    }
    // The budget ran out (or a page went unanswered) before meeting what was
    // read before (or the span's start): the gap is read back at the next
    // refreshes, and until then is "sin datos" (before `reach`).
    this.#stopAt(chain, newest, oldest);
    chain.lastNew = fresh ? 0 : found;
    chain.readAt = run.at;
  }

  /** The newer orders were read down to `oldest`, not further: the rest is read back later. */
  #stopAt(chain: Chain, newest: number | null, oldest: Pedido | null): void {
    chain.top = Math.max(chain.top ?? 0, newest ?? 0);
    chain.floor = oldest?.id ?? chain.floor;
    chain.reach = oldest === null ? chain.reach : endOf(oldest);
  }

  /** Reads further back, while `estado` does not reach the span's start and pages are left. */
  async #readBack(run: Run, estado: Finished): Promise<void> {
    const chain = this.#chains.get(estado)!;
    while (chain.floor !== null && run.pages > 0) {
      if (chain.reach <= this.#droppedUntil) {
        chain.floor = null; // what is older would not be kept
        return;
      }
      run.pages--;
      const pedidos = await this.#list(run, estado, this.#pageSize, chain.floor);
      if (pedidos === null) return; // the gap stays, said by `reach`
      for (const p of pedidos) this.#keep(p, run.start);
      const oldest = pedidos.at(-1);
      if (oldest === undefined || pedidos.length < this.#pageSize || endOf(oldest) < run.start) {
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
  async #lookUp(run: Run, liveIds: Set<number>): Promise<void> {
    const missing = [...this.#watch].filter((id) => !liveIds.has(id) && !this.#orders.has(id));
    const asked = missing.slice(0, Math.max(0, run.lookups));
    const replies = await Promise.all(
      asked.map((id) => run.ask({ op: "ESTADO", id, token: run.token })),
    );
    const watch = new Set(liveIds);
    replies.forEach((reply, i) => {
      if (reply === null) watch.add(asked[i]!); // ask again next time
      else if (reply.ok && isFinished(reply.pedido.estado)) this.#keep(reply.pedido, run.start);
      else if (reply.ok) watch.add(reply.pedido.id); // waiting beyond the list
    });
    // Those not asked this time wait for the next refreshes, up to a bound.
    for (const id of missing.slice(asked.length, asked.length + 1000)) watch.add(id);
    this.#watch = watch;
  }

  /** Drops what ended before the span, and the oldest past the bound. */
  #forget(start: number): void {
    for (const [id, p] of this.#orders) if (endOf(p) < start) this.#drop(id);
    const over = this.#orders.size - this.#maxOrders;
    if (over <= 0) return;
    const byEnd = [...this.#orders.values()].sort((a, b) => endOf(a) - endOf(b));
    for (const p of byEnd.slice(0, over)) this.#drop(p.id);
    this.#droppedUntil = Math.max(this.#droppedUntil, endOf(byEnd[over - 1]!));
  }

  #coverage(run: Run, liveUnread: boolean): Coverage | null {
    const chains = [...this.#chains.entries()];
    // A state never read (since the window began or was reset) is known from nothing.
    const reading = Math.max(
      ...chains.map(([, c]) => c.top === null ? run.at : c.floor === null ? -Infinity : c.reach),
    );
    const from = Math.max(reading, this.#droppedUntil, this.#resetAt);
    // A state read before but not now: what ended since its last read is not known.
    const unread = chains.filter(([e, c]) => run.failed.has(e) && c.top !== null);
    const unreadSince = liveUnread
      ? run.start
      : unread.length > 0
      ? Math.max(run.start, Math.min(...unread.map(([, c]) => c.readAt)))
      : null;
    if (from <= run.start && unreadSince === null) return null;
    const reason = from === this.#resetAt && from > run.start
      ? "reset"
      : this.#droppedUntil >= reading
      ? "limit"
      : "reading";
    return { from, reason, maxOrders: this.#maxOrders, unreadSince };
  }

  /** Drops everything read; `at`, the moment since which the span can be known again. */
  #reset(at: number): void {
    this.#orders = new Map();
    this.#watch = new Set();
    this.#droppedUntil = -Infinity;
    this.#resetAt = at;
    this.#anchor = null;
    for (const estado of FINISHED) {
      this.#chains.set(estado, {
        top: null,
        floor: null,
        reach: -Infinity,
        lastNew: 0,
        readAt: -Infinity,
      });
    }
  }
}
