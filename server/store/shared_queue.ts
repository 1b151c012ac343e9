/**
 * What a store shared by several daemons adds to {@linkcode Store} (§9):
 * one queue, one capacity, leases and fencing. The PostgreSQL store
 * implements it; the SQLite store does not (one daemon per file, held by
 * its lock, so there is nothing to share), and {@linkcode isSharedQueue}
 * tells them apart.
 *
 * - **One capacity.** {@linkcode SharedQueue.insertWithinCapacity} and
 *   {@linkcode SharedQueue.retryWithinCapacity} count the unfinished orders
 *   of the whole database and add only what fits, in the same transaction.
 * - **One queue.** {@linkcode SharedQueue.claim} takes the oldest `pendiente`
 *   orders (and, when asked, those whose lease ran out), each at most once,
 *   and starts an attempt on each: `en proceso`, `intentos + 1`, a lease.
 * - **Fencing.** Every later change of a claimed order names its attempt;
 *   when the order has moved on to a newer attempt (another daemon took it
 *   after the lease ran out) the change is refused and nothing is written.
 * - **Wake-ups.** A daemon hears of new work committed by itself, and of work
 *   another daemon could not take ({@linkcode SharedQueue.onWork},
 *   {@linkcode SharedQueue.announceWork}); and of orders finished anywhere
 *   ({@linkcode SharedQueue.onFinished}).
 *
 * @module
 */

import type { Pedido, PedidoNuevo } from "../protocol/messages.ts";
import type { ChangeResult, InsertResult, Outcome } from "./store.ts";

/** A lease this daemon holds: the order and the number of its attempt, which fences its changes. */
export interface Lease {
  id: number;
  /** The attempt's number (the order's `intentos` when it was claimed). */
  attempt: number;
}

/** An order this daemon claimed: its lease, and the order as claimed. */
export interface ClaimedOrder extends Lease {
  /** `en proceso`, `intentos` = `attempt`. */
  pedido: Pedido;
  /** Whether it was taken over from a daemon whose lease ran out. */
  takenOver: boolean;
  /**
   * Found leased to this daemon though it did not hold it: a claim (or an
   * insert that took it) committed, but its answer was lost
   * ({@linkcode ClaimOptions.recover}). Its attempt, counted then, has not run.
   */
  recovered?: boolean;
  /**
   * Taken over: the attempt cut short, as it was (its start and worker,
   * null where none was recorded), for an order that may not run again.
   */
  cutShort?: { startedAt: string | null; worker: number | null };
}

/**
 * What a capacity-checked insert did: as {@linkcode InsertResult}, or `full`.
 * An order taken at its insert ({@linkcode InsertOptions.take}) comes with
 * its attempt, `claimed`, and is `en proceso`.
 */
export type CheckedInsert =
  | InsertResult & { claimed?: ClaimedOrder }
  | { status: "full" };

/** Options of {@linkcode SharedQueue.insertWithinCapacity}. */
export interface InsertOptions {
  /**
   * Start this daemon's attempt on the new order in the insert itself
   * (`en proceso`, `intentos` 1, leased here), as a claim would, when no
   * older order is waiting to be claimed (they go first). The caller has
   * room to run it. @default false
   */
  take?: boolean;
}

/** What a capacity-checked retry did: as {@linkcode ChangeResult}, or `full`. */
export type CheckedChange = ChangeResult | { status: "full" };

/**
 * Where the news of new work comes from: this daemon committed it (`here`),
 * another daemon announced work it could not take, or the database is
 * reachable again (`elsewhere`), or an operator emptied the table
 * (`emptied`: `TRUNCATE pedidos`; the orders held here may be gone, so
 * their leases are checked at once).
 */
export type WorkOrigin = "here" | "elsewhere" | "emptied";

/** Options of {@linkcode SharedQueue.releaseAttempt}. */
export interface ReleaseOptions {
  /** Whether the attempt ran on a worker; when not, it does not count in `intentos`. */
  started: boolean;
  /**
   * A failed attempt's retry backoff (§11): no daemon claims the order again
   * before this many ms have passed. @default {null: at once}
   */
  retryInMs?: number | null;
}

/** The cluster's counts (STATS of §9), read from the database. */
export interface ClusterCounts {
  /** The capacity in force (`--max-pedidos` of every daemon). */
  capacidad: number;
  pendientes: number;
  enProceso: number;
}

