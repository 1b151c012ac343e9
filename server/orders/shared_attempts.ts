/**
 * Runs the orders this daemon claimed from the shared queue (§9) on the
 * processor pool, and records each attempt's end with a write fenced by
 * the attempt's number: if another daemon took the order over meanwhile
 * (this one was paused past its lease), the write changes nothing and the
 * order is left to the newer attempt.
 *
 * - An attempt that takes processing time records its worker when it
 *   starts, and its end; one that takes none is recorded once, at its end.
 * - A failed attempt goes back to the queue, where any daemon claims it
 *   again once its retry backoff has passed (the {@linkcode RetryPolicy}:
 *   stored as the order's `no_antes_de`), until the policy's attempts are
 *   spent; then it ends `error`.
 * - With a processor module, the job is the module's (`process`), its
 *   result stored in `resultado`; else it is the simulated wait.
 * - A claimed order holds a slot of the local gate while it is here, given
 *   back once its end is committed (or fenced).
 *
 * @module
 */

import type { Capacity } from "../capacity.ts";
import type { Pedido } from "../protocol/messages.ts";
import type { Logger } from "../log.ts";
import type { ProcessorPool } from "../processing/processor_pool.ts";
import { type JobRun, PoolClosedError, RunawayAttemptError } from "../processing/worker_pool.ts";
import type { AttemptEnd, ClaimedOrder, Lease, SharedQueue } from "../store/shared_queue.ts";
import type { OrderStore, Outcome } from "../store/store.ts";
import { runsInBatch } from "../../workers/process_job.ts";
import { attemptJob, iso, type ProcessingOptions } from "./attempt_job.ts";
import type { ActiveOrders } from "./active_orders.ts";
import type { FinishWaiters } from "./finish_waiters.ts";
import { logFailedAttempt, logInterrupted } from "./failed_attempt_log.ts";
import { SettlingWrites } from "./settling_writes.ts";
import { backoff, RetryPolicy } from "./retry_policy.ts";
import type { RunCounters } from "./run_counters.ts";

/** Options of {@linkcode SharedAttempts}. */
export interface SharedAttemptsOptions extends ProcessingOptions {
  store: SharedQueue & Pick<OrderStore, "get">;
  pool: ProcessorPool;
  capacity: Capacity;
  active: ActiveOrders;
  counters: RunCounters;
  waiters: FinishWaiters;
  logger: Logger;
  /** Called whenever an order leaves this daemon (room to claim another). */
  onSettled?: () => void;
  /** Called when an order released for a retry may be claimed again, in `ms`. */
  onRetryDue?: (ms: number) => void;
}

/** Why a queued attempt was withdrawn: its lease was lost. */
const LEASE_LOST = new Error("Withdrawn: the lease was lost");

/** Why attempts were stopped: another daemon may take their orders over now. */
const FENCED = new Error(
  "Stopped: this daemon's lock is not known held, so another daemon may take its orders over",
);

/** The attempts of claimed orders. */
export class SharedAttempts {
  readonly #o: SharedAttemptsOptions;
  readonly #processMs: { min: number; max: number };
  readonly #retry: RetryPolicy;
  /** Claimed orders here, by id, with their lease. */
  readonly #held = new Map<number, Lease>();
  /**
   * Orders claimed again while their previous attempt here is still
   * settling (its end was committed but the answer lost, and the retry of
   * the write is fenced): each runs once that attempt has let go.
   */
  readonly #next = new Map<number, ClaimedOrder>();
  /** Ids whose final write is under way (their lease may end with it). */
  readonly #writing = new Set<number>();
  /** Writes of attempts' ends in flight (a drain awaits them). */
  readonly #settling = new SettlingWrites();
  #leftPending = 0;

  constructor(options: SharedAttemptsOptions) {
    this.#o = options;
    this.#processMs = options.processMs ?? { min: 0, max: 0 };
    this.#retry = options.retry ?? new RetryPolicy();
  }

  /** Orders claimed and not yet settled here. */
  get held(): number {
    return this.#held.size + this.#next.size;
  }

  /** The leases held now, to renew: one per order, its newest attempt's. */
  leases(): Lease[] {
    return [...this.#held.values()].map((lease) => this.#current(lease.id) ?? lease);
  }

  /** The lease of the newest attempt of order `id` here, if any. */
  #current(id: number): Lease | undefined {
    const next = this.#next.get(id);
    return next === undefined ? this.#held.get(id) : { id, attempt: next.attempt };
  }

