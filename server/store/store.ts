/**
 * The store seam: the one interface through which the daemon keeps orders,
 * accounts and sessions, whatever holds them. The SQLite store
 * (`sqlite_store.ts`: one writer worker plus a read connection) implements
 * it; so does every other store, and `store_conformance.ts` is the suite
 * they all pass.
 *
 * A store keeps data; it decides no policy. Capacity (who may take a slot,
 * when it is given back) is decided by `server/capacity.ts`, scheduling by
 * `server/orders/`. Every write resolves only after it is committed, and
 * rejects when it was not.
 *
 * @module
 */

import type { Estado, ListFilter, Pedido, PedidoNuevo } from "../protocol/messages.ts";
import type { BatchTiming } from "../../workers/writer_messages.ts";

/** What {@linkcode OrderStore.insert} did. */
export type InsertResult =
  /** A new order, `pendiente`, `intentos` 0. */
  | { status: "inserted"; pedido: Pedido }
  /** Its `clave` was already stored: no new order; the stored one as it is now. */
  | { status: "duplicate"; pedido: Pedido };

/** How an attempt ended. */
export interface Outcome {
  estado: Extract<Estado, "listo" | "error">;
  /** ISO 8601 UTC with milliseconds. */
  at: string;
  /** The reason, when `estado` is `error`. */
  detalle?: string;
  /** The processor's result as JSON text (§11), when there is one. */
  resultado?: string;
}

/**
 * What a change asked of one order did: `changed` (committed; the order as
 * it is now), `refused` (the order's state does not allow it; the order as
 * it is), or `not_found`.
 */
export type ChangeResult =
  | { status: "changed"; pedido: Pedido }
  | { status: "refused"; pedido: Pedido }
  | { status: "not_found" };

/** The storage of orders. Implementations are safe to call concurrently. */
export interface OrderStore {
  /**
   * Stores a new order in state `pendiente` with `intentos` 0, or, when its
   * `clave` is already stored, answers that order. Resolves after the commit.
   *
   * @param owner The account that placed it (orders placed through the web
   * gateway); null or absent for anonymous orders (TCP clients).
   */
  insert(pedido: PedidoNuevo, receivedAt: string, owner?: number | null): Promise<InsertResult>;
  /**
   * Marks an attempt as started: `estado = 'en proceso'`, `fecha_inicio`,
   * `worker`, `intentos + 1`, `fecha_fin` cleared. Resolves after the commit.
   */
  markStarted(id: number, worker: number, at: string): Promise<void>;
  /** Records how an attempt ended (`estado`, `fecha_fin`, `detalle_error`, `resultado`). */
  markFinished(id: number, outcome: Outcome): Promise<void>;
  /**
   * Records a whole attempt in one write, when its start and end are both
   * known (an order processed in no time): the outcome, `fecha_inicio`,
   * `worker`, `intentos + 1`.
   */
  markRan(id: number, worker: number, startedAt: string, outcome: Outcome): Promise<void>;
  /** Puts an order back to `pendiente` (a drain that ran out of time); `intentos` is kept. */
  markPending(id: number): Promise<void>;
  /**
   * CANCELAR (§2.8): a `pendiente` order becomes `cancelado` with `fecha_fin`
   * = `at`; any other state is `refused`. With `owner`, an order of another
   * account (or of none) is `not_found`.
   */
  cancel(id: number, at: string, owner?: number): Promise<ChangeResult>;
  /**
   * REINTENTAR (§2.9): an `error` order goes back to `pendiente`, its
   * attempt fields and `detalle_error` cleared, `intentos` kept; any other
   * state is `refused`. With `owner`, an order of another account (or of
   * none) is `not_found`.
   */
  retry(id: number, owner?: number): Promise<ChangeResult>;
  /**
   * Deletes up to `limit` finished orders (`listo`, `error`, `cancelado`)
   * whose `fecha_fin` is before `before`, oldest first. Never deletes the
   * order with the highest id, so that ids are never reused.
   *
   * @returns How many were deleted.
   */
  prune(before: string, limit: number): Promise<number>;
  /** One order by id, or null; with `owner`, null unless that account placed it. */
  get(id: number, owner?: number): Promise<Pedido | null>;
  /** The order with this idempotency key, or null. */
  findByClave(clave: string): Promise<Pedido | null>;
  /** Orders newest first, per the filter (`usuarioId`: only that account's). */
  list(filter: ListFilter): Promise<Pedido[]>;
  /**
   * Orders left `pendiente` or `en proceso`, in queue order (for restart):
   * oldest first, an order sent back by REINTENTAR placed as of its retry.
   */
  unfinished(): Promise<Pedido[]>;
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
  rol: Rol;
}

/** What an account may see: its own orders (`usuario`), or everyone's (`operador`). */
export type Rol = "usuario" | "operador";

/** A live session (table `sesiones`), found by the SHA-256 of its token. */
export interface Sesion {
  usuarioId: number;
  /** The account's name as registered. */
  usuario: string;
  /** When it stops being valid, ISO 8601 UTC. */
  expira: string;
  /** The account's role now (a change applies to live sessions at once). */
  rol: Rol;
}

/**
 * The storage of accounts and sessions (§2.6). It never sees a password or
 * a token: only their hashes. Writes resolve after their commit.
 */
export interface AccountStore {
  /**
   * Stores a new account, or does nothing when the name (ignoring ASCII
   * case) is taken.
   *
   * @returns The new account's id, or null when the name was taken.
   */
  createUser(usuario: string, hash: string, at: string): Promise<number | null>;
  /** The account with this name (ignoring ASCII case), or null. */
  findUser(usuario: string): Promise<Usuario | null>;
  /**
   * Gives an account a role (`pedidos usuarios operador NAME`).
   *
   * @returns false when no account has this name.
   */
  setRole(usuario: string, rol: Rol): Promise<boolean>;
  /** Stores a session that ends at `expira`. */
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

/** A store whose writer reports its batches (the metrics' writer histograms, §10). */
export interface ObservesBatches {
  /** Calls `observer` with every batch committed from now on; null stops. */
  observeBatches(observer: ((batch: BatchTiming) => void) | null): void;
}

/** Whether `store` reports its writer's batches. */
export function observesBatches<S extends object>(store: S): store is S & ObservesBatches {
  return typeof (store as Partial<ObservesBatches>).observeBatches === "function";
}

/** Everything the daemon keeps: orders, accounts and sessions. */
export interface Store extends OrderStore, AccountStore, AsyncDisposable {
  /** Flushes pending writes and closes. Idempotent; later calls reject. */
  close(): Promise<void>;
}
