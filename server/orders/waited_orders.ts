/**
 * The orders clients wait on (`ESTADO` with `esperar`, §2.2), held once
 * however many waits there are: `--max-waiters` waits (10000 by default) on
 * one order of 64 KiB would otherwise each keep a copy of it while they wait,
 * and each read it again, and encode it again, when they end.
 *
 * While an order has waits ({@linkcode WaitedOrders.hold}), a read of it that
 * finds it as it was read last is answered with the object read then
 * ({@linkcode WaitedOrders.share}); a new state is a new object, frozen, that
 * keeps the `productos` of the one before (an order's items never change).
 * Frozen, it is encoded once for all its replies (`encode_reply.ts`).
 *
 * Re-reads of an order no event wakes (one held by another daemon, §9) are
 * shared too ({@linkcode WaitedOrders.poll}): a poll joins one in flight. Reads
 * that must see a change (the first, the one after a wake, the one at a
 * wait's turn, §8) are never joined to one that began before: they are the
 * caller's own, and only their result is shared.
 *
 * @module
 */

import type { Pedido } from "../protocol/messages.ts";

interface Kept {
  /** The order as read last, frozen; null until a read answered. */
  pedido: Pedido | null;
  /** Waits holding it. */
  holders: number;
  /** A poll in flight, which other polls join. */
  polling: Promise<Pedido | null> | null;
}

/** The orders being waited on, each held once. */
export class WaitedOrders {
  readonly #kept = new Map<number, Kept>();
  readonly #read: (id: number) => Promise<Pedido | null>;

  /** @param read Reads an order from the store (null when there is none). */
  constructor(read: (id: number) => Promise<Pedido | null>) {
    this.#read = read;
  }

  /** Keeps order `id` shared until the returned handle is disposed (one wait on it). */
  hold(id: number): Disposable {
    let kept = this.#kept.get(id);
    if (kept === undefined) this.#kept.set(id, kept = { pedido: null, holders: 0, polling: null });
    kept.holders++;
    const own = kept;
    let open = true;
    return {
      [Symbol.dispose]: () => {
        if (!open) return;
        open = false;
        if (--own.holders === 0 && this.#kept.get(id) === own) this.#kept.delete(id);
      },
    };
  }

  /**
   * The shared object for `pedido` as read now: the one kept, when the order
   * is in the same state; else `pedido` itself, frozen, kept from now on. An
   * order no wait holds is returned as it is.
   */
  share(pedido: Pedido): Pedido {
    const kept = this.#kept.get(pedido.id);
    if (kept === undefined) return pedido;
    const last = kept.pedido;
    if (last !== null && sameState(last, pedido)) return last;
    // A copy: the store's object is not frozen under its reader's feet.
    const next = Object.freeze({ ...pedido, productos: last?.productos ?? pedido.productos });
    kept.pedido = next;
    return next;
  }

  /** Reads held order `id` again, joining a poll of it already in flight. */
  poll(id: number): Promise<Pedido | null> {
    const kept = this.#kept.get(id);
    if (kept === undefined) return this.#read(id);
    if (kept.polling !== null) return kept.polling;
    const polling = this.#read(id).finally(() => {
      if (kept.polling === polling) kept.polling = null;
    });
    kept.polling = polling;
    return polling;
  }

  /** Orders held now (for tests and metrics). */
  get size(): number {
    return this.#kept.size;
  }
}

/**
 * Whether two reads of one order show the same state. The fields compared
 * are all that change; `resultado` is not compared beyond its identity when
 * it is an object: it is written once with the end of an attempt (fenced by
 * the attempt's number, §9), so the end's fields and `intentos` name it, and
 * a retry ends another attempt with a larger `intentos`.
 */
function sameState(a: Pedido, b: Pedido): boolean {
  return a.id === b.id &&
    a.estado === b.estado &&
    a.intentos === b.intentos &&
    a.fecha_inicio === b.fecha_inicio &&
    a.fecha_fin === b.fecha_fin &&
    a.worker === b.worker &&
    a.detalle_error === b.detalle_error &&
    a.duracion_ms === b.duracion_ms &&
    (a.resultado === b.resultado ||
      (typeof a.resultado === "object" && a.resultado !== null &&
        typeof b.resultado === "object" && b.resultado !== null));
}
