/**
 * How the daemons of one database tell one that died from one that is
 * only slow (§9). Each daemon holds, for as long as it runs, a session
 * advisory lock of its own (`pg_try_advisory_lock(NODE_LOCK_CLASS, key)`)
 * on a connection kept for nothing else. PostgreSQL lets the lock go the
 * moment that session ends: at once when the daemon's process dies
 * (SIGKILL, a crash: its sockets close), and not while it is only paused
 * (SIGSTOP) or slow, whose session lives on. A daemon whose lock is free is
 * dead, and its orders need not wait out their lease: see
 * {@linkcode DEAD_NODES} and {@linkcode DeadNodeWatch}.
 *
 * The session may also end while its daemon lives (the connection reset,
 * `pg_terminate_backend`): the sentinel takes the lock again as soon as it
 * can, and a lock is taken for free only once it has stayed free for
 * {@linkcode DEAD_GRACE_MS}.
 *
 * A daemon that lives on without its lock for longer (the database out of
 * its reach, a proxy between them restarted) would then have its orders
 * taken over while it still runs them, within their leases. So the
 * sentinel checks its lock every {@linkcode CHECK_MS}, and once it has not
 * known it held for {@linkcode SELF_FENCE_MS} it says so (`onFenced`):
 * the daemon stops its attempts and claims no more, before any other daemon
 * may take them (their grace starts no sooner than the last check that
 * found the lock held). It says when the lock is held again (`onUnfenced`).
 *
 * @module
 */

import postgres, { type Options, type Sql } from "postgres";
import type { Logger } from "../../log.ts";
import { withDeadline } from "./deadline.ts";

/** The first key of every daemon's lock (the second is {@linkcode nodeLockKey}): "pedi". */
export const NODE_LOCK_CLASS = 0x70656469;

/**
 * How long a daemon's lock must be found free, at every look, before its
 * orders are taken over, ms: longer than a living daemon takes to lock
 * again once its session was ended (a reset, `pg_terminate_backend`, even
 * repeated for a few seconds), far shorter than a lease.
 */
export const DEAD_GRACE_MS = 5000;

/** How often a daemon checks that it holds its lock, ms. */
export const CHECK_MS = 500;

/**
 * How long a daemon goes without knowing that it holds its lock before it
 * stops its attempts, ms: with the pool's abort grace (1 s) for them to
 * stop, within {@linkcode DEAD_GRACE_MS}; and longer than an outage of a
 * second or two, through which its attempts go on.
 */
export const SELF_FENCE_MS = 3000;

/**
 * The second key of the lock of the daemon `nodeId`: a hash of it, from 1
 * to 2^31 − 1. Two daemons with the same key (one chance in two billion)
 * each see the other's lock as theirs: neither is found dead early, and
 * their orders wait out their leases, as without locks.
 */
export function nodeLockKey(nodeId: string): number {
  // FNV-1a, 32 bits.
  let hash = 0x811c9dc5;
  for (let i = 0; i < nodeId.length; i++) {
    hash ^= nodeId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash & 0x7fffffff) || 1;
}

/**
 * The daemons found dead now: registered with a lock (`candado`: daemons of
 * an older version take none, and are never found dead early), not this one
 * (`$1`), holding an order `en proceso`, and whose lock no session of this
 * database holds.
 */
export const DEAD_NODES = `SELECT n.id FROM pedidos_nodos n
  WHERE n.candado IS NOT NULL AND n.id <> $1
    AND EXISTS (SELECT 1 FROM pedidos p WHERE p.estado = 'en proceso' AND p.nodo = n.id)
    AND NOT EXISTS (
      SELECT 1 FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = ${NODE_LOCK_CLASS}::oid AND l.objid = n.candado::oid
    )`;

/**
 * Which daemons have been found dead ({@linkcode DEAD_NODES}) at every look
 * for at least {@linkcode DEAD_GRACE_MS}: a lock free only while its
 * daemon's connection came back is not taken for a death.
 */
export class DeadNodeWatch {
  readonly #graceMs: number;
  readonly #maxGapMs: number;
  /** Each daemon found dead at the last look, with when it was first found so. */
  #since = new Map<string, number>();
  #lastLook = -Infinity;

  /**
   * @param graceMs @default {DEAD_GRACE_MS}
   * @param maxGapMs The longest time between two looks that still counts as
   * looking all along (looks fail while the database is out of reach, and
   * what was found before says nothing of what happened meanwhile). @default 2500
   */
  constructor(graceMs: number = DEAD_GRACE_MS, maxGapMs = 2500) {
    this.#graceMs = graceMs;
    this.#maxGapMs = maxGapMs;
  }

