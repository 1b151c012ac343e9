/**
 * The scheduler: runs each order held by this daemon on the processor
 * pool, first in first out, records every attempt in the store, retries a
 * failed attempt, and drains at a stop.
 *
 * An attempt that takes processing time is recorded twice: when a worker
 * takes it (`en proceso`, visible while it runs) and when it ends. One that
 * takes none goes to a worker in a run ({@linkcode runsInBatch}) and is
 * recorded once, when it ends, with the start and end its worker reported
 * (`markRan`); if it failed, its start is recorded then, so that `intentos`
 * counts it. The order's capacity slot is given back only after its final
 * state is committed.
 *
 * With a processor module (`processor`, §11) every attempt is a `process`
 * job, one per message, bounded by its timeout, and its result is stored in
 * `resultado`. A failed attempt is tried again after the wait the
 * {@linkcode RetryPolicy} gives, the order stored `pendiente` meanwhile (so
 * CANCELAR can withdraw it), until the policy's last attempt; then it ends
 * `error` with the reason in `detalle_error`.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { Pedido } from "../protocol/messages.ts";
import type { ProcessorPool } from "../processing/processor_pool.ts";
import {
  type JobRun,
  PoolClosedError,
  RunawayAttemptError,
  StartNotRecordedError,
} from "../processing/worker_pool.ts";
import type { OrderStore, Outcome } from "../store/store.ts";
import { runsInBatch } from "../../workers/process_job.ts";
import { attemptJob, iso, type ProcessingOptions } from "./attempt_job.ts";
import type { ActiveOrders } from "./active_orders.ts";
import type { FinishWaiters } from "./finish_waiters.ts";
import { logFailedAttempt } from "./failed_attempt_log.ts";
import { SettlingWrites } from "./settling_writes.ts";
import { backoff, RetryPolicy } from "./retry_policy.ts";
import type { RunCounters } from "./run_counters.ts";
import type { StorageHealth } from "./storage_health.ts";

/** Options of {@linkcode Scheduler}. */
export interface SchedulerOptions extends ProcessingOptions {
  store: OrderStore;
  pool: ProcessorPool;
  active: ActiveOrders;
  counters: RunCounters;
  waiters: FinishWaiters;
  logger: Logger;
  /** Notes failed writes, and logs when they succeed again. */
  storage: StorageHealth;
}

/** The reason a queued attempt was withdrawn (CANCELAR). */
const WITHDRAWN = new Error("Withdrawn: the order was cancelled");
/** How long an order whose start could not be written waits before it is tried again. */
const UNRECORDED_START_RETRY_MS = 1000;

/** Runs and records the attempts of the orders this daemon holds. */
export class Scheduler {
  readonly #store: OrderStore;
  readonly #pool: ProcessorPool;
  readonly #active: ActiveOrders;
  readonly #counters: RunCounters;
  readonly #waiters: FinishWaiters;
  readonly #logger: Logger;
  readonly #storage: StorageHealth;
  readonly #processMs: { min: number; max: number };
  readonly #retry: RetryPolicy;
  readonly #processor: { timeoutMs: number } | undefined;
  /** Writes of attempts' ends in flight (a drain awaits them). */
  readonly #settling = new SettlingWrites();
  /** Aborted when a drain starts: backoff waits end, their orders stay `pendiente`. */
  readonly #draining = new AbortController();
  #leftPending = 0;

  constructor(options: SchedulerOptions) {
    this.#store = options.store;
    this.#pool = options.pool;
    this.#active = options.active;
    this.#counters = options.counters;
    this.#waiters = options.waiters;
    this.#logger = options.logger;
    this.#storage = options.storage;
    this.#processMs = options.processMs ?? { min: 0, max: 0 };
    this.#retry = options.retry ?? new RetryPolicy();
    this.#processor = options.processor;
  }

