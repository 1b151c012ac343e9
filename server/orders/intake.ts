/**
 * What changes the set of orders: PEDIDO (idempotency first, then a slot,
 * then the commit), CANCELAR and REINTENTAR. Each answers only after its
 * change is committed.
 *
 * @module
 */

import type { Capacity, Permit } from "../capacity.ts";
import type { Logger } from "../log.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { Pedido, PedidoNuevo } from "../protocol/messages.ts";
import type { PedidoReply, PedidoStateReply } from "../protocol/replies.ts";
import type { ChangeResult, InsertResult, OrderStore } from "../store/store.ts";
import type { ActiveOrders } from "./active_orders.ts";
import { ClavesInFlight } from "./claves_in_flight.ts";
import { OneAtATime } from "./one_at_a_time.ts";
import type { FinishWaiters } from "./finish_waiters.ts";
import type { RunCounters } from "./run_counters.ts";
import { queueFull } from "./queue_full.ts";
import type { Scheduler } from "./scheduler.ts";
import type { StorageHealth } from "./storage_health.ts";

/** Options of {@linkcode Intake}. */
export interface IntakeOptions {
  store: OrderStore;
  capacity: Capacity;
  active: ActiveOrders;
  scheduler: Scheduler;
  counters: RunCounters;
  waiters: FinishWaiters;
  logger: Logger;
  /** Notes failed writes, and logs when they succeed again. */
  storage: StorageHealth;
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
  readonly #storage: StorageHealth;
  readonly #claves = new ClavesInFlight();
  /** Retries of one order are decided one at a time: the second finds it `pendiente`. */
  readonly #retries = new OneAtATime<number>();
  /**
   * CANCELARs in flight, by id, of orders they found not held here. An
   * order being stored or put back (a PEDIDO, a REINTENTAR) may be that
   * order: it is held when its commit is answered, which may come before or
   * after the cancel's, and must not be queued before the cancel is settled.
   */
  readonly #cancelling = new Map<number, number>();
  /** Orders held and not queued: a cancel in flight decides ({@linkcode Intake.#cancelling}). */
  readonly #parked = new Set<number>();
  /** Orders cancelled before they were held here: not to be queued when they are. */
  readonly #cancelled = new Set<number>();
  /** Inserts of orders with a `clave` that hold a slot: a duplicate gives it back. */
  readonly #slotHolders = new Set<Promise<void>>();
  /** PEDIDOs waiting in line for a slot ({@linkcode Intake.#slotAfterDuplicates}), and the line. */
  #inLine = 0;
  #line: Promise<unknown> = Promise.resolve();

  constructor(options: IntakeOptions) {
    this.#store = options.store;
    this.#capacity = options.capacity;
    this.#active = options.active;
    this.#scheduler = options.scheduler;
    this.#counters = options.counters;
    this.#waiters = options.waiters;
    this.#logger = options.logger;
    this.#storage = options.storage;
  }

