/**
 * When the daemon refused orders with `queue_full`, over the Panel's time
 * span: STATS gives only a running total (`rechazados`), so each rise
 * between two readings is recorded with the time it was seen.
 *
 * @module
 */

/** Orders refused between two readings, and when the rise was seen. */
export interface Rejection {
  /** ms since the epoch. */
  at: number;
  /** How many were refused. */
  count: number;
}

/** The recent rises of STATS `rechazados`. */
export class RejectionLog {
  readonly #spanMs: number;
  readonly #rejections: Rejection[] = [];
  #last: number | null = null;

  /**
   * An empty log.
   *
   * @param spanMs How long a rise is kept: the timeline's span.
   */
  constructor(spanMs: number) {
    this.#spanMs = spanMs;
  }

  /**
   * Records a reading of `rechazados` taken at `at`.
   *
   * @returns The rises within the span before `at`, oldest first (a copy).
   */
  record(at: number, rechazados: number): Rejection[] {
    const rejections = this.#rejections;
    if (this.#last !== null && rechazados > this.#last) {
      rejections.push({ at, count: rechazados - this.#last });
    }
    this.#last = rechazados;
    while (rejections.length > 0 && rejections[0]!.at < at - this.#spanMs) rejections.shift();
    return [...rejections];
  }
}
