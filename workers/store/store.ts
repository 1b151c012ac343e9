/**
 * The storage interface the daemon's main thread uses. The SQLite store
 * (one writer worker plus a read connection) implements it; a PostgreSQL
 * store shared by several daemons will implement it too.
 *
 * Every write resolves only after it is committed.
 *
 * @module
 */

import type { Estado, ListFilter, NewOrder, Pedido } from "../../server/protocol/messages.ts";

/** The result of {@linkcode OrderStore.insert}. */
export interface InsertResult {
  /** The stored order (new, or the existing one with the same `clave`). */
  pedido: Pedido;
  /** True when `clave` was already used and no new order was made. */
  duplicado: boolean;
}

/** How an attempt ended. */
export interface Outcome {
  estado: Extract<Estado, "listo" | "error">;
  /** ISO 8601 UTC with milliseconds. */
  at: string;
  /** The reason, when `estado` is `error`. */
  detalle?: string;
}

/** The storage of orders. Implementations are safe to call concurrently. */
export interface OrderStore extends AsyncDisposable {
  /**
   * Stores a new order in state `pendiente` with `intentos` 0, or, when its
   * `clave` is already stored, returns that order with `duplicado: true`.
   * Resolves after the commit.
   */
  insert(order: NewOrder, receivedAt: string): Promise<InsertResult>;
  /**
   * Marks an attempt as started: `estado = 'en proceso'`, `fecha_inicio`,
   * `worker`, `intentos + 1`, `fecha_fin = null`. Resolves after the commit.
   */
  markStarted(id: number, worker: number, at: string): Promise<void>;
  /**
   * Records how an order ended (`fecha_fin`, `detalle_error`). Resolves after
   * the commit. When the store was opened with an admission buffer, one slot
   * is released at commit time.
   */
  markFinished(id: number, outcome: Outcome): Promise<void>;
  /**
   * Records a whole attempt in one write, when its start and end are both
   * known (an order processed in no time): `estado` and `fecha_fin` of the
   * outcome, `fecha_inicio`, `worker`, `intentos + 1`. Resolves after the
   * commit; releases a slot like {@linkcode OrderStore.markFinished}.
   */
  markRan(id: number, worker: number, startedAt: string, outcome: Outcome): Promise<void>;
  /** Puts an order back to `pendiente` (e.g. a drain that ran out of time). */
  markPending(id: number): Promise<void>;
  /** One order by id, or null. */
  get(id: number): Promise<Pedido | null>;
  /** The order with this idempotency key, or null. */
  findByClave(clave: string): Promise<Pedido | null>;
  /** Orders newest first, per the filter. */
  list(filter: ListFilter): Promise<Pedido[]>;
  /** Orders left `pendiente` or `en proceso`, oldest first (for restart). */
  unfinished(): Promise<Pedido[]>;
  /** Flushes pending writes and closes. Idempotent. */
  close(): Promise<void>;
}

/** A stored account (table `usuarios`). */
export interface Usuario {
  id: number;
  /** The name as registered (lookups ignore ASCII case). */
  usuario: string;
  /** The password's salted slow hash, in the account service's own format. */
  hash: string;
  /** When it was registered, ISO 8601 UTC. */
  creado: string;
}

/** A live session (table `sesiones`), found by the SHA-256 of its token. */
export interface Sesion {
  usuarioId: number;
  /** The account's name as registered. */
  usuario: string;
  /** When it stops being valid, ISO 8601 UTC. */
  expira: string;
}

/**
 * The storage of accounts and sessions (PROTOCOL.md §2.6), apart from
 * {@linkcode OrderStore}. It never sees a password or a token: only their
 * hashes. Writes resolve after their commit; implementations are safe to
 * call concurrently.
 */
export interface AccountStore {
  /**
   * Stores a new account, or does nothing when the name (ignoring ASCII
   * case) is taken. Resolves after the commit.
   *
   * @returns The new account's id, or null when the name was taken.
   */
  createUser(usuario: string, hash: string, at: string): Promise<number | null>;
  /** The account with this name (ignoring ASCII case), or null. */
  findUser(usuario: string): Promise<Usuario | null>;
  /** Stores a session that ends at `expira`. Resolves after the commit. */
  createSession(tokenHash: string, usuarioId: number, expira: string): Promise<void>;
  /** The session with this token hash, if it ends after `now`; else null. */
  findSession(tokenHash: string, now: string): Promise<Sesion | null>;
  /**
   * Deletes the sessions that ended at or before `now`.
   *
   * @returns How many were deleted.
   */
  deleteExpiredSessions(now: string): Promise<number>;
}
