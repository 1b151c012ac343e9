/**
 * The claim loop of a daemon on a shared store (§9): it takes the oldest
 * `pendiente` orders of the whole cluster, a batch at a time, as long as
 * this daemon has room for them, and hands them to {@linkcode SharedAttempts}.
 *
 * It claims when woken — a new order here, a NOTIFY from any daemon, an
 * order leaving this daemon, the database reachable again — and otherwise
 * on a slow poll, which is also when it takes over orders whose lease ran
 * out (their daemon died). Meanwhile it renews the leases it holds every
 * third of their length, which also says this daemon is alive — also
 * while the daemon drains, after it has stopped claiming.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { ClaimedOrder, SharedQueue, WorkOrigin } from "../store/shared_queue.ts";
import { StoreUnavailableError } from "../store/store_unavailable_error.ts";
import type { SharedAttempts } from "./shared_attempts.ts";

/**
 * After a claim (or an insert taking its order) failed, how long orders it
 * may have left leased here are looked for, ms: a statement whose
 * connection broke may still commit on its backend for a moment after the
 * first look.
 */
export const RECOVER_AFTER_MS = 2000;

/** Options of {@linkcode Claimer}. */
export interface ClaimerOptions {
  store: SharedQueue;
  attempts: SharedAttempts;
  logger: Logger;
  /** Most orders held here at once (claimed and not finished). */
  limit: number;
  /**
   * Claim only when at least this many fit (or nothing is held), so that a
   * daemon that prefetches claims in batches, not one order per finish.
   * @default 1
   */
  minBatch?: number;
  /**
   * The most orders asked for in one claim. Below `limit`, claims overlap the
   * work on the orders claimed before: the next batch is claimed while the
   * last is still being run and recorded. @default {limit}
   */
  maxBatch?: number;
  /** The slow poll, and how often expired leases are looked for, ms. @default {min(1000, leaseMs / 2)} */
  pollMs?: number;
  /**
   * After a claim (or an insert taking its order) failed, how long orders it
   * may have left leased here are looked for, ms. @default {RECOVER_AFTER_MS}
   */
  recoverAfterMs?: number;
}

/** Claims orders for this daemon and keeps their leases. */
export class Claimer {
  readonly #o: ClaimerOptions;
  readonly #pollMs: number;
  readonly #stop = new AbortController();
  #wake: (() => void) | null = null;
  #woken = false;
  #loop: Promise<void> | null = null;
  #renewer: ReturnType<typeof setInterval> | undefined;
  #renewing: Promise<void> | null = null;
  /** Wake-ups at the end of retry backoffs ({@linkcode Claimer.pokeIn}). */
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #subscription: Disposable | null = null;
  #fencing: Disposable | null = null;
  #nextTakeover = 0;
  #failing = false;
  /** The last claim's error, while claims fail: a new one is logged. */
  #failure = "";
  /**
   * Whether the queue may hold orders for us: set by every wake-up from
   * outside (new work, the database back), cleared when a claim got fewer
   * than it asked for. An order leaving this daemon wakes the claimer only
   * while it is set, so a drained queue is not asked again at every finish.
   */
  #mayHaveWork = true;
  /** New work committed by this daemon since the last claim. */
  #workHere = false;
  /** Room promised to orders being inserted to be taken here ({@linkcode Claimer.reserve}). */
  #reserved = 0;
  /** Orders asked for by the claim in flight: room no insert may promise meanwhile. */
  #claiming = 0;
  /**
   * When the last claim failed, or an insert that was to take its order
   * ({@linkcode Claimer.reserve}) failed, `performance.now()`; null when
   * none has since the last recovery ({@linkcode ClaimerOptions.recoverAfterMs}).
   */
  #unsureSince: number | null = null;

  constructor(options: ClaimerOptions) {
    this.#o = options;
    this.#pollMs = options.pollMs ?? Math.min(1000, options.store.leaseMs / 2);
  }

