/**
 * PEDIDO, CANCELAR and REINTENTAR on a store shared by several daemons
 * (§9). The order goes to the shared queue, not to this daemon's pool:
 * whichever daemon has a free worker claims it (`claimer.ts`).
 *
 * Capacity is decided twice, both in `capacity.ts`'s terms: the local gate
 * (a {@linkcode Permit}, held while the insert is in flight) refuses at once
 * what could not fit anyway, and the database decides for the cluster, in
 * the insert's transaction ({@linkcode SharedQueue.insertWithinCapacity}).
 * Either refusal is `queue_full`, and nothing is stored. An order with a
 * `clave` holds no permit while it is inserted (it may be a resend, which
 * takes no room): with no room here it is looked up instead, else the
 * database alone decides.
 *
 * @module
 */

import type { Capacity, Permit } from "../capacity.ts";
import type { Logger } from "../log.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { PedidoNuevo } from "../protocol/messages.ts";
import type { PedidoReply, PedidoStateReply } from "../protocol/replies.ts";
import type { CheckedInsert, ClaimedOrder, SharedQueue } from "../store/shared_queue.ts";
import type { OrderStore } from "../store/store.ts";
import { StoreUnavailableError } from "../store/store_unavailable_error.ts";
import type { ActiveOrders } from "./active_orders.ts";
import { ClavesInFlight } from "./claves_in_flight.ts";
import { OneAtATime } from "./one_at_a_time.ts";
import type { FinishWaiters } from "./finish_waiters.ts";
import { duplicateReply, notCancellable, notFound, notRetryable } from "./intake.ts";
import { queueFull } from "./queue_full.ts";
import type { RunCounters } from "./run_counters.ts";

/** Options of {@linkcode SharedIntake}. */
export interface SharedIntakeOptions {
  store: OrderStore & SharedQueue;
  capacity: Capacity;
  counters: RunCounters;
  waiters: FinishWaiters;
  logger: Logger;
  /** Called when an order joined the queue (this daemon may claim it at once). */
  onQueued: () => void;
  /** The orders this daemon holds, to show one a worker here has as it is. @default {none} */
  active?: Pick<ActiveOrders, "present">;
  /**
   * This daemon's room to run orders, when it takes new orders at their
   * insert while it has room and nothing older waits (saving the claim).
   * @default {none: every order goes through the queue}
   */
  taker?: Taker;
}

/** Room to run orders taken at their insert: the {@linkcode Claimer}'s. */
export interface Taker {
  /** Promises room for one order; false when there is none. */
  reserve(): boolean;
  /**
   * The promised room is not needed (the order waits in the queue, or was not
   * stored). `failed`: the insert failed, and may have taken its order all the same.
   */
  unreserve(failed?: boolean): void;
  /** Runs the attempt of an order taken at its insert, in its promised room. */
  runTaken(order: ClaimedOrder): void;
}

/**
 * The protocol error for a store that failed: `unavailable` while the
 * database cannot be reached, else `internal`.
 */
export function storeFailure(error: unknown, message?: string): ProtocolError {
  if (error instanceof StoreUnavailableError) {
    return new ProtocolError("unavailable", undefined, { cause: error });
  }
  return new ProtocolError("internal", message, { cause: error });
}

/** Accepts, cancels and retries orders of the shared queue. */
export class SharedIntake {
  readonly #options: SharedIntakeOptions;
  readonly #claves = new ClavesInFlight();
  /** Retries of one order are sent one at a time: the second finds it `pendiente`. */
  readonly #retries = new OneAtATime<number>();

  constructor(options: SharedIntakeOptions) {
    this.#options = options;
  }

