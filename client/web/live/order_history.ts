/**
 * What the Panel's snapshots saw of each order that its current copy no
 * longer says. An order goes back to the queue when an attempt fails and
 * it waits out its retry backoff, when Reintentar sends an `error` order
 * back, or when a daemon restarts under it: it is `pendiente` again, its
 * attempt's `fecha_inicio`, `fecha_fin` and `worker` cleared, its
 * `fecha_recibido` kept (§2.9, §11). So from its copy alone it would seem
 * to have waited since it came, through its runs and its time in `error`.
 * The snapshots saw it run and go back: they keep its earlier attempts and
 * when it waited, for the timeline ({@linkcode OrderPast}).
 *
 * When it went back to the queue is known to the time between two
 * snapshots. What no snapshot saw (the Panel was not watched) is not
 * guessed: an order first seen back in the queue is drawn waiting from the
 * snapshot that first saw it.
 *
 * @module
 */

import type { Pedido } from "../../../server/protocol/messages.ts";
import type { OrderPast, PastAttempt } from "../components/timeline.tsx";

/** Options of {@linkcode OrderHistory}. */
export interface OrderHistoryOptions {
  /** How long what was seen is kept: the timeline's span. */
  spanMs: number;
  /** Orders followed at most; the least recently seen go first. @default {20000} */
  max?: number;
}

/** An attempt as a snapshot saw it in an order's copy. */
interface SeenAttempt {
  intento: number;
  worker: number;
  inicio: number;
  /** Its end, once the copy had one (`error`). */
  fin: number | null;
}

/** What was seen of one order. */
interface Seen {
  /** Where its copy was in its life when last seen: see {@linkcode progress}. */
  progress: number;
  /** When it was last seen. */
  seenAt: number;
  /** The attempt its copy showed when last seen. */
  attempt: SeenAttempt | null;
  /** Whether it has been back in the queue: then its waits are those seen. */
  requeued: boolean;
  /** Its earlier attempts, oldest first. */
  attempts: PastAttempt[];
  /** When it waited, as seen (`to` Infinity: it waits still). */
  waits: { from: number; to: number }[];
}

/**
 * Where an order's copy is in its life, growing as it moves on: each
 * attempt raises `intentos` when it starts (§8), a failed one leaves it
 * `pendiente` with the same `intentos`. So a copy that says less than one
 * already seen is older (two snapshots' replies can cross), and is passed
 * over.
 */
function progress(p: Pedido): number {
  const step = p.fecha_inicio !== null
    ? (p.fecha_fin === null ? 1 : 2) // running; ended
    : p.estado === "pendiente"
    ? 3 // waiting again (or never run: intentos 0)
    : 4; // cancelled while waiting
  return p.intentos * 4 + step;
}

function ms(iso: string | null): number | null {
  if (iso === null) return null;
  const value = Date.parse(iso);
  return Number.isNaN(value) ? null : value;
}

/** The past of the orders the Panel showed, by id. */
export class OrderHistory {
  readonly #spanMs: number;
  readonly #max: number;
  readonly #seen = new Map<number, Seen>();

  /**
   * Follows no order yet.
   *
   * @param options How long what was seen is kept, and of how many orders.
   */
  constructor(options: OrderHistoryOptions) {
    this.#spanMs = options.spanMs;
    this.#max = options.max ?? 20_000;
  }

  /** Orders followed now. */
  get size(): number {
    return this.#seen.size;
  }

  /**
   * Takes in one snapshot's copies of the orders, seen at `at`.
   *
   * @returns The past of those of them that have been back in the queue,
   * by id (the others' copies say it all).
   */
  observe(at: number, pedidos: readonly Pedido[]): Map<number, OrderPast> {
    const pasts = new Map<number, OrderPast>();
    for (const pedido of pedidos) {
      const seen = this.#observe(at, pedido);
      if (seen?.requeued) {
        pasts.set(pedido.id, {
          attempts: seen.attempts.map((attempt) => ({ ...attempt })),
          waits: seen.waits.map((wait) => ({ ...wait })),
        });
      }
    }
    this.#forget(at);
    return pasts;
  }