  /**
   * PEDIDO: takes a slot, stores the order (as `owner`'s, when given) and
   * queues it; an order whose `clave` is stored already is answered with
   * that order (the insert finds it, and the slot goes back). Resolves only
   * after the commit.
   *
   * The slot is taken, and the insert queued, before this first awaits: a
   * run of orders pipelined on a connection reaches the store in the order
   * sent (§8), whichever of them carry a `clave`. (A lookup of the `clave`
   * first let an order sent after it overtake it: it took the last slot,
   * or the lower id, wherever the lookup was not answered at once.)
   *
   * With no slot free, an order waits in line, first come first served,
   * for the inserts of orders with a `clave` that hold one (each may give
   * it back, a duplicate), as if it had waited for their replies; then,
   * still full, an order whose `clave` is stored is answered from it
   * (§8 "Idempotency first"), and any other is refused.
   *
   * @throws {ProtocolError} `queue_full` when no slot is free, `internal`
   * when storing failed.
   */
  async submit(pedido: PedidoNuevo, owner?: number): Promise<PedidoReply> {
    let started: Started | null = null;
    const begin = (permit: Permit) => {
      const inserting = this.#claves.track(
        pedido.clave,
        this.#storage.track(this.#store.insert(pedido, new Date().toISOString(), owner ?? null)),
      );
      // With a clave, it holds a slot it may give back (a duplicate): an order
      // that finds none waits until it has kept or given back its slot.
      let decided = () => {};
      if (pedido.clave !== null) {
        const { promise, resolve } = Promise.withResolvers<void>();
        this.#slotHolders.add(promise);
        decided = () => {
          this.#slotHolders.delete(promise);
          resolve();
        };
      }
      started = { permit, inserting, decided };
    };
    const now = this.#inLine === 0 ? this.#capacity.tryTake() : null;
    if (now !== null) begin(now);
    else await this.#slotAfterDuplicates(begin);
    if (started === null && pedido.clave !== null) {
      // Full: a clave already stored still gets its order.
      const existing = await this.#store.findByClave(pedido.clave);
      if (existing) return duplicateReply(existing);
      // A slot that came free meanwhile: the insert answers a clave stored since.
      const late = this.#capacity.tryTake();
      if (late !== null) begin(late);
      else {
        // Refused, unless an order with this clave sent before it is being
        // stored (maybe on this connection, maybe in a slot that came free while
        // this one looked): as if this one had waited for its reply, it is
        // that order.
        await this.#claves.settled(pedido.clave);
        const stored = await this.#store.findByClave(pedido.clave);
        if (stored) return duplicateReply(stored);
      }
    }
    if (started === null) {
      this.#counters.rejected();
      throw queueFull(this.#logger, this.#capacity);
    }
    const { permit, inserting, decided } = started as Started;
    try {
      let result;
      try {
        result = await inserting;
      } catch (error) {
        permit.release();
        this.#logger.repeated("error", "order.insert_failed", { error: String(error) });
        throw new ProtocolError("internal", undefined, { cause: error });
      }
      if (result.status === "duplicate") {
        permit.release();
        return duplicateReply(result.pedido);
      }
      this.#counters.accepted();
      const { id } = result.pedido;
      this.#logger.debug("order.accepted", { id });
      this.#hold(result.pedido, permit);
      return { ok: true, id, estado: "pendiente", mensaje: `✅ Pedido ${id} recibido.` };
    } finally {
      decided();
    }
  }

  /**
   * A slot for a PEDIDO that found none free: in line behind the PEDIDOs
   * waiting before it, once the inserts of orders with a `clave` holding a
   * slot then have settled (a duplicate among them gives its slot back),
   * its insert is begun with the slot, if one is free then.
   */
  async #slotAfterDuplicates(begin: (permit: Permit) => void): Promise<void> {
    if (this.#inLine === 0 && this.#slotHolders.size === 0) return;
    this.#inLine++;
    const turn = this.#line.then(async () => {
      await Promise.all([...this.#slotHolders]);
      // Begun within the turn: the next in line waits for this insert too.
      const permit = this.#capacity.tryTake();
      if (permit !== null) begin(permit);
    });
    this.#line = turn.catch(() => {});
    try {
      await turn;
    } finally {
      this.#inLine--;
    }
  }