  /**
   * Takes what a look found (`found`, at `now`, ms) and answers the daemons
   * found dead at every look for the grace at least.
   */
  confirm(found: readonly string[], now: number = performance.now()): string[] {
    const before = now - this.#lastLook > this.#maxGapMs ? new Map<string, number>() : this.#since;
    this.#lastLook = now;
    const since = new Map<string, number>();
    for (const id of found) since.set(id, before.get(id) ?? now);
    this.#since = since;
    return [...since].filter(([, first]) => now - first >= this.#graceMs).map(([id]) => id);
  }
}

/** Options of {@linkcode NodeSentinel}. */
export interface NodeSentinelOptions {
  /** The store's driver options (a pool of one is made of them). */
  driver: Options<Record<string, never>>;
  /** This daemon. */
  nodeId: string;
  logger: Logger;
  /** This daemon has not known it holds its lock for `fenceMs`. @default {nothing} */
  onFenced?: () => void;
  /** It holds its lock again, after `onFenced`. @default {nothing} */
  onUnfenced?: () => void;
  /** @default {SELF_FENCE_MS} */
  fenceMs?: number;
  /** @default {CHECK_MS} */
  checkMs?: number;
}

/** Holds this daemon's lock while it runs, and takes it again when its session ends. */
export class NodeSentinel {
  /** This daemon's key ({@linkcode nodeLockKey}). */
  readonly key: number;
  #sql: Sql;
  readonly #logger: Logger;
  #closed = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #retryMs = 100;
  readonly #options: NodeSentinelOptions;
  #checker: ReturnType<typeof setInterval> | undefined;
  /** Fires the fence time after the last check that found the key held was sent. */
  #fenceTimer: ReturnType<typeof setTimeout> | undefined;
  #checking = false;
  /** `performance.now()` when a check that found the key held was sent. */
  #heldAt = -Infinity;
  #fenced = false;

  constructor(options: NodeSentinelOptions) {
    this.key = nodeLockKey(options.nodeId);
    this.#options = options;
    this.#logger = options.logger;
    this.#sql = this.#newSession();
  }

  #newSession(): Sql {
    const sql: Sql = postgres({
      ...this.#options.driver,
      max: 1,
      // Never closed for being idle or old: the lock lives with the session.
      idle_timeout: 0,
      max_lifetime: 0,
      // Connected again 0.1 s after a failure, not after the driver's growing
      // pause (seconds after a few failures): past the fence time, this
      // daemon's attempts stop.
      backoff: () => 0.1,
      // A session given up (gone silent) is not locked on again.
      onclose: () => sql === this.#sql && this.#lockSoon(),
    });
    return sql;
  }

  /**
   * Takes the lock. A key another session holds (a daemon with the same
   * key) is not waited for: this daemon then goes without one of its own.
   *
   * @throws When the database cannot be reached.
   */
  async lock(): Promise<void> {
    const sent = performance.now();
    await this.#sql`SELECT pg_try_advisory_lock(${NODE_LOCK_CLASS}, ${this.key})`;
    this.#retryMs = 100;
    this.#held(sent);
    if (this.#checker === undefined && !this.#closed) {
      this.#checker = setInterval(() => this.#check(), this.#options.checkMs ?? CHECK_MS);
    }
  }

  /** Whether this daemon has gone {@linkcode SELF_FENCE_MS} without knowing it holds its lock. */
  get fenced(): boolean {
    return this.#fenced;
  }

  /**
   * Checks that the key is held (taking it again on a new session), and
   * says when it has not been known held for the fence time. A key held by
   * another session (a daemon with the same key) counts as held: while it
   * is, no one finds this daemon dead.
   */
  #check(): void {
    if (this.#checking || this.#closed) return;
    this.#checking = true;
    const sent = performance.now();
    const sql = this.#sql;
    withDeadline(
      sql`SELECT CASE WHEN EXISTS (
          SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
            AND pid = pg_backend_pid() AND classid = ${NODE_LOCK_CLASS}::oid
            AND objid = ${this.key}::oid)
        THEN true ELSE pg_try_advisory_lock(${NODE_LOCK_CLASS}, ${this.key}) END AS held`,
      DEAD_GRACE_MS,
      "check this daemon's lock",
    ).then(() => this.#held(sent), () => {
      // Unanswered that long, the session has gone silent: a new one takes the lock.
      if (sql !== this.#sql || this.#closed || performance.now() - sent < DEAD_GRACE_MS) return;
      this.#sql = this.#newSession();
      sql.end({ timeout: 0 }).catch(() => {});
      this.#lockSoon();
    }).finally(() => this.#checking = false);
  }

  #held(sent: number): void {
    if (this.#closed) return;
    this.#heldAt = Math.max(this.#heldAt, sent);
    clearTimeout(this.#fenceTimer);
    const fenceMs = this.#options.fenceMs ?? SELF_FENCE_MS;
    this.#fenceTimer = setTimeout(() => this.#fence(), this.#heldAt + fenceMs - performance.now());
    if (!this.#fenced) return;
    this.#fenced = false;
    this.#logger.info("store.node_unfenced", {});
    this.#options.onUnfenced?.();
  }

  /**
   * The session ended while the daemon runs: the lock is taken again on a
   * new one, with a backoff of at most 0.25 s (well within the fence time).
   */
  #lockSoon(): void {
    if (this.#closed || this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closed) return;
      this.lock().catch((error) => {
        this.#logger.repeated("warn", "store.node_lock_lost", { error: String(error) });
        this.#retryMs = Math.min(this.#retryMs * 2, 250);
        this.#lockSoon();
      });
    }, this.#retryMs);
  }

  #fence(): void {
    if (this.#fenced || this.#closed) return;
    this.#fenced = true;
    this.#logger.warn("store.node_fenced", {
      reason: "its lock not known held: its attempts stop before another daemon may take them",
    });
    this.#options.onFenced?.();
  }

  /** Lets the lock go (its session ends). */
  async close(timeoutS: number): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#checker);
    clearTimeout(this.#fenceTimer);
    await this.#sql.end({ timeout: timeoutS });
  }
}