  /**
   * Queues the next attempt of an order held in `active` (at the tail, or
   * at the head for a retry that keeps its place).
   */
  schedule(pedido: Pedido, options: { front?: boolean } = {}): void {
    const { id } = pedido;
    const held = this.#active.get(id);
    if (held === undefined) throw new Error(`Cannot schedule order ${id}: it is not held`);
    held.state = "pendiente";
    held.run = null;
    held.pedido = pedido;
    const job = attemptJob(pedido, { processor: this.#processor, processMs: this.#processMs });
    held.job = job;
    const recordOnce = runsInBatch(job);
    let worker = 0;
    let startedAt = 0;
    let endedAt = 0;
    /** Whether the attempt's start was written (false when that write failed, e.g. a full disk). */
    let started: Promise<boolean> = Promise.resolve(true);
    const onStart = (w: number): Promise<boolean> | undefined => {
      worker = w;
      startedAt = Date.now();
      // An attempt run in a batch has its start written with its end.
      this.#active.start(id, w, startedAt, recordOnce ? "none" : "writing");
      if (recordOnce) return undefined;
      started = this.#markStarted(id, worker, startedAt);
      started.then((written) => this.#active.startWritten(id, written));
      // A processor module acts outside (its effects keyed by `intento`): it
      // starts once its attempt counts, so a kill meanwhile cannot leave one
      // run uncounted, its intento run again. A simulated wait need not wait.
      return job.kind === "process" ? started : undefined;
    };
    /** Writes the end with the attempt's start (`markRan`): a run's, or one whose start was not written. */
    const endWithStart = (outcome: Outcome) => {
      const start = iso(startedAt);
      return this.#finish(
        id,
        outcome,
        startedAt,
        () => this.#storage.track(this.#store.markRan(id, worker, start, outcome)),
      );
    };
    // The end of an attempt whose start could not be written records the start
    // too, so no order ends with no start and `intentos` 0.
    const end = async (outcome: Outcome) =>
      await started ? this.#finish(id, outcome, startedAt) : endWithStart(outcome);
    const onRan = (run: JobRun) => {
      worker = run.worker;
      startedAt = run.startedAt;
      endedAt = run.endedAt;
    };
    const settled = this.#pool.submit(job, { front: options.front, onStart, onRan }).then(
      (result) => {
        const outcome: Outcome = { estado: "listo", at: iso(endedAt || Date.now()) };
        if (job.kind === "process" && typeof result === "string") outcome.resultado = result;
        return recordOnce ? endWithStart(outcome) : end(outcome);
      },
      (error: Error) => {
        if (error === WITHDRAWN) return;
        if (error instanceof PoolClosedError) return this.#leavePending(id);
        // Its start could not be written (the disk full): it did not run, and its attempt
        // does not count; it waits for the storage, then goes first again.
        if (error instanceof StartNotRecordedError) {
          return this.#retryLater(pedido, UNRECORDED_START_RETRY_MS);
        }
        // A started attempt counts in `intentos`, also when it took no time.
        if (recordOnce && worker > 0) this.#markStarted(id, worker, startedAt);
        const attempts = pedido.intentos + 1;
        // A runaway leaves a thread that cannot be stopped: past the pool's size, another
        // attempt would leave another core spinning.
        const wait = error instanceof RunawayAttemptError && !error.retryable
          ? null
          : this.#retry.delayAfter(attempts);
        logFailedAttempt(this.#logger, {
          id,
          attempt: attempts,
          error: error.message,
          retryInMs: wait,
        });
        if (wait !== null) return this.#retryLater({ ...pedido, intentos: attempts }, wait);
        const outcome: Outcome = { estado: "error", at: iso(Date.now()), detalle: error.message };
        return end(outcome); // a run's start is written apart above
      },
    );
    this.#settling.track(settled);
  }

  /**
   * Ends an order held in `active` with `outcome`, without running it (its
   * last attempt allowed was cut short by the last run's end): written as
   * any order's end is, retried until it is committed, its slot then given
   * back; counted with no processing time.
   */
  endUnrun(id: number, outcome: Outcome): void {
    this.#settling.track(this.#finish(id, outcome, 0));
  }

  /**
   * Takes a queued attempt back from the pool, so that it never runs
   * (CANCELAR). Only an order that no worker has taken can be withdrawn.
   *
   * @returns whether it was withdrawn.
   */
  withdraw(id: number): boolean {
    const held = this.#active.get(id);
    if (held === undefined || held.state !== "pendiente") return false;
    if (held.backoff !== null) {
      // Taken first, in this turn: a second CANCELAR withdraws nothing more.
      const backoff = held.backoff;
      held.backoff = null;
      backoff.abort(WITHDRAWN);
      return true;
    }
    return held.job !== null && this.#pool.withdraw(held.job, WITHDRAWN);
  }