  /**
   * PEDIDO: answers from the `clave` when it is already stored, else stores
   * the order (with its owner, an account, if any) if the cluster has room.
   * Resolves only after the commit.
   *
   * @throws {ProtocolError} `queue_full`, `unavailable` (the database cannot be
   * reached: nothing was accepted), `internal`.
   */
  async submit(pedido: PedidoNuevo, owner?: number): Promise<PedidoReply> {
    const { store, counters, logger } = this.#options;
    // With room here, the insert itself answers a stored clave (`duplicate`),
    // and it goes to the writer now, in request order (§8): a lookup first
    // would let the orders sent after this one overtake it.
    if (pedido.clave !== null && this.#options.capacity.free === 0) {
      // No room here: a clave already stored still gets its order (§8,
      // idempotency first), else the order is refused. The inserts of this
      // clave in flight are noted before the lookup: one that commits while
      // the lookup runs, unseen by it, is then waited for and looked at again.
      const settling = this.#claves.settled(pedido.clave);
      const existing = await this.#guard(
        "order.lookup_failed",
        () => store.findByClave(pedido.clave!),
      );
      if (existing) return duplicateReply(existing);
      if (await settling) {
        // An order with this clave was being stored (sent just before, maybe
        // on this connection): answer as if this one had waited for it.
        const stored = await this.#guard(
          "order.lookup_failed",
          () => store.findByClave(pedido.clave!),
        );
        if (stored) return duplicateReply(stored);
      }
      counters.rejected();
      throw queueFull(this.#options.logger, this.#options.capacity);
    }
    const { taker } = this.#options;
    const take = taker?.reserve() ?? false;
    let result: CheckedInsert | undefined;
    try {
      const insert = () =>
        store.insertWithinCapacity(pedido, new Date().toISOString(), owner ?? null, { take });
      // An order with a clave may be a resend of one stored: holding a local
      // slot while the database answers `duplicate` would refuse other new
      // orders meanwhile, with room in the cluster. The database decides
      // its room alone, exactly.
      result = await this.#claves.track(
        pedido.clave,
        pedido.clave === null
          ? this.#withSlot("order.insert_failed", insert, { countRejected: true })
          : this.#guard("order.insert_failed", insert),
      );
    } finally {
      // The room promised is used by the order taken, or given back.
      if (take && result?.status === "inserted" && result.claimed) taker!.runTaken(result.claimed);
      else if (take) taker!.unreserve(result === undefined);
    }
    if (result.status === "full") {
      counters.rejected();
      throw queueFull(this.#options.logger, this.#options.capacity);
    }
    if (result.status === "duplicate") return duplicateReply(result.pedido);
    counters.accepted();
    const { id } = result.pedido;
    logger.debug("order.accepted", { id, taken: result.claimed !== undefined });
    if (!result.claimed) this.#options.onQueued();
    return { ok: true, id, estado: "pendiente", mensaje: `✅ Pedido ${id} recibido.` };
  }

  /**
   * CANCELAR (§2.8): a `pendiente` order, whichever daemon took it in, is
   * stored `cancelado`; one a worker claimed first is `not_cancellable`.
   *
   * @throws {ProtocolError} `not_found`, `not_cancellable`, `unavailable`, `internal`.
   */
  async cancel(id: number): Promise<PedidoStateReply> {
    const result = await this.#guard(
      "order.cancel_failed",
      () => this.#options.store.cancel(id, new Date().toISOString()),
      "❌ No se pudo cancelar el pedido; reintente.",
    );
    if (result.status === "not_found") throw notFound(id);
    if (result.status === "refused") {
      throw notCancellable(this.#options.active?.present(result.pedido) ?? result.pedido);
    }
    this.#options.counters.ended("cancelado");
    this.#options.logger.debug("order.cancelled", { id });
    this.#options.waiters.wake(id);
    return { ok: true, pedido: result.pedido };
  }

  /**
   * REINTENTAR (§2.9): an `error` order goes back to the queue if the
   * cluster has room, `intentos` kept.
   *
   * @throws {ProtocolError} `not_found`, `not_retryable`, `queue_full`, `unavailable`, `internal`.
   */
  retry(id: number): Promise<PedidoStateReply> {
    return this.#retries.run(id, () => this.#retryNow(id));
  }

  async #retryNow(id: number): Promise<PedidoStateReply> {
    // Refused without a slot when it cannot be retried, so that it keeps none from a PEDIDO meanwhile.
    const stored = await this.#guard("order.retry_failed", () => this.#options.store.get(id));
    if (stored === null) throw notFound(id);
    if (stored.estado !== "error") throw notRetryable(stored);
    const result = await this.#withSlot(
      "order.retry_failed",
      () => this.#options.store.retryWithinCapacity(id),
      { message: "❌ No se pudo reintentar el pedido; reintente." },
    );
    if (result.status === "full") throw queueFull(this.#options.logger, this.#options.capacity);
    if (result.status === "not_found") throw notFound(id);
    if (result.status === "refused") throw notRetryable(result.pedido);
    this.#options.logger.debug("order.retried", { id });
    this.#options.onQueued();
    return { ok: true, pedido: result.pedido };
  }

  /** Runs `write` holding a local slot, given back once the database has decided. */
  async #withSlot<T>(
    event: string,
    write: () => Promise<T>,
    options: { countRejected?: boolean; message?: string },
  ): Promise<T> {
    const permit: Permit | null = this.#options.capacity.tryTake();
    if (permit === null) {
      if (options.countRejected) this.#options.counters.rejected();
      throw queueFull(this.#options.logger, this.#options.capacity);
    }
    try {
      return await this.#guard(event, write, options.message);
    } finally {
      permit.release();
    }
  }

  async #guard<T>(event: string, run: () => Promise<T>, message?: string): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) {
        this.#options.logger.repeated("error", event, { error: String(error) });
      }
      throw storeFailure(error, message);
    }
  }
}
