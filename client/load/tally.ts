/**
 * The counters of a load run, shared by its connections.
 *
 * @module
 */

import { LatencySamples } from "./latency_samples.ts";

/**
 * What a run has counted so far: replies by kind, orders that failed by
 * kind, connections and what went wrong with them (with a few messages for
 * people), latencies and accepted ids. Every order sent ends counted once:
 * `enviados = aceptados + rechazados + errores` once the run is over.
 *
 * @example Usage
 * ```ts
 * import { Tally } from "./tally.ts";
 * const tally = new Tally();
 * tally.error("sin_respuesta", 2, "No reply within 10000 ms");
 * tally.incident("conexion_perdida", "the daemon closed the connection");
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
  /**
   * Orders sent that got neither: another error reply, or no reply at all
   * (`sin_respuesta`); {@linkcode Tally.erroresPorTipo} splits them.
   */
  errores = 0;
  /** `errores` by kind: a reply's error code, or `sin_respuesta`. */
  readonly erroresPorTipo: Record<string, number> = {};
  /**
   * Connections opened; that could not be opened or were turned away at once
   * (`busy`, `shutting_down`); and lost before their client finished.
   */
  readonly conexiones = { abiertas: 0, fallidas: 0, perdidas: 0 };
  /**
   * What went wrong with connections, by kind: `conexion` (cannot connect),
   * `conexion_perdida`, a code the daemon sent unasked (`busy`), `protocolo`.
   * Not orders: they are not in `errores`.
   */
  readonly incidencias: Record<string, number> = {};
  /** Up to 5 distinct failure messages. */
  readonly detalles = new Set<string>();
  /** Write → reply, per reply. */
  readonly latency = new LatencySamples();
  /** Ids of accepted orders (kept only when the run waits for them). */
  readonly ids: number[] = [];
  /** When the last reply came (`performance.now()`), or 0. */
  lastReplyAt = 0;

  /** Counts `count` orders failed with `kind`, keeping `detail` (up to 5 distinct) for people. */
  error(kind: string, count = 1, detail?: string): void {
    if (count <= 0) return;
    this.errores += count;
    this.erroresPorTipo[kind] = (this.erroresPorTipo[kind] ?? 0) + count;
    this.#keep(detail);
  }

  /** Counts something that went wrong with a connection (not an order), keeping `detail`. */
  incident(kind: string, detail?: string): void {
    this.incidencias[kind] = (this.incidencias[kind] ?? 0) + 1;
    this.#keep(detail);
  }

  #keep(detail: string | undefined): void {
    if (detail !== undefined && this.detalles.size < 5) this.detalles.add(detail);
  }

  /** Replies and failures so far, for the progress rate. */
  get answered(): number {
    return this.aceptados + this.rechazados + this.errores;
  }
}
