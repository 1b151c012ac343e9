/**
 * Turns of the event loop, shared among the connections that answer
 * requests in them. Replies made at once (a bad line, `PING`) and reads
 * and writes that complete at once resolve in microtasks only: without a
 * share, a peer pipelining thousands of requests would keep the event loop,
 * and every other connection, the listener and the timers, waiting until
 * its backlog is done; and a thousand such peers at 64 requests each would
 * make every turn tens of thousands of requests long.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** Options of {@linkcode LoopTurns}. */
export interface LoopTurnsOptions {
  /** Requests all connections together answer in a turn, about. @default 2048 */
  budget?: number;
  /** Requests one connection answers in a turn at most. @default 64 */
  perConnection?: number;
  /** Runs `fn` at the next turn of the event loop. @default setImmediate */
  nextTurn?: (fn: () => void) => void;
}

/**
 * Counts the event loop's turns, and how many requests each connection may
 * answer in the turn now: an equal share of the budget among the
 * connections answering (in this turn so far, or in the one before,
 * whichever were more), at least one, at most `perConnection`; once the
 * turn's budget is spent, one each.
 *
 * @example Usage
 * ```ts
 * import { LoopTurns } from "./loop_turns.ts";
 * const turns = new LoopTurns({ budget: 100 });
 * const turn = turns.now();
 * turns.joined(); // a connection answers its first request of this turn
 * console.log(turn, turns.share()); // 0 64
 * ```
 */
export class LoopTurns {
  readonly #budget: number;
  readonly #perConnection: number;
  readonly #nextTurn: (fn: () => void) => void;
  #turn = 0;
  #ticking = false;
  /** Connections that answered in this turn, and in the one before. */
  #answering = 0;
  #answeringBefore = 0;
  /** Requests answered in this turn. */
  #answered = 0;

  constructor(options: LoopTurnsOptions = {}) {
    this.#budget = options.budget ?? 2048;
    this.#perConnection = options.perConnection ?? 64;
    this.#nextTurn = options.nextTurn ?? ((fn) => setImmediate(fn));
  }

  /**
   * The number of the turn now. It goes up at the next turn of the loop
   * after someone asked, so a connection counts what it answered in a turn
   * however many times its work started in it.
   */
  now(): number {
    if (!this.#ticking) {
      this.#ticking = true;
      this.#nextTurn(() => {
        this.#ticking = false;
        this.#turn++;
        this.#answeringBefore = this.#answering;
        this.#answering = 0;
        this.#answered = 0;
      });
    }
    return this.#turn;
  }

  /** A connection answers its first request of this turn. */
  joined(): void {
    this.#answering++;
  }

  /** A request is answered in this turn. */
  answered(): void {
    this.#answered++;
  }

  /** How many requests a connection may answer in this turn. */
  share(): number {
    if (this.#answered >= this.#budget) return 1;
    const answering = Math.max(this.#answering, this.#answeringBefore, 1);
    return Math.max(1, Math.min(this.#perConnection, Math.floor(this.#budget / answering)));
  }
}

/** The turns of this process's event loop, shared by every connection of every server in it. */
export const PROCESS_TURNS: LoopTurns = new LoopTurns();
