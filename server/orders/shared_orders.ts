/**
 * The orders of a daemon on a store shared by several daemons (§9), put
 * together for {@linkcode OrderService}: {@linkcode SharedIntake} puts
 * orders in the shared queue, the {@linkcode Claimer} takes them from it for
 * this daemon's pool, {@linkcode SharedAttempts} runs and records them, and
 * finished orders anywhere wake this daemon's `ESTADO esperar`.
 *
 * @module
 */

import type { Capacity } from "../capacity.ts";
import type { Logger } from "../log.ts";
import type { ProcessorPool } from "../processing/processor_pool.ts";
import type { ProcessingOptions } from "./attempt_job.ts";
import type { ClusterCounts, SharedQueue } from "../store/shared_queue.ts";
import type { OrderStore } from "../store/store.ts";
import type { ActiveOrders } from "./active_orders.ts";
import { Claimer } from "./claimer.ts";
import type { FinishWaiters } from "./finish_waiters.ts";
import type { OrderStats } from "./order_service.ts";
import type { RunCounters } from "./run_counters.ts";
import { SharedAttempts } from "./shared_attempts.ts";
import { SharedIntake, storeFailure } from "./shared_intake.ts";

/**
 * Orders held at once by a daemon whose orders take no processing time,
 * claimed half at a time: the next half is claimed while the last is run
 * and recorded (holding 1024 and claiming them all at once, claims and
 * attempt ends took turns, PostgreSQL working on one, then the other:
 * draining 20,000 orders, warm, 1.13x faster this way, medians of 6 runs
 * alternating with the old way).
 */
export const ZERO_TIME_PREFETCH = 2048;

/**
 * The least a drain waits for a claim in flight, ms, even with a shorter
 * drain timeout: a claim answered just after is still given back to the
 * queue while the store is open, not left leased to a daemon that is gone.
 */
export const CLAIM_WAIT_MS = 1000;

/**
 * The longest a stop waits, once drained, for a renewal in flight and for
 * the cluster's count of pending orders (the summary's), ms: not the
 * store's whole deadline, the stop goes on when the database is away.
 */
export const LAST_READ_MS = 1000;

/** Options of {@linkcode SharedOrders}. */
export interface SharedOrdersOptions extends ProcessingOptions {
  store: OrderStore & SharedQueue;
  capacity: Capacity;
  pool: ProcessorPool;
  active: ActiveOrders;
  counters: RunCounters;
  waiters: FinishWaiters;
  logger: Logger;
}

/** A daemon's part of the shared queue. */
export class SharedOrders {
  /** PEDIDO, CANCELAR, REINTENTAR. */
  readonly intake: SharedIntake;
  readonly #store: SharedQueue;
  readonly #attempts: SharedAttempts;
  readonly #claimer: Claimer;
  readonly #finished: Disposable;

  constructor(options: SharedOrdersOptions) {
    const { store, pool, waiters } = options;
    this.#store = store;
    this.#attempts = new SharedAttempts({
      ...options,
      onSettled: () => this.#claimer.roomMade(),
      // Claimed again on time, not at the next slow poll.
      onRetryDue: (ms) => this.#claimer.pokeIn(ms),
    });
    // Orders that take time are claimed for free workers only, so that idle
    // daemons get the rest; orders that take none are claimed in batches.
    const timed = options.processor !== undefined || (options.processMs?.max ?? 0) > 0;
    const limit = timed ? pool.size : Math.max(pool.size, ZERO_TIME_PREFETCH);
    this.#claimer = new Claimer({
      store,
      attempts: this.#attempts,
      logger: options.logger,
      limit,
      minBatch: timed ? 1 : limit / 2,
      ...(timed ? {} : { maxBatch: limit / 2 }),
    });
    this.intake = new SharedIntake({
      ...options,
      onQueued: () => this.#claimer.poke(),
      taker: this.#claimer,
    });
    this.#finished = store.onFinished((ids) => {
      for (const id of ids) waiters.wake(id);
    });
  }

  /** Starts claiming (instead of recovering: the cluster's unfinished orders are in the queue). */
  start(): void {
    this.#claimer.start();
  }

  /**
   * Stops claiming, lets running attempts finish for `timeoutMs`, and gives
   * the rest back to the queue for any daemon. A claim in flight is awaited
   * within the drain's time (at least {@linkcode CLAIM_WAIT_MS}): on a
   * connection gone silent it would hold the stop until its deadline.
   * {@linkcode SharedOrders.stop} ends what is left.
   *
   * @returns how many orders were given back.
   */
  async drain(timeoutMs: number): Promise<number> {
    const began = performance.now();
    await this.#claimer.stopClaiming(Math.max(timeoutMs, CLAIM_WAIT_MS));
    // Renewing until the last attempt settles: a drain may outlast a lease.
    const left = await this.#attempts.drain(Math.max(0, timeoutMs - (performance.now() - began)));
    this.#finished[Symbol.dispose]();
    // What this daemon gave back is for the others now.
    if (left > 0) this.#store.announceWork();
    return left;
  }

  /**
   * After {@linkcode SharedOrders.drain}: stops renewing, and reads the
   * cluster's queue, side by side, each for {@linkcode LAST_READ_MS} at most.
   *
   * @returns the cluster's `pendiente` orders, or null when the database
   * did not say in time.
   */
  async stop(): Promise<number | null> {
    const [, pending] = await Promise.all([
      this.#claimer.stop(LAST_READ_MS),
      this.#pendingNow(LAST_READ_MS),
    ]);
    return pending;
  }

  /** The cluster's `pendiente` orders, or null when the database does not say within `ms`. */
  async #pendingNow(ms: number): Promise<number | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const giveUp = new Promise<null>((resolve) => timer = setTimeout(resolve, ms, null));
    try {
      return (await Promise.race([this.#store.clusterCounts(), giveUp]))?.pendientes ?? null;
    } catch {
      return null; // the database cannot be reached: not known
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The cluster's room for more unfinished work now (its capacity less the
   * orders unfinished in the database), or null when the database cannot be
   * read.
   */
  async room(): Promise<number | null> {
    try {
      return roomOf(await this.#store.clusterCounts());
    } catch {
      return null;
    }
  }

  /**
   * STATS on a shared store: this daemon's counters, the cluster's
   * `pendientes`, `en_proceso`, `capacidad` and `libres`.
   *
   * @throws {ProtocolError} `unavailable` while the database cannot be reached.
   */
  async stats(local: OrderStats): Promise<OrderStats> {
    let counts;
    try {
      counts = await this.#store.clusterCounts();
    } catch (error) {
      throw storeFailure(error);
    }
    return {
      ...local,
      pendientes: counts.pendientes,
      en_proceso: counts.enProceso,
      capacidad: counts.capacidad,
      libres: Math.max(0, roomOf(counts)),
    };
  }
}

/** The cluster's capacity less its unfinished orders (negative when a smaller capacity took over). */
function roomOf(counts: ClusterCounts): number {
  return counts.capacidad - counts.pendientes - counts.enProceso;
}
