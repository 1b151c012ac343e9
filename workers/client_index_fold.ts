/**
 * When the writer folds new orders into the deferred client index (schema
 * v5, `pedidos_cliente`): off the acknowledgement path, so that a group
 * commit writes no page of it.
 *
 * - After a flush, once `every` orders lie above the watermark, at once in
 *   a transaction of its own (the replies of that flush are already posted).
 *   This bounds the tail that `LISTAR cliente=…` reads from `pedidos` by id.
 * - When the writer has been idle for `idleMs` with a shorter tail.
 *
 * A fold sorts the new orders by `cliente`, so each leaf of the side table
 * is written once per fold rather than once per commit. A failed fold (a
 * full disk) changes nothing and is tried again later: reads stay right
 * because the watermark did not move.
 *
 * @module
 */

import type { SqliteDatabase } from "./sqlite/sqlite_database.ts";

/** Options of {@linkcode ClientIndexFold}. */
export interface ClientIndexFoldOptions {
  /** Fold as soon as this many orders wait. @default {2048} */
  every?: number;
  /** Fold a shorter tail after this long without a flush. @default {200} */
  idleMs?: number;
}

/** Folds the tail of new orders into the client index when it is cheap to. */
export class ClientIndexFold {
  readonly #db: SqliteDatabase;
  readonly #every: number;
  readonly #idleMs: number;
  /** Orders above the watermark (an upper bound: ids of failed inserts count). */
  #lag: number;
  #lastFlush = 0;
  /** Folds done, for tests and stats. */
  folds = 0;

  constructor(db: SqliteDatabase, options: ClientIndexFoldOptions = {}) {
    this.#db = db;
    this.#every = options.every ?? 2048;
    this.#idleMs = options.idleMs ?? 200;
    this.#lag = db.clientLag();
  }

  /** Orders waiting above the watermark. */
  get lag(): number {
    return this.#lag;
  }

  /** Called after each committed flush with how many orders it inserted. */
  afterFlush(inserted: number, now: number = performance.now()): void {
    this.#lag += inserted;
    this.#lastFlush = now;
    if (this.#lag >= this.#every) this.fold();
  }

  /** When an idle fold is due (`performance.now()` time), or null when nothing waits. */
  dueAt(): number | null {
    return this.#lag > 0 ? this.#lastFlush + this.#idleMs : null;
  }

  /** Folds when the writer has been idle long enough; returns {@linkcode dueAt}. */
  runIdle(now: number = performance.now()): number | null {
    if (this.#lag > 0 && now - this.#lastFlush >= this.#idleMs) {
      this.fold();
      // A failed fold is tried again one idle period later.
      if (this.#lag > 0) this.#lastFlush = now;
    }
    return this.dueAt();
  }

  /** Folds every order above the watermark now. */
  fold(): void {
    try {
      this.#db.foldClients();
      this.folds++;
      this.#lag = 0;
    } catch {
      // A full disk: nothing changed; a later flush or idle moment tries again.
    }
  }
}