  /**
   * These `leases` were lost (renewal found them taken over): attempts not
   * started are withdrawn; running ones finish, and their writes are
   * fenced. A lease of an attempt settled here meanwhile, or replaced by a
   * newer claim here, is passed over.
   */
  lost(leases: readonly Lease[]): void {
    for (const { id, attempt } of leases) {
      // Settled meanwhile, or claimed again here since: that newer lease is not the one lost.
      if (this.#current(id)?.attempt !== attempt) continue;
      // Claimed again and not started: it is no longer ours to run.
      const waiting = this.#next.delete(id);
      if (!waiting && this.#writing.has(id)) continue;
      this.#o.logger.warn("order.lease_lost", { id, attempt });
      if (waiting) {
        this.#o.onSettled?.();
        continue;
      }
      const held = this.#o.active.get(id);
      if (held?.job) this.#o.pool.withdraw(held.job, LEASE_LOST);
      // No longer this daemon's (taken over, or gone with a TRUNCATE): its
      // slot of the local gate goes back now, though a running attempt goes
      // on to its end (its write fenced).
      held?.permit.release();
    }
  }

  /**
   * This daemon may now be found dead and its orders taken over within
   * their leases (its lock not known held, `node_sentinel.ts`): every
   * attempt here stops before that can happen (a queued one withdrawn, a
   * running one's signal fired, its processor replaced if it does not stop
   * within the pool's grace), and its order goes back to the queue, by a
   * write fenced by the attempt (tried until the database answers: changing
   * nothing if the order was taken over meanwhile). Attempts whose end is
   * being written are left to finish.
   */
  fence(): void {
    for (const id of this.#held.keys()) {
      if (this.#writing.has(id)) continue;
      const job = this.#o.active.get(id)?.job;
      if (job) this.#o.pool.abort(job, FENCED);
    }
  }

  /** Runs one claimed order's attempt on the pool. */
  run(claimed: ClaimedOrder): void {
    if (this.#held.has(claimed.id)) {
      this.#next.set(claimed.id, claimed);
      return;
    }
    const { pedido } = claimed;
    const lease: Lease = { id: claimed.id, attempt: claimed.attempt };
    const { store, pool, active, logger } = this.#o;
    this.#held.set(lease.id, lease);
    const [permit] = this.#o.capacity.takeBeyond(1);
    const held = active.add(pedido, permit!);
    // With a processor module, an attempt cut short by its daemon's end
    // counts (the module may be what ended it): once one past --max-intentos
    // was cut short too, the order taken over ends `error` instead of
    // running again, as on SQLite: `intentos`, its start and its worker
    // those of the attempt cut short (the one claimed here never runs).
    const cutShort = claimed.attempt - 1;
    if (claimed.takenOver && this.#o.processor && this.#retry.endsAfterCut(cutShort)) {
      const at = iso(Date.now());
      const { maxAttempts } = this.#retry;
      const detalle = logInterrupted(logger, { id: lease.id, attempt: cutShort, maxAttempts });
      const outcome: Outcome = { estado: "error", at, detalle };
      const { startedAt = null, worker = null } = claimed.cutShort ?? {};
      const end = { outcome, worker, startedAt: startedAt ?? at, notRun: true };
      this.#settling.track(this.#finish(lease, end));
      return;
    }
    // The claim counted this attempt in `intentos`; a processor sees the order
    // as it was before the attempt, as on SQLite (its `intento` is one more).
    const before = { ...pedido, intentos: lease.attempt - 1 };
    const job = attemptJob(before, { processor: this.#o.processor, processMs: this.#processMs });
    const recordOnce = runsInBatch(job);
    let worker = 0;
    let startedAt = 0;
    let endedAt = 0;
    const onStart = (w: number) => {
      worker = w;
      startedAt = Date.now();
      // Claimed: the store has it en proceso already.
      active.start(lease.id, w, startedAt, "stored");
      if (recordOnce) return;
      store.markAttemptStarted(lease, w, iso(startedAt)).catch((error) =>
        logger.warn("order.mark_started_failed", { id: lease.id, error: String(error) })
      );
    };
    const onRan = (run: JobRun) => {
      worker = run.worker;
      startedAt = run.startedAt;
      endedAt = run.endedAt;
    };
    held.job = job;
    const settled = pool.submit(job, { onStart, onRan }).then(
      (result) => {
        const outcome: Outcome = { estado: "listo", at: iso(endedAt || Date.now()) };
        if (job.kind === "process" && typeof result === "string") outcome.resultado = result;
        return this.#finish(lease, { outcome, worker, startedAt: iso(startedAt) });
      },
      (error: Error) => {
        if (error === LEASE_LOST) return this.#drop(lease);
        if (error === FENCED) {
          logger.warn("order.attempt_stopped", {
            id: lease.id,
            attempt: lease.attempt,
            reason: "this daemon's lock is not known held",
          });
          return this.#release(lease, worker > 0);
        }
        if (error instanceof PoolClosedError) {
          this.#leftPending++;
          return this.#release(lease, worker > 0);
        }
        // A runaway leaves a thread that cannot be stopped: past the pool's size, another
        // attempt would leave another core spinning.
        const wait = error instanceof RunawayAttemptError && !error.retryable
          ? null
          : this.#retry.delayAfter(lease.attempt);
        logFailedAttempt(logger, {
          id: lease.id,
          attempt: lease.attempt,
          error: error.message,
          retryInMs: wait,
        });
        if (wait !== null) return this.#release(lease, true, wait);
        const outcome: Outcome = { estado: "error", at: iso(Date.now()), detalle: error.message };
        const start = iso(startedAt || Date.now());
        return this.#finish(lease, { outcome, worker: Math.max(worker, 1), startedAt: start });
      },
    );
    this.#settling.track(settled);
  }

  /**
   * Stops: attempts not started go back to the queue; running ones may
   * finish for `timeoutMs`, after which they go back too.
   *
   * @returns how many orders were given back to the queue.
   */
  async drain(timeoutMs: number): Promise<number> {
    await this.#settling.drain(this.#o.pool, timeoutMs);
    return this.#leftPending;
  }

  /** Gives the order back to the queue (`pendiente`) for any daemon, after `retryInMs`. */
  async #release(lease: Lease, started: boolean, retryInMs: number | null = null): Promise<void> {
    const released = await this.#settle(
      lease,
      () => this.#o.store.releaseAttempt(lease, { started, retryInMs }),
    );
    this.#drop(lease);
    if (released && retryInMs !== null) this.#o.onRetryDue?.(retryInMs);
  }

  async #finish(lease: Lease, end: AttemptEnd): Promise<void> {
    const { id } = lease;
    this.#o.active.move(id, "cerrando");
    const intentos = end.notRun ? lease.attempt - 1 : lease.attempt;
    const recorded = await this.#settle(
      lease,
      () => this.#o.store.finishAttempt(lease, end),
      (stored) => stored.intentos === intentos && stored.estado === end.outcome.estado,
    );
    if (recorded) {
      const started = Date.parse(end.startedAt);
      // No attempt ran here: an end, but no processing time of this run's.
      if (end.notRun) this.#o.counters.ended(end.outcome.estado);
      else this.#o.counters.ended(end.outcome.estado, Date.parse(end.outcome.at) - started);
      this.#o.logger.debug("order.finished", { id, estado: end.outcome.estado });
    }
    this.#drop(lease);
  }

  /**
   * Writes until it is committed (the database may be down for a while).
   * A fenced write (the order moved on to a newer attempt elsewhere) is not
   * retried. A try that failed may have been committed all the same (its
   * answer was lost), and then fences the next: when a later try is fenced,
   * the order is read back, and the write counts as taken if `landed` says
   * the order stands as it left it.
   *
   * @returns whether the write was committed and took effect.
   */
  async #settle(
    lease: Lease,
    write: () => Promise<boolean>,
    landed?: (stored: Pedido) => boolean,
  ): Promise<boolean> {
    let took = false;
    let unsure = false;
    this.#writing.add(lease.id);
    for (let tries = 1;; tries++) {
      try {
        const settling = this.#settling;
        took = await settling.unlessGivenUp(write()) ||
          (unsure && landed !== undefined &&
            await settling.unlessGivenUp(this.#stands(lease, landed)));
        break;
      } catch (error) {
        unsure = true;
        const { signal } = this.#settling;
        if (tries % 30 === 1 && !(signal.aborted && error === signal.reason)) {
          this.#o.logger.error("order.write_failed", {
            id: lease.id,
            // The write's tries; the order's processing attempt is intentos.
            tries,
            error: String(error),
          });
        }
        // Given up by the stop: the order stays leased, taken over once the lease ends.
        if (signal.aborted) break;
        await backoff(Math.min(2000, 50 * tries), signal);
        if (this.#settling.signal.aborted) break;
      }
    }
    if (!took && !this.#settling.signal.aborted) {
      // (After a failed try, maybe by that try.)
      this.#o.logger.warn("order.fenced", { id: lease.id, attempt: lease.attempt, unsure });
    }
    return took;
  }

  /** Whether order `lease.id` is stored and `landed` says it stands as a write left it. */
  async #stands(lease: Lease, landed: (stored: Pedido) => boolean): Promise<boolean> {
    const stored = await this.#o.store.get(lease.id);
    return stored !== null && landed(stored);
  }

  /**
   * Lets the order go: its slot, and its waiters here, who read it again
   * (also when its end was fenced: the order may have ended elsewhere).
   * An attempt claimed again meanwhile starts now.
   */
  #drop(lease: Lease): void {
    const { id } = lease;
    if (this.#held.get(id) !== lease) return;
    this.#writing.delete(id);
    this.#held.delete(id);
    this.#o.active.end(id);
    this.#o.waiters.wake(id);
    const next = this.#next.get(id);
    if (next === undefined) return this.#o.onSettled?.();
    this.#next.delete(id);
    this.run(next);
  }
}
