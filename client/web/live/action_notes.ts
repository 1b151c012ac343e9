/**
 * What became of the last CANCELAR / REINTENTAR asked from the Pedidos page,
 * per order: shown in the order's row, in the page and in its live
 * snapshots, for a minute. Bounded: the oldest notes go first.
 *
 * The notes are the gateway's, not a session's: every signed-in user sees
 * that an order was cancelled or sent back to the queue (its state says so
 * too); a note holds no secret. So a note is kept only from the daemon's
 * answer about the order, which it gives only to an account that may act
 * on it; an action the daemon did not answer (it was out of reach) leaves
 * no note, since anyone may ask one of any order's id.
 *
 * @module
 */

import type { Estado } from "../../../server/protocol/messages.ts";

/** One note: how an action on an order went, in words. */
export interface ActionNote {
  /** Green or red. */
  kind: "ok" | "error";
  /** What happened, for people. */
  text: string;
  /**
   * The states the note speaks of (after Reintentar: `pendiente`, `en
   * proceso`); an order seen in another state has moved on, and the note
   * is not shown. @default {every state}
   */
  estados?: readonly Estado[];
}

/** Options of {@linkcode ActionNotes}. */
export interface ActionNotesOptions {
  /** The clock, ms since the epoch. */
  now: () => number;
  /** How long a note is shown. @default {60000} */
  ttlMs?: number;
  /** Notes kept at most. @default {100} */
  max?: number;
}

/** Recent notes by order id. */
export class ActionNotes {
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #notes = new Map<number, ActionNote & { at: number }>();

  /**
   * Makes an empty set of notes.
   *
   * @param options The clock, how long a note is shown, how many are kept.
   */
  constructor(options: ActionNotesOptions) {
    this.#now = options.now;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#max = options.max ?? 100;
  }

  /** Keeps the note of order `id`, replacing an older one. */
  set(id: number, note: ActionNote): void {
    this.#notes.delete(id);
    this.#notes.set(id, { ...note, at: this.#now() });
    for (const oldest of this.#notes.keys()) {
      if (this.#notes.size <= this.#max) break;
      this.#notes.delete(oldest);
    }
  }

  /** The notes still shown, by order id. */
  current(): Map<number, ActionNote> {
    const since = this.#now() - this.#ttlMs;
    const shown = new Map<number, ActionNote>();
    for (const [id, { at, ...note }] of this.#notes) {
      if (at < since) this.#notes.delete(id);
      else shown.set(id, note);
    }
    return shown;
  }
}
