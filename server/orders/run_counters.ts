/**
 * The counters of one run of the daemon (STATS §2.4, the stop summary):
 * requests received, orders accepted and refused, how orders ended, and
 * their processing times.
 *
 * @module
 */

import { DurationHistogram } from "../duration_histogram.ts";
import { Histogram, type HistogramSnapshot } from "../metrics/histogram.ts";
import type { DurationSummary } from "../protocol/replies.ts";

/** The buckets of the processing-time histogram (`pedidos_duracion_segundos`), in seconds. */
export const DURATION_BOUNDS_S: readonly number[] = [
  0.001,
  0.005,
  0.01,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2,
  3,
  5,
  10,
  30,
  60,
  300,
];

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
  readonly #seconds = new Histogram(DURATION_BOUNDS_S);

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
    if (durationMs !== undefined) {
      this.#durations.record(durationMs);
      this.#seconds.observe(Math.max(0, durationMs) / 1000);
    }
  }

  /** A copy of the counts. */
  get counts(): RunCounts {
    return { ...this.#counts };
  }

  /** The processing times recorded, in seconds, as a Prometheus histogram. */
  get durationHistogram(): HistogramSnapshot {
    return this.#seconds.snapshot();
  }

  /** Percentiles of the processing times recorded. */
  get durations(): DurationSummary {
    return this.#durations.summary();
  }
}
