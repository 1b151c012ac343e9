/**
 * The orders this daemon holds and has not finished, by id, each in one of
 * three named states, with the capacity slot it holds. `pendientes` and
 * `en_proceso` of STATS are counted here.
 *
 * - `pendiente`: waiting for a worker (queued on the pool).
 * - `en proceso`: a worker has it. Counted `en proceso` once the store says
 *   so (its start committed, or claimed so), `pendiente` before: a read
 *   after STATS must not find it older than counted (§8). STATS waits for
 *   starts being committed, as for ends.
 * - `cerrando`: processed; its final state is being committed. Counted
 *   with neither while that goes as it should (a moment); once a write of
 *   its end has failed (a full disk), counted `pendiente` until one
 *   succeeds: the store still has it unfinished, ESTADO shows it as the
 *   store has it, and a stop leaves it for the next start to run again.
 *
 * @module
 */

import type { Permit } from "../capacity.ts";
import type { Pedido } from "../protocol/messages.ts";
import type { Job } from "../../workers/processor_messages.ts";

/** The state of an order this daemon holds. */
export type ActiveState = "pendiente" | "en proceso" | "cerrando";

/**
 * Whether the store has an attempt's start: `stored` (committed, or the
 * order was claimed `en proceso` there), `writing` (being committed), or
 * `none` (an attempt whose start is written with its end, or whose start
 * could not be written: the store still has the order `pendiente`).
 */
export type StartRecord = "stored" | "writing" | "none";

/** An order held by this daemon. */
export interface ActiveOrder {
  state: ActiveState;
  /** The order as its current attempt sees it. */
  pedido: Pedido;
  /** Its capacity slot, given back when it ends. */
  readonly permit: Permit;
  /** Its attempt's job on the pool (for CANCELAR to withdraw it while queued), if any. */
  job: Job | null;
  /** Ends its retry backoff early (CANCELAR), while it waits one; else null. */
  backoff: AbortController | null;
  /** The attempt a worker has (since it took it, until the order is queued again); else null. */
  run: { worker: number; startedAt: number } | null;
  /** Held `cerrando` after a write of its end failed: counted `pendiente`. */
  endUnwritten: boolean;
  /** While `en proceso`: whether the store has its start (counted `en proceso` once `stored`). */
  start: StartRecord;
}

/** Unfinished orders by id. */
export class ActiveOrders {
  readonly #orders = new Map<number, ActiveOrder>();
  /** Those asked for by {@linkcode ActiveOrders.closed}, resolved by {@linkcode ActiveOrders.end}. */
  readonly #closing = new Map<number, PromiseWithResolvers<void>>();
  /** Those asked for by {@linkcode ActiveOrders.allCounted}, resolved by `end` or `endFailed`. */
  readonly #counting = new Map<number, PromiseWithResolvers<void>>();

  /** Starts holding an order, `pendiente`, with its slot. */
  add(pedido: Pedido, permit: Permit): ActiveOrder {
    const order: ActiveOrder = {
      state: "pendiente",
      pedido,
      permit,
      job: null,
      backoff: null,
      run: null,
      endUnwritten: false,
      start: "none",
    };
    this.#orders.set(pedido.id, order);
    return order;
  }

  /** The order, if this daemon holds it. */
  get(id: number): ActiveOrder | undefined {
    return this.#orders.get(id);
  }

  /** Moves an order to another state (no-op for an order not held). */
  move(id: number, state: ActiveState): void {
    const order = this.#orders.get(id);
    if (order === undefined) return;
    order.state = state;
    order.endUnwritten = false;
    if (state === "pendiente") order.run = null;
    // Counted again (waiting or running): STATS need not wait for it.
    if (state !== "cerrando") this.#counted(id);
  }

  /**
   * A write of the end of an order held `cerrando` failed (it is tried
   * again): until it is written, the order counts `pendiente`.
   */
  endFailed(id: number): void {
    const order = this.#orders.get(id);
    if (order?.state !== "cerrando") return;
    order.endUnwritten = true;
    // Counted now (pendiente): STATS need not wait for the disk to come back.
    this.#counted(id);
  }