  #observe(at: number, p: Pedido): Seen | undefined {
    const inicio = ms(p.fecha_inicio);
    const attempt: SeenAttempt | null = inicio === null || p.worker === null
      ? null
      : { intento: p.intentos, worker: p.worker, inicio, fin: ms(p.fecha_fin) };
    let seen = this.#seen.get(p.id);
    const now = progress(p);
    if (seen !== undefined && now <= seen.progress) {
      seen.seenAt = at;
      this.#touch(p.id, seen);
      return seen;
    }
    const backInQueue = attempt === null && p.intentos > 0;
    if (seen === undefined) {
      // Only an order that has run can go back to the queue; a `listo` one
      // that ran once never will.
      if (attempt === null && !backInQueue) return undefined;
      if (p.estado === "listo" && p.intentos <= 1) return undefined;
      seen = { progress: now, seenAt: at, attempt, requeued: false, attempts: [], waits: [] };
      this.#seen.set(p.id, seen);
      if (backInQueue || p.intentos > 1) {
        // It went back before any snapshot saw it: when it waited is not known,
        // but from now on (it waits still when its copy has no attempt).
        seen.requeued = true;
        if (backInQueue) seen.waits.push({ from: at, to: this.#waitEnd(p, at) });
      }
      return seen;
    }
    const recibido = ms(p.fecha_recibido) ?? at;
    const last = seen.attempt;
    if (last !== null && last.inicio !== attempt?.inicio) {
      // The attempt seen is gone: it ended (the order is back in the queue) and
      // maybe a new one started, between the two snapshots.
      const end = last.fin ?? Math.min(at, attempt?.inicio ?? at);
      if (!seen.requeued) {
        seen.requeued = true;
        // Its first wait, from its copy before: it came, then this attempt started.
        if (last.intento === 1) seen.waits.push({ from: recibido, to: last.inicio });
      }
      seen.attempts.push({ ...last, fin: end, error: last.fin !== null });
      // Back in the queue by the snapshot that saw it so (a run seen going: as it ended).
      const from = Math.min(at, attempt?.inicio ?? at);
      seen.waits.push({ from, to: attempt?.inicio ?? this.#waitEnd(p, at) });
    } else if (seen.requeued) {
      // Still the wait seen, or it ended: it started, or it was cancelled.
      const wait = seen.waits.at(-1);
      if (wait !== undefined && wait.to === Infinity) {
        wait.to = attempt?.inicio ?? this.#waitEnd(p, at);
      }
    }
    seen.attempt = attempt;
    seen.progress = now;
    seen.seenAt = at;
    // What ended before the span is drawn no more: an order sent back again
    // and again keeps only its recent past.
    const since = at - this.#spanMs;
    seen.attempts = seen.attempts.filter((past) => past.fin >= since);
    seen.waits = seen.waits.filter((wait) => wait.to >= since);
    this.#touch(p.id, seen);
    return seen;
  }

  /** When a wait seen ends by the copy: its cancellation, or never yet. */
  #waitEnd(p: Pedido, at: number): number {
    if (p.estado === "pendiente") return Infinity;
    return ms(p.fecha_fin) ?? at;
  }

  /** Moves an order to the end, as the most recently seen. */
  #touch(id: number, seen: Seen): void {
    this.#seen.delete(id);
    this.#seen.set(id, seen);
  }

  /** Forgets the orders not seen for a span, and the least recently seen past `max`. */
  #forget(at: number): void {
    for (const [id, seen] of this.#seen) {
      if (seen.seenAt >= at - this.#spanMs && this.#seen.size <= this.#max) break;
      this.#seen.delete(id);
    }
  }
}
