/**
 * What changes the set of orders: PEDIDO (idempotency first, then a slot,
 * then the commit), CANCELAR and REINTENTAR. Each answers only after its
 * change is committed.
 *
 * @module
 */

import type { Capacity } from "../capacity.ts";
import type { Logger } from "../log.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { Pedido, PedidoNuevo } from "../protocol/messages.ts";
import type { PedidoReply, PedidoStateReply } from "../protocol/replies.ts";
import type { ChangeResult, OrderStore } from "../store/store.ts";
import type { ActiveOrders } from "./active_orders.ts";
import { ClavesInFlight } from "./claves_in_flight.ts";
import type { FinishWaiters } from "./finish_waiters.ts";
import type { RunCounters } from "./run_counters.ts";
import type { Scheduler } from "./scheduler.ts";

/** Options of {@linkcode Intake}. */
export interface IntakeOptions {
  store: OrderStore;
  capacity: Capacity;
  active: ActiveOrders;
  scheduler: Scheduler;
  counters: RunCounters;
  waiters: FinishWaiters;
  logger: Logger;
}

/** Accepts, cancels and retries orders. */
export class Intake {
  readonly #store: OrderStore;
  readonly #capacity: Capacity;
  readonly #active: ActiveOrders;
  readonly #scheduler: Scheduler;
  readonly #counters: RunCounters;
  readonly #waiters: FinishWaiters;
  readonly #logger: Logger;
  readonly #claves = new ClavesInFlight();

  constructor(options: IntakeOptions) {
    this.#store = options.store;
    this.#capacity = options.capacity;
    this.#active = options.active;
    this.#scheduler = options.scheduler;
    this.#counters = options.counters;
    this.#waiters = options.waiters;
    this.#logger = options.logger;
  }

