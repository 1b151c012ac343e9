/**
 * The counters of a load run, shared by its connections.
 *
 * @module
 */

import { LatencySamples } from "./latency_samples.ts";

/**
 * What a run has counted so far: replies by kind, errors by kind (with a
 * few messages for people), connections, latencies and accepted ids.
 *
 * @example Usage
 * ```ts
 * import { Tally } from "./tally.ts";
 * const tally = new Tally();
 * tally.error("sin_respuesta", 2, "No reply within 10000 ms");
 * console.log(tally.errores, tally.erroresPorTipo); // 2 { sin_respuesta: 2 }
 * ```
 */
export class Tally {
  /** Orders written to a socket. */
  enviados = 0;
  /** Replies `ok: true`, new or `duplicado`. */
  aceptados = 0;
  /** Of `aceptados`, those with `duplicado: true`. */
  duplicados = 0;
  /** Replies `queue_full`. */
  rechazados = 0;
  /** Every other failure; {@linkcode Tally.erroresPorTipo} splits them. */
  errores = 0;
  /** `errores` by kind. */
  readonly erroresPorTipo: Record<string, number> = {};
  /** Connections opened, that could not be opened, and lost before their client finished. */
  readonly conexiones = { abiertas: 0, fallidas: 0, perdidas: 0 };
  /** Up to 5 distinct failure messages. */
  readonly detalles = new Set<string>();
  /** Write → reply, per reply. */
  readonly latency = new LatencySamples();
  /** Ids of accepted orders (kept only when the run waits for them). */
  readonly ids: number[] = [];
  /** When the last reply came (`performance.now()`), or 0. */
  lastReplyAt = 0;

  /** Counts `count` errors of `kind`, keeping `detail` (up to 5 distinct) for people. */
  error(kind: string, count = 1, detail?: string): void {
    if (count <= 0) return;
    this.errores += count;
    this.erroresPorTipo[kind] = (this.erroresPorTipo[kind] ?? 0) + count;
    if (detail !== undefined && this.detalles.size < 5) this.detalles.add(detail);
  }

  /** Replies and failures so far, for the progress rate. */
  get answered(): number {
    return this.aceptados + this.rechazados + this.errores;
  }
}
