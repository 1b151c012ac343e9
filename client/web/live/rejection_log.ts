/**
 * When the daemon refused orders with `queue_full`, over the Panel's time
 * span: STATS gives only a running total (`rechazados`), so each rise
 * between two readings is recorded with the time it was seen.
 *
 * A rise is drawn only when it can be placed: between two readings of the
 * same daemon close together. Across a gap (no Panel was open, or the
 * daemon could not be read) the refusals happened some time within it, not
 * when they were seen; and another daemon's total (a restart, or another
 * daemon of a cluster answering) is no rise at all. Both only set the new
 * baseline. A daemon is told by its `uptime_s`, which advances with the
 * clock for one daemon and not for another (two daemons of a cluster
 * started within 2 s of each other cannot be told apart so).
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

/** One reading of the daemon's STATS. */
export interface RejectionReading {
  /** When it was taken, ms since the epoch. */
  at: number;
  /** STATS `rechazados`. */
  rechazados: number;
  /** STATS `uptime_s`. */
  uptimeS: number;
}

/** How far `uptime_s` may stray from the clock and still be the same daemon's, s (it is whole seconds). */
const SAME_DAEMON_SLACK_S = 2;

/** The recent rises of STATS `rechazados`. */
export class RejectionLog {
  readonly #spanMs: number;
  readonly #maxGapMs: number;
  readonly #rejections: Rejection[] = [];
  #last: RejectionReading | null = null;

  /**
   * An empty log.
   *
   * @param spanMs How long a rise is kept: the timeline's span.
   * @param maxGapMs The longest time between two readings across which a rise is still drawn.
   */
  constructor(spanMs: number, maxGapMs: number) {
    this.#spanMs = spanMs;
    this.#maxGapMs = maxGapMs;
  }

  /**
   * Records a reading.
   *
   * @returns The rises within the span before the reading, oldest first (a copy).
   */
  record(reading: RejectionReading): Rejection[] {
    const rejections = this.#rejections;
    const last = this.#last;
    if (last !== null && reading.rechazados > last.rechazados) {
      const gapMs = reading.at - last.at;
      const expectedUptime = last.uptimeS + gapMs / 1000;
      // A daemon that gives no uptime (an older one) is taken for the same one.
      const sameDaemon = !Number.isFinite(reading.uptimeS) || !Number.isFinite(last.uptimeS) ||
        Math.abs(reading.uptimeS - expectedUptime) <= SAME_DAEMON_SLACK_S;
      if (sameDaemon && gapMs <= this.#maxGapMs) {
        rejections.push({ at: reading.at, count: reading.rechazados - last.rechazados });
      }
    }
    this.#last = reading;
    while (rejections.length > 0 && rejections[0]!.at < reading.at - this.#spanMs) {
      rejections.shift();
    }
    return [...rejections];
  }
}