  /**
   * PEDIDO: answers from the `clave` when it is already stored, else takes a
   * slot, stores the order (as `owner`'s, when given) and queues it.
   * Resolves only after the commit.
   *
   * @throws {ProtocolError} `queue_full` when no slot is free, `internal`
   * when storing failed.
   */
  async submit(pedido: PedidoNuevo, owner?: number): Promise<PedidoReply> {
    if (pedido.clave !== null) {
      const existing = await this.#store.findByClave(pedido.clave);
      if (existing) return duplicateReply(existing);
    }
    let permit = this.#capacity.tryTake();
    if (permit === null && pedido.clave !== null && await this.#claves.settled(pedido.clave)) {
      // Full, but an order with this clave was being stored (sent just before,
      // maybe on this connection): answer as if this one had waited for it.
      const existing = await this.#store.findByClave(pedido.clave);
      if (existing) return duplicateReply(existing);
      permit = this.#capacity.tryTake();
    }
    if (permit === null) {
      this.#counters.rejected();
      throw new ProtocolError("queue_full");
    }
    let result;
    try {
      result = await this.#claves.track(
        pedido.clave,
        this.#store.insert(pedido, new Date().toISOString(), owner ?? null),
      );
    } catch (error) {
      permit.release();
      this.#logger.error("order.insert_failed", { error: String(error) });
      throw new ProtocolError("internal", undefined, { cause: error });
    }
    if (result.status === "duplicate") {
      permit.release();
      return duplicateReply(result.pedido);
    }
    this.#counters.accepted();
    const { id } = result.pedido;
    this.#logger.debug("order.accepted", { id });
    this.#active.add(result.pedido, permit);
    this.#scheduler.schedule(result.pedido);
    return { ok: true, id, estado: "pendiente", mensaje: `✅ Pedido ${id} recibido.` };
  }

  /**
   * CANCELAR (§2.8): a `pendiente` order is withdrawn from the queue, stored
   * `cancelado`, and its slot given back. A worker that took it first wins.
   *
   * @throws {ProtocolError} `not_found`, `not_cancellable` (with the order),
   * `internal` when the change could not be stored (the order stays queued).
   */
  async cancel(id: number): Promise<PedidoStateReply> {
    const held = this.#active.get(id);
    if (held !== undefined && !this.#scheduler.withdraw(id)) {
      // A worker has it. The store may not say so yet (its start is written
      // after, or with its end for an order processed in no time).
      const pedido = await this.#store.get(id);
      if (pedido === null) throw notFound(id);
      throw notCancellable(this.#active.present(pedido));
    }
    let result: ChangeResult;
    try {
      result = await this.#store.cancel(id, new Date().toISOString());
    } catch (error) {
      this.#logger.error("order.cancel_failed", { id, error: String(error) });
      if (held !== undefined) this.#requeue(id);
      throw new ProtocolError("internal", "❌ No se pudo cancelar el pedido; reintente.", {
        cause: error,
      });
    }
    if (result.status === "not_found") throw notFound(id);
    if (result.status === "refused") {
      if (held !== undefined) this.#requeue(id);
      throw notCancellable(result.pedido);
    }
    if (held !== undefined) this.#active.end(id);
    this.#counters.ended("cancelado");
    this.#logger.debug("order.cancelled", { id });
    this.#waiters.wake(id);
    return { ok: true, pedido: result.pedido };
  }

  /**
   * REINTENTAR (§2.9): an `error` order takes a slot and goes back to the
   * tail of the queue, `intentos` kept.
   *
   * @throws {ProtocolError} `not_found`, `not_retryable` (with the order),
   * `queue_full` when no slot is free (nothing changes), `internal`.
   */
  async retry(id: number): Promise<PedidoStateReply> {
    if (this.#active.get(id) !== undefined) {
      const pedido = await this.#store.get(id);
      if (pedido === null) throw notFound(id);
      throw notRetryable(pedido);
    }
    const permit = this.#capacity.tryTake();
    if (permit === null) throw new ProtocolError("queue_full");
    let result: ChangeResult;
    try {
      result = await this.#store.retry(id);
    } catch (error) {
      permit.release();
      this.#logger.error("order.retry_failed", { id, error: String(error) });
      throw new ProtocolError("internal", "❌ No se pudo reintentar el pedido; reintente.", {
        cause: error,
      });
    }
    if (result.status !== "changed") {
      permit.release();
      if (result.status === "not_found") throw notFound(id);
      throw notRetryable(result.pedido);
    }
    this.#logger.debug("order.retried", { id });
    this.#active.add(result.pedido, permit);
    this.#scheduler.schedule(result.pedido);
    return { ok: true, pedido: result.pedido };
  }

  /** Puts a withdrawn order back at the head of the queue (its cancel did not commit). */
  #requeue(id: number): void {
    const held = this.#active.get(id);
    if (held !== undefined) this.#scheduler.schedule(held.pedido, { front: true });
  }
}

/** The reply to a PEDIDO whose `clave` is already stored. */
export function duplicateReply(pedido: Pedido): PedidoReply {
  return {
    ok: true,
    id: pedido.id,
    estado: pedido.estado,
    mensaje: `✅ Pedido ${pedido.id} ya estaba registrado (clave repetida).`,
    duplicado: true,
  };
}

/** `not_found` for order `id`. */
export function notFound(id: number): ProtocolError {
  return new ProtocolError("not_found", `❌ No existe el pedido ${id}.`);
}

/** `not_cancellable`, with the order as it is. */
export function notCancellable(pedido: Pedido): ProtocolError {
  return new ProtocolError(
    "not_cancellable",
    `❌ El pedido ${pedido.id} está ${pedido.estado}: solo se cancela un pedido pendiente.`,
    { extra: { pedido } },
  );
}

/** `not_retryable`, with the order as it is. */
export function notRetryable(pedido: Pedido): ProtocolError {
  return new ProtocolError(
    "not_retryable",
    `❌ El pedido ${pedido.id} está ${pedido.estado}: solo se reintenta un pedido en error.`,
    { extra: { pedido } },
  );
}