  /**
   * Stops processing: orders not started stay `pendiente`; running ones may
   * finish for `timeoutMs`, after which they are put back to `pendiente`.
   *
   * @returns how many orders were left `pendiente`.
   */
  /** Orders a drain has left `pendiente` for the next start so far. */
  get leftPending(): number {
    return this.#leftPending;
  }

  async drain(timeoutMs: number): Promise<number> {
    this.#draining.abort();
    await this.#settling.drain(this.#pool, timeoutMs);
    return this.#leftPending;
  }

  /**
   * Waits out a failed order's backoff, stored `pendiente` meanwhile, then
   * queues its next attempt at the head. CANCELAR cuts the wait short (the
   * order is withdrawn), so does a drain (it stays `pendiente`).
   */
  #retryLater(pedido: Pedido, waitMs: number): void {
    const { id } = pedido;
    const held = this.#active.get(id);
    if (held === undefined) return;
    held.state = "pendiente";
    held.run = null;
    held.pedido = pedido;
    held.job = null;
    const withdraw = held.backoff = new AbortController();
    this.#storage.track(this.#store.markPending(id)).catch((error) =>
      this.#logger.repeated("warn", "order.mark_pending_failed", { id, error: String(error) })
    );
    const signal = AbortSignal.any([withdraw.signal, this.#draining.signal]);
    this.#settling.track(
      backoff(waitMs, signal).then((passed) => {
        held.backoff = null;
        if (passed) this.schedule(pedido, { front: true });
        else if (!withdraw.signal.aborted) return this.#leavePending(id);
        return undefined; // withdrawn: CANCELAR goes on with it
      }),
    );
  }

  /** Writes an attempt's start; resolves with whether it was written (never rejects). */
  #markStarted(id: number, worker: number, startedAt: number): Promise<boolean> {
    const writing = this.#storage.track(this.#store.markStarted(id, worker, iso(startedAt)));
    return writing.then(() => true, (error) => {
      this.#logger.repeated("error", "order.mark_started_failed", { id, error: String(error) });
      return false;
    });
  }

  /**
   * Writes an order's final state (by default `markFinished`), retrying until
   * it is committed, then gives its slot back, counts it and wakes its waiters.
   */
  async #finish(
    id: number,
    outcome: Outcome,
    startedAt: number,
    write: () => Promise<void> = () => this.#storage.track(this.#store.markFinished(id, outcome)),
  ): Promise<void> {
    this.#active.move(id, "cerrando");
    // Retried until it is committed (a full disk may come back); when the
    // daemon stops first, the order stays unfinished in the store (`en
    // proceso`, or `pendiente` for a zero-time attempt) and is processed
    // again at the next start.
    for (let attempt = 1;; attempt++) {
      try {
        await write();
        break;
      } catch (error) {
        // STATS counts it pendiente meanwhile, as the store still has it.
        this.#active.endFailed(id);
        // The first failure, then one line in 30 (a full disk can last minutes).
        if (attempt % 30 === 1) {
          this.#logger.error("order.mark_finished_failed", { id, attempt, error: String(error) });
        }
        // Stopped first: the order is processed again at the next start, so the
        // stop's summary counts it with those left pendiente.
        if (this.#settling.signal.aborted) return void this.#leftPending++;
        await backoff(Math.min(2000, 50 * attempt), this.#settling.signal);
        if (this.#settling.signal.aborted) return void this.#leftPending++;
      }
    }
    this.#active.end(id);
    const duration = startedAt ? Date.parse(outcome.at) - startedAt : undefined;
    this.#counters.ended(outcome.estado, duration);
    this.#logger.debug("order.finished", { id, estado: outcome.estado });
    this.#waiters.wake(id);
  }

  async #leavePending(id: number): Promise<void> {
    this.#active.end(id);
    this.#leftPending++;
    try {
      await this.#storage.track(this.#store.markPending(id));
    } catch (error) {
      // Left `en proceso`: the next start processes it again all the same.
      this.#logger.repeated("warn", "order.mark_pending_failed", { id, error: String(error) });
    }
  }
}