  /**
   * Worker `worker` took the order's attempt at `startedAt` (ms): it is `en
   * proceso`, with its start in the store as `start` says (then
   * {@linkcode ActiveOrders.startWritten} once a write of it ends).
   */
  start(id: number, worker: number, startedAt: number, start: StartRecord): void {
    const order = this.#orders.get(id);
    if (order === undefined) return;
    order.state = "en proceso";
    order.endUnwritten = false;
    order.run = { worker, startedAt };
    order.start = start;
    // Counted again (running, or waiting until its start is stored): STATS need not wait for it.
    if (start !== "writing") this.#counted(id);
  }

  /**
   * The write of an attempt's start ended: committed (`true`; counted `en
   * proceso` from now) or failed (counted `pendiente`, as the store has it).
   */
  startWritten(id: number, written: boolean): void {
    const order = this.#orders.get(id);
    if (order?.state !== "en proceso" || order.start !== "writing") return;
    order.start = written ? "stored" : "none";
    this.#counted(id);
  }

  /**
   * The order as a client should see it: as stored, with the worker filled
   * in when the store says `en proceso` but not yet which worker (a claim on
   * PostgreSQL, whose worker is written after the worker takes it).
   *
   * The store is the truth for the state itself: an order a worker took is
   * shown `en proceso` once its start is committed (a few ms), not before.
   * Shown from memory ahead of the store, an ESTADO said `en proceso` while
   * a LISTAR of `pendiente` still listed it, and two orders were `en proceso`
   * with one worker (the next's start shown, the last's end not yet stored).
   */
  present(pedido: Pedido): Pedido {
    const run = this.#orders.get(pedido.id)?.run;
    if (run === undefined || run === null) return pedido;
    if (pedido.estado === "en proceso" && pedido.worker === null) {
      return {
        ...pedido,
        worker: run.worker,
        fecha_inicio: pedido.fecha_inicio ?? new Date(run.startedAt).toISOString(),
      };
    }
    return pedido;
  }

  /**
   * Resolves once the order, held here `cerrando` (its final state being
   * committed), has ended and given its slot back; null when it is not held
   * `cerrando`. (A read that saw it ended waits for this: a failed write of
   * its end may still have committed, its answer lost.)
   */
  closed(id: number): Promise<void> | null {
    if (this.#orders.get(id)?.state !== "cerrando") return null;
    let closing = this.#closing.get(id);
    if (closing === undefined) this.#closing.set(id, closing = Promise.withResolvers<void>());
    return closing.promise;
  }

  /**
   * For every order held `cerrando` now and counted with neither waiting
   * nor running orders: resolves once it is counted, ended (its slot given
   * back) or, after a write of its end failed ({@linkcode ActiveOrders.endFailed}),
   * `pendiente`. And for every order whose start is being committed: once
   * that write ends. What STATS waits for: not for a disk to come back.
   */
  allCounted(): Promise<void>[] {
    const counted: Promise<void>[] = [];
    for (const [id, order] of this.#orders) {
      const starting = order.state === "en proceso" && order.start === "writing";
      const ending = order.state === "cerrando" && !order.endUnwritten;
      if (!starting && !ending) continue;
      let counting = this.#counting.get(id);
      if (counting === undefined) this.#counting.set(id, counting = Promise.withResolvers<void>());
      counted.push(counting.promise);
    }
    return counted;
  }

  /** The order is counted again (waiting, running or ended): STATS's wait for it ends. */
  #counted(id: number): void {
    this.#counting.get(id)?.resolve();
    this.#counting.delete(id);
  }

  /** Stops holding an order and gives its slot back. */
  end(id: number): void {
    const order = this.#orders.get(id);
    if (order === undefined) return;
    this.#orders.delete(id);
    order.permit.release();
    this.#closing.get(id)?.resolve();
    this.#closing.delete(id);
    this.#counted(id);
  }

  /**
   * How many wait and how many are on a worker, as the store has them. An
   * order on a worker counts `en proceso` once its start is stored, and
   * `pendiente` before (a read would still find it so). An order `cerrando`
   * is on no worker (its worker is free, its slot held until its end is
   * committed), so never `en proceso`; it waits, `pendiente`, once a write
   * of its end failed.
   */
  counts(): { pendientes: number; enProceso: number } {
    let pendientes = 0;
    let enProceso = 0;
    for (const { state, endUnwritten, start } of this.#orders.values()) {
      if (state === "pendiente" || endUnwritten) pendientes++;
      else if (state === "en proceso") start === "stored" ? enProceso++ : pendientes++;
    }
    return { pendientes, enProceso };
  }

  /** How many orders are held. */
  get size(): number {
    return this.#orders.size;
  }
}
