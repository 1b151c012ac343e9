/**
 * The counters of one run of the daemon (STATS §2.4, the stop summary):
 * requests received, orders accepted and refused, how orders ended, and
 * their processing times.
 *
 * @module
 */

import { DurationHistogram } from "../duration_histogram.ts";
import type { DurationSummary } from "../protocol/replies.ts";

/** How an order ended, as counted. */
export type Ending = "listo" | "error" | "cancelado";

/** The counts since start. */
export interface RunCounts {
  recibidos: number;
  aceptados: number;
  rechazados: number;
  listos: number;
  errores: number;
  cancelados: number;
}

/** Counts what happened since the daemon started. */
export class RunCounters {
  readonly #counts: RunCounts = {
    recibidos: 0,
    aceptados: 0,
    rechazados: 0,
    listos: 0,
    errores: 0,
    cancelados: 0,
  };
  readonly #durations = new DurationHistogram();

  /** A PEDIDO request was received (valid or not). */
  received(): void {
    this.#counts.recibidos++;
  }

  /** A new order was accepted. */
  accepted(): void {
    this.#counts.aceptados++;
  }

  /** An order was refused with `queue_full`. */
  rejected(): void {
    this.#counts.rechazados++;
  }

  /**
   * An order ended. `durationMs` is its processing time, when it ran.
   */
  ended(ending: Ending, durationMs?: number): void {
    if (ending === "listo") this.#counts.listos++;
    else if (ending === "error") this.#counts.errores++;
    else this.#counts.cancelados++;
    if (durationMs !== undefined) this.#durations.record(durationMs);
  }

  /** A copy of the counts. */
  get counts(): RunCounts {
    return { ...this.#counts };
  }

  /** Percentiles of the processing times recorded. */
  get durations(): DurationSummary {
    return this.#durations.summary();
  }
}