  /** Starts claiming and renewing. */
  start(): void {
    this.#subscription = this.#o.store.onWork((origin) => this.poke(origin));
    // Found dead, this daemon's orders may be taken over: none runs here meanwhile.
    this.#fencing = this.#o.store.onFenced?.((fenced) => {
      if (fenced) this.#o.attempts.fence();
      else this.poke("elsewhere");
    }) ?? null;
    this.#loop = this.#run();
    const every = Math.max(10, Math.floor(this.#o.store.leaseMs / 3));
    this.#renewer = setInterval(() => this.#renewing ??= this.#renew(), every);
  }

  /**
   * There may be new work: claim soon. Work committed `here` that this
   * daemon cannot take all of is announced to the others.
   */
  poke(origin: WorkOrigin = "here"): void {
    if (origin === "here") this.#workHere = true;
    // The orders held here may be gone with the table: the renewal finds
    // which, and lets them go (their slots with them), not at its next turn.
    if (origin === "emptied" && this.#renewer !== undefined) this.#renewing ??= this.#renew();
    this.#mayHaveWork = true;
    this.#woken = true;
    this.#wake?.();
  }

  /**
   * An order released here becomes claimable in `ms` (its retry backoff):
   * claim then, rather than at the next slow poll.
   */
  pokeIn(ms: number): void {
    if (this.#stop.signal.aborted) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.poke();
    }, ms);
    this.#timers.add(timer);
  }

  /** An order left this daemon: claim soon if the queue may still hold work. */
  roomMade(): void {
    if (!this.#mayHaveWork) return;
    this.#woken = true;
    this.#wake?.();
  }

  /**
   * Promises room for one more order here, for an order about to be
   * inserted and taken at once (`InsertOptions.take`): claims leave it free
   * until {@linkcode Claimer.runTaken} or {@linkcode Claimer.unreserve}.
   *
   * @returns false when this daemon holds all it may, or has stopped.
   */
  reserve(): boolean {
    if (this.#stop.signal.aborted || this.#o.store.fenced) return false;
    // An order taken at its insert would look like one a lost answer left
    // leased here: none is taken until those are recovered.
    if (this.#unsureSince !== null) return false;
    if (this.#o.attempts.held + this.#reserved + this.#claiming >= this.#o.limit) return false;
    this.#reserved++;
    return true;
  }

  /**
   * The reserved order was not taken here (it waits in the queue, or was not
   * stored). `failed`: its insert failed, and may have committed all the same
   * with the order taken here, its answer lost; it is looked for
   * ({@linkcode ClaimOptions.recover}).
   */
  unreserve(failed = false): void {
    this.#reserved--;
    if (failed) this.#unsure();
    this.roomMade();
  }

  /** A claim or an insert taking its order failed: what it took may be leased here, unknown. */
  #unsure(): void {
    this.#unsureSince = performance.now();
    this.#mayHaveWork = true;
  }

  /** Runs an order taken at its insert, in the room reserved for it. */
  runTaken(order: ClaimedOrder): void {
    this.#reserved--;
    this.#o.attempts.run(order);
  }

  /**
   * Stops claiming; the leases held are still renewed, so that orders
   * running through a drain longer than a lease are not taken over by
   * another daemon and run twice (until {@linkcode Claimer.stop}).
   *
   * A claim in flight is awaited for `waitMs` at most: on a connection gone
   * silent it would hold the stop until its deadline (15 s). The orders it
   * brings later are handed to the attempts all the same, whose pool, stopped
   * by then, gives them back to the queue; if its answer never comes (the
   * daemon exits first), those it took stay leased to this daemon until their
   * lease runs out, as after a crash, and another daemon takes them over.
   */
  async stopClaiming(waitMs = Infinity): Promise<void> {
    this.#halt();
    await within(this.#loop, waitMs);
  }

  /**
   * Stops claiming and renewing (held orders keep their leases until they
   * settle or run out); a claim or renewal in flight is awaited for `waitMs`
   * at most.
   */
  async stop(waitMs = Infinity): Promise<void> {
    this.#halt();
    clearInterval(this.#renewer);
    await within(Promise.all([this.#loop, this.#renewing]), waitMs);
  }

  #halt(): void {
    this.#stop.abort();
    this.#wake?.();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#subscription?.[Symbol.dispose]();
    this.#subscription = null;
    this.#fencing?.[Symbol.dispose]();
    this.#fencing = null;
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      this.#woken = false;
      const held = this.#o.attempts.held + this.#reserved;
      const room = this.#o.limit - held;
      const workHere = this.#workHere;
      this.#workHere = false;
      let full = false;
      // Work committed here that this daemon cannot take all of now goes to the others.
      if (workHere && (room <= 0 || (room < (this.#o.minBatch ?? 1) && held > 0))) {
        this.#o.store.announceWork();
      }
      // Fenced, it claims nothing (what it took could be taken over under it)
      // until its lock is held again (`onFenced` wakes it).
      const fenced = this.#o.store.fenced === true;
      if (!fenced && room > 0 && (room >= (this.#o.minBatch ?? 1) || held === 0)) {
        const now = Date.now();
        const takeover = now >= this.#nextTakeover;
        if (takeover) this.#nextTakeover = now + this.#pollMs;
        // Orders a lost answer left leased here are looked for once no insert
        // can be taking its own (reserve() promises none meanwhile).
        const unsureSince = this.#unsureSince;
        const recover = unsureSince !== null && this.#reserved === 0;
        try {
          const asked = Math.min(room, this.#o.maxBatch ?? room);
          this.#claiming = asked;
          let claimed: ClaimedOrder[];
          try {
            claimed = await this.#o.store.claim({
              limit: asked,
              at: new Date(now).toISOString(),
              takeover,
              recover,
              // Its own orders past their lease (the database was out of reach) are still its own.
              holding: takeover || recover
                ? this.#o.attempts.leases().map((lease) => lease.id)
                : [],
            });
          } finally {
            // In the same turn as the claimed orders start below: a `.finally()`
            // callback would free the room some microtasks earlier, and an
            // insert could promise it to an order of its own meanwhile.
            this.#claiming = 0;
          }
          this.#failing = false;
          this.#failure = "";
          if (claimed.length < asked) this.#mayHaveWork = false;
          // Recovered all, and late enough that what failed can no longer commit.
          const recovered = claimed.filter((order) => order.recovered).length;
          if (
            recover && recovered < asked && this.#unsureSince === unsureSince &&
            performance.now() - unsureSince! >= (this.#o.recoverAfterMs ?? RECOVER_AFTER_MS)
          ) {
            this.#unsureSince = null;
          }
          for (const order of claimed) {
            if (order.takenOver) {
              this.#o.logger.info("order.taken_over", { id: order.id, attempt: order.attempt });
            } else if (order.recovered) {
              this.#o.logger.warn("order.claim_recovered", {
                id: order.id,
                attempt: order.attempt,
              });
            }
            this.#o.attempts.run(order);
          }
          full = claimed.length === asked;
          if (full && workHere) this.#o.store.announceWork();
        } catch (error) {
          // While the database is down the store says so at once; it wakes us when it is back.
          if (!(error instanceof StoreUnavailableError) && String(error) !== this.#failure) {
            this.#o.logger.error("orders.claim_failed", { error: String(error) });
          }
          this.#failure = String(error);
          this.#failing = true;
          // It may have committed, its answer lost: what it took is leased here, unknown.
          this.#unsure();
        }
      }
      if (this.#stop.signal.aborted) return;
      // A full batch may mean more is waiting; a wake-up during the claim may too.
      if ((full && !this.#failing) || this.#woken) continue;
      await this.#sleep(this.#pollMs);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /**
   * Renews the leases of the attempts running here. A renewal that fails
   * for another reason than the store being away (a deadlock with another
   * transaction on the same rows) is tried again at once, twice at most:
   * the next renewal is a third of the lease away, and two missed in a row
   * would lose the lease of an order still running.
   */
  async #renew(): Promise<void> {
    try {
      for (let attempt = 1;; attempt++) {
        const leases = this.#o.attempts.leases();
        try {
          const kept = new Set(await this.#o.store.renew(leases));
          // (Those settled or claimed again here meanwhile are told apart by lost().)
          const lost = leases.filter((lease) => !kept.has(lease.id));
          if (lost.length > 0) this.#o.attempts.lost(lost);
          return;
        } catch (error) {
          if (error instanceof StoreUnavailableError) return;
          this.#o.logger.warn("orders.renew_failed", { error: String(error), attempt });
          if (attempt >= RENEW_TRIES || this.#stop.signal.aborted) return;
          await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
        }
      }
    } finally {
      this.#renewing = null;
    }
  }
}

/** Tries of one lease renewal that fails (not for the store being away). */
const RENEW_TRIES = 3;

/** Waits for `promise`, for `ms` at most (for ever when `ms` is not finite). */
async function within(promise: Promise<unknown> | null, ms: number): Promise<void> {
  if (!Number.isFinite(ms)) {
    await promise;
    return;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => timer = setTimeout(resolve, Math.max(0, ms)));
  try {
    await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
