/**
 * Retention (docs/protocol.md §4): deletes finished orders whose `fecha_fin` is
 * older than `retainS`, through the store (for SQLite, one `prune` operation
 * per batch through the writer), a bounded batch at a time with a pause
 * between batches, so that the orders arriving meanwhile are committed
 * between two batches rather than behind the whole backlog. A pass runs at
 * start and then every `min(retainS, 60 s)`; a pass goes on until a batch
 * comes back short.
 *
 * **Pacing.** A batch is sized to take about `batchTargetMs` (smaller when
 * the last took longer: a large file's pages are cold, or the machine is
 * busy), and the pause after it lasts at least as long as it took, so that
 * pruning a backlog holds the store at most half the time and an order
 * waits behind at most one short batch. (With fixed batches of 500 and a
 * 10 ms pause, a backlog of 300,000 old orders cut a SQLite daemon's intake
 * to 0.21× while it was pruned.) Half the time still deletes faster than
 * the other half can insert, so at a steady rate the database stops
 * growing.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { OrderStore } from "../store/store.ts";
import { pause } from "../pause.ts";

/** Options of {@linkcode Pruner.start}. */
export interface PrunerOptions {
  /** Where the orders are deleted. */
  store: Pick<OrderStore, "prune">;
  /** Finished orders older than this many seconds are deleted; must be ≥ 1. */
  retainS: number;
  /** Where passes that delete something, and failures (at most one line every 10 s), are logged. */
  logger: Logger;
  /** Orders deleted per batch at most. @default 500 */
  batchSize?: number;
  /** How long a batch should take, in ms: the size of the next follows from the last's. @default 10 */
  batchTargetMs?: number;
  /** The shortest pause between two batches of one pass, in ms (else as long as the batch took). @default 10 */
  pauseMs?: number;
  /** Time between the starts of two passes, in ms. @default {min(retainS, 60) s} */
  intervalMs?: number;
  /** The clock, ms since the epoch. @default {Date.now} */
  now?: () => number;
}

/** What retention did since start (the metrics' `pedidos_retencion_*`). */
export interface PruneStats {
  /** Passes finished. */
  passes: number;
  /** Batches run (`prune` calls answered). */
  batches: number;
  /** Orders deleted. */
  deleted: number;
  /** Batches that failed (the store refused; the pass ends, the next one tries again). */
  failures: number;
}

/** The most often a pass runs. */
export const MAX_INTERVAL_MS = 60_000;

/** Deletes old finished orders now and then. Dispose it to stop. */
export class Pruner implements AsyncDisposable {
  readonly #store: Pick<OrderStore, "prune">;
  readonly #retainMs: number;
  readonly #logger: Logger;
  readonly #batchSize: number;
  readonly #batchTargetMs: number;
  readonly #pauseMs: number;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #stop = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pass: Promise<void> | null = null;
  readonly #stats: PruneStats = { passes: 0, batches: 0, deleted: 0, failures: 0 };

  private constructor(options: PrunerOptions) {
    if (!Number.isSafeInteger(options.retainS) || options.retainS < 1) {
      throw new RangeError(`Cannot start pruner: retainS must be ≥ 1, got ${options.retainS}`);
    }
    this.#store = options.store;
    this.#retainMs = options.retainS * 1000;
    this.#logger = options.logger;
    this.#batchSize = options.batchSize ?? 500;
    this.#batchTargetMs = options.batchTargetMs ?? 10;
    this.#pauseMs = options.pauseMs ?? 10;
    this.#intervalMs = options.intervalMs ?? Math.min(this.#retainMs, MAX_INTERVAL_MS);
    this.#now = options.now ?? Date.now;
  }

  /** Starts pruning: a first pass at once, then one every interval. */
  static start(options: PrunerOptions): Pruner {
    const pruner = new Pruner(options);
    pruner.#later(0);
    return pruner;
  }

  /** A copy of the counts since start. */
  get stats(): PruneStats {
    return { ...this.#stats };
  }

  /**
   * Runs one pass now (or joins the one running).
   *
   * @returns How many orders the pass deleted.
   */
  async pass(): Promise<number> {
    const before = this.#stats.deleted;
    this.#pass ??= this.#run().finally(() => this.#pass = null);
    await this.#pass;
    return this.#stats.deleted - before;
  }

  /**
   * Stops: no more passes, and no batch after the one the store is deleting,
   * which is not waited for: the store's close commits what was sent to it,
   * and a store that cannot be reached must not hold a stop (the daemon's
   * connections are told `shutting_down` after this). Idempotent.
   */
  close(): Promise<void> {
    this.#stop.abort();
    clearTimeout(this.#timer);
    return Promise.resolve();
  }

  /** Calls {@linkcode Pruner.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #later(ms: number): void {
    if (this.#stop.signal.aborted) return;
    this.#timer = setTimeout(() => {
      const started = this.#now();
      this.pass().finally(() =>
        this.#later(Math.max(0, this.#intervalMs - (this.#now() - started)))
      );
    }, ms);
  }

  async #run(): Promise<void> {
    const before = new Date(this.#now() - this.#retainMs).toISOString();
    const start = performance.now();
    let deleted = 0;
    let size = this.#batchSize;
    while (!this.#stop.signal.aborted) {
      let n: number;
      const batchStart = performance.now();
      try {
        n = await this.#store.prune(before, size);
      } catch (error) {
        this.#stats.failures++;
        // Once a pass (every second with a short retention) while the store is
        // down: rate-limited, as the store's own failures are.
        this.#logger.repeated("warn", "retention.prune_failed", { error: String(error) });
        return;
      }
      this.#stats.batches++;
      this.#stats.deleted += n;
      deleted += n;
      if (n < size) break;
      const took = performance.now() - batchStart;
      size = nextBatchSize(size, took, this.#batchTargetMs, this.#batchSize);
      await pause(Math.max(this.#pauseMs, Math.round(took)), this.#stop.signal);
    }
    this.#stats.passes++;
    if (deleted > 0) {
      this.#logger.info("retention.pruned", {
        deleted,
        before,
        ms: Math.round(performance.now() - start),
      });
    }
  }
}

/** The fewest orders a batch deletes (below it, a batch's commit costs more than its deletes). */
const MIN_BATCH = 20;

/**
 * The size of the next batch, from the last one's size and how long it
 * took: about `targetMs`' worth, at most twice the last, between
 * {@linkcode MIN_BATCH} (or `max`, when smaller) and `max`.
 */
export function nextBatchSize(size: number, tookMs: number, targetMs: number, max: number): number {
  const fitting = Math.floor(size * targetMs / Math.max(tookMs, 0.1));
  return Math.max(Math.min(MIN_BATCH, max), Math.min(max, 2 * size, fitting));
}