  /**
   * CANCELAR (§2.8): a `pendiente` order is withdrawn from the queue, stored
   * `cancelado`, and its slot given back. A worker that took it first wins.
   *
   * @throws {ProtocolError} `not_found`, `not_cancellable` (with the order),
   * `internal` when the change could not be stored (the order stays queued).
   */
  async cancel(id: number): Promise<PedidoStateReply> {
    let held = this.#active.get(id);
    for (let waited = 0; held !== undefined && !this.#scheduler.withdraw(id); waited += POLL_MS) {
      // A worker has it. The store may not say so yet (its start is written
      // after, or with its end for an order processed in no time).
      const pedido = await this.#store.get(id);
      if (pedido === null) throw notFound(id);
      const seen = this.#active.present(pedido);
      if (seen.estado !== "pendiente") throw notCancellable(seen);
      // Stored pendiente, but held here past that: its end is being written
      // (answered once written, with what it became), or its start or end
      // could not be written (a full disk): said as it is, not as the store
      // has it.
      const state = this.#active.get(id)?.state;
      if (state === "cerrando" && waited >= CLOSING_WAIT_MS) {
        throw notCancellable(seen, "ya se procesó (su fin se está guardando)");
      }
      if (waited >= TAKEN_WAIT_MS) {
        throw notCancellable(seen, state === "en proceso" ? "está en proceso" : undefined);
      }
      // Still stored pendiente: its start is being written, or it is one of a
      // run of orders that take no time (written with their ends), or one
      // that another cancel decides. It is taken all the same: answer once
      // the store shows what became of it, as every later read will.
      await this.#waiters.wait(id, { timeoutMs: POLL_MS });
      held = this.#active.get(id);
    }
    const watching = held === undefined;
    if (watching) this.#cancelling.set(id, (this.#cancelling.get(id) ?? 0) + 1);
    let result: ChangeResult;
    try {
      result = await this.#storage.track(this.#store.cancel(id, new Date().toISOString()));
    } catch (error) {
      this.#logger.repeated("error", "order.cancel_failed", { id, error: String(error) });
      if (watching) this.#unwatch(id, false);
      else this.#requeue(id);
      throw new ProtocolError("internal", "❌ No se pudo cancelar el pedido; reintente.", {
        cause: error,
      });
    }
    if (watching) this.#unwatch(id, result.status === "changed");
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
  retry(id: number): Promise<PedidoStateReply> {
    return this.#retries.run(id, () => this.#retryNow(id));
  }

  async #retryNow(id: number): Promise<PedidoStateReply> {
    // Refused without a slot when it cannot be retried, so that it keeps none from a PEDIDO meanwhile.
    const stored = await this.#store.get(id);
    if (stored === null) throw notFound(id);
    if (this.#active.get(id) !== undefined || stored.estado !== "error") {
      throw notRetryable(this.#active.present(stored));
    }
    const permit = this.#capacity.tryTake();
    if (permit === null) throw queueFull(this.#logger, this.#capacity);
    let result: ChangeResult;
    try {
      result = await this.#storage.track(this.#store.retry(id));
    } catch (error) {
      permit.release();
      this.#logger.repeated("error", "order.retry_failed", { id, error: String(error) });
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
    this.#hold(result.pedido, permit);
    return { ok: true, pedido: result.pedido };
  }

  /**
   * Holds an order just stored `pendiente` (new, or put back) with its slot,
   * and queues it, unless a cancel found it first (it then ends here) or is
   * in flight (it waits for that one).
   */
  #hold(pedido: Pedido, permit: Permit): void {
    const { id } = pedido;
    if (this.#cancelled.delete(id)) {
      permit.release();
      return;
    }
    this.#active.add(pedido, permit);
    if (this.#cancelling.has(id)) this.#parked.add(id);
    else this.#scheduler.schedule(pedido);
  }

  /**
   * A cancel of order `id`, not held when it started, is settled: an order
   * parked for it meanwhile ends (`cancelled`) or goes to the queue; one
   * cancelled and not held yet is not queued when it is.
   */
  #unwatch(id: number, cancelled: boolean): void {
    const left = this.#cancelling.get(id)! - 1;
    if (left > 0) this.#cancelling.set(id, left);
    else this.#cancelling.delete(id);
    if (!this.#parked.has(id)) {
      if (cancelled) this.#cancelled.add(id);
      return;
    }
    if (!cancelled && left > 0) return; // another cancel in flight decides
    this.#parked.delete(id);
    if (cancelled) return this.#active.end(id);
    const order = this.#active.get(id);
    if (order !== undefined) this.#scheduler.schedule(order.pedido);
  }

  /** Puts a withdrawn order back at the head of the queue (its cancel did not commit). */
  #requeue(id: number): void {
    const held = this.#active.get(id);
    if (held !== undefined) this.#scheduler.schedule(held.pedido, { front: true });
  }
}

/** How often a CANCELAR looks again at an order a worker has but that still shows `pendiente`, ms. */
const POLL_MS = 10;
/** How long it looks, ms, before it answers with the order as it is. */
const TAKEN_WAIT_MS = 5000;
/**
 * How long it waits, ms, for the end of an order that ran to be written
 * (held `cerrando`), before it says so: a commit takes milliseconds; past
 * this the disk is failing (full), and the end waits for it.
 */
const CLOSING_WAIT_MS = 1000;

/** A PEDIDO's slot and its insert, once begun. */
interface Started {
  permit: Permit;
  inserting: Promise<InsertResult>;
  /** Its slot is kept or given back: those waiting for it may go on. */
  decided: () => void;
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

/** A state after "está": "en error", as one says it; the others as they are ("en proceso", "listo"). */
function enEstado(estado: Pedido["estado"]): string {
  return estado === "error" ? "en error" : estado;
}

/**
 * `not_cancellable`, with the order as it is (stored); `como` says what it
 * is when the store lags behind (by default "está" and its stored state).
 */
export function notCancellable(pedido: Pedido, como?: string): ProtocolError {
  return new ProtocolError(
    "not_cancellable",
    `❌ El pedido ${pedido.id} ${
      como ?? `está ${enEstado(pedido.estado)}`
    }: solo se cancela un pedido pendiente.`,
    { extra: { pedido } },
  );
}

/** `not_retryable`, with the order as it is. */
export function notRetryable(pedido: Pedido): ProtocolError {
  return new ProtocolError(
    "not_retryable",
    `❌ El pedido ${pedido.id} está ${
      enEstado(pedido.estado)
    }: solo se reintenta un pedido en error.`,
    { extra: { pedido } },
  );
}