/** Options of {@linkcode SharedQueue.claim}. */
export interface ClaimOptions {
  /** The most orders to claim. */
  limit: number;
  /** The attempts' `fecha_inicio`, ISO 8601 UTC. */
  at: string;
  /** Also take orders `en proceso` whose lease ran out (their daemon died). @default false */
  takeover?: boolean;
  /**
   * Orders this daemon holds: never taken over, even past their lease (it
   * ran out while the database was out of reach; the next renewal extends
   * it, unless another daemon took it over first). @default []
   */
  holding?: readonly number[];
  /**
   * First take back the orders leased to this daemon that it does not hold
   * (`holding`): a claim, or an insert taking its order, whose commit landed
   * while its answer was lost with the connection. They keep their attempt
   * (it has not run) and come `recovered`. Only while no order this daemon
   * inserts can be taking its own (no insert with `take` in flight), which
   * would be taken for one. @default false
   */
  recover?: boolean;
}

/** How an attempt of a claimed order ended, with when and where it ran. */
export interface AttemptEnd {
  outcome: Outcome;
  /** The worker (1-based) that ran it; null for an attempt never run here ({@linkcode AttemptEnd.notRun}) whose worker is not known. */
  worker: number | null;
  /** When it started on the worker, ISO 8601 UTC. */
  startedAt: string;
  /**
   * The end of an order taken over that may not run again: the attempt
   * claimed never ran, so `intentos` goes back to the attempts that did
   * (`worker` and `startedAt` are then the attempt cut short's).
   */
  notRun?: boolean;
}

/** The shared part of a store several daemons use at once. */
export interface SharedQueue {
  /** This daemon's name in the cluster (lease holder), unique per start. */
  readonly nodeId: string;
  /** How long a claim's lease lasts without renewal, ms. */
  readonly leaseMs: number;
  /**
   * As {@linkcode Store.insert}, but only while the cluster has room: the
   * count of unfinished orders and the insert are one transaction. A
   * `clave` already stored answers `duplicate` even when full.
   */
  insertWithinCapacity(
    pedido: PedidoNuevo,
    receivedAt: string,
    owner?: number | null,
    options?: InsertOptions,
  ): Promise<CheckedInsert>;
  /** As {@linkcode Store.retry}, but only while the cluster has room. */
  retryWithinCapacity(id: number, owner?: number): Promise<CheckedChange>;
  /**
   * Claims up to `limit` orders, oldest first, that no one else holds, and
   * starts an attempt on each (`en proceso`, `intentos + 1`, leased for
   * {@linkcode SharedQueue.leaseMs} to this daemon).
   */
  claim(options: ClaimOptions): Promise<ClaimedOrder[]>;
  /**
   * Extends the leases this daemon still holds, and says it is alive.
   *
   * @returns The ids whose lease was extended; the others are lost (fenced).
   */
  renew(leases: Lease[]): Promise<number[]>;
  /**
   * Records which worker took the attempt and when (an attempt that takes
   * processing time, while it runs).
   *
   * @returns false when the attempt was fenced: nothing was written.
   */
  markAttemptStarted(lease: Lease, worker: number, at: string): Promise<boolean>;
  /**
   * Records how the attempt ended (`listo` or `error`), its worker and start.
   *
   * @returns false when the attempt was fenced: nothing was written.
   */
  finishAttempt(lease: Lease, end: AttemptEnd): Promise<boolean>;
  /**
   * Gives the order back to the queue, `pendiente` (a failed attempt to be
   * tried again, a drain).
   *
   * @returns false when the attempt was fenced: nothing was written.
   */
  releaseAttempt(lease: Lease, options: ReleaseOptions): Promise<boolean>;
  /** The cluster's counts now. */
  clusterCounts(): Promise<ClusterCounts>;
  /**
   * Calls `listener` when there may be work to claim: `pendiente` orders
   * committed by this daemon (`here`), announced by another, or the
   * database reachable again (`elsewhere`).
   */
  onWork(listener: (origin: WorkOrigin) => void): Disposable;
  /**
   * Tells the other daemons there is work this one could not take (it holds
   * all it may); they claim it. Sent after the commits it is about.
   */
  announceWork(): void;
  /** Calls `listener` with the ids of orders that finished on any daemon. */
  onFinished(listener: (ids: number[]) => void): Disposable;
  /**
   * Whether the other daemons may now find this one dead and take its
   * orders over before their leases end (PostgreSQL: its lock not known
   * held for a while, `node_sentinel.ts`): it must run no attempt then.
   * @default {false}
   */
  readonly fenced?: boolean;
  /** Calls `listener` with {@linkcode SharedQueue.fenced} each time it changes. */
  onFenced?(listener: (fenced: boolean) => void): Disposable;
}

/** Whether a store is shared by several daemons (PostgreSQL). */
export function isSharedQueue<S extends object>(store: S): store is S & SharedQueue {
  return typeof (store as Partial<SharedQueue>).claim === "function";
}
