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
   * `conexion_perdida`, a code the daemon sent unasked (`busy`), `protocolo`,
   * `reconectadas` (a connection moved to another host).
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

  /**
   * Counts `count` orders failed with `kind`, keeping `detail` (up to 5
   * distinct) for people. A kind is counted as {@linkcode countedKind} says.
   */
  error(kind: string, count = 1, detail?: string): void {
    if (count <= 0) return;
    this.errores += count;
    add(this.erroresPorTipo, kind, count);
    this.#keep(detail);
  }

  /** Counts something that went wrong with a connection (not an order), keeping `detail`. */
  incident(kind: string, detail?: string): void {
    add(this.incidencias, kind, 1);
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

/** What a kind looks like: a code as the protocol's (`queue_full`), at most 64 characters. */
const KIND = /^[a-z][a-z0-9_]{0,63}$/;
/** The most kinds counted apart in one record; the rest are `otros`. */
const MAX_KINDS = 32;

/**
 * The kind under which `kind` is counted in `counts`: itself when it looks
 * like a code; else `codigo_no_valido`; `otros` once `counts` holds
 * {@linkcode MAX_KINDS} others. A kind may come from the server (an error
 * reply's code): one of terminal escapes would reach the summary, and a new
 * long one in every reply would hold them all in memory.
 */
export function countedKind(counts: Record<string, number>, kind: string): string {
  const counted = KIND.test(kind) ? kind : "codigo_no_valido";
  if (Object.hasOwn(counts, counted) || Object.keys(counts).length < MAX_KINDS) return counted;
  return "otros";
}

function add(counts: Record<string, number>, kind: string, count: number): void {
  const counted = countedKind(counts, kind);
  counts[counted] = (Object.hasOwn(counts, counted) ? counts[counted]! : 0) + count;
}
