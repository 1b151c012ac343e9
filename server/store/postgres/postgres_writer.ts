/**
 * The PostgreSQL store's single writer: every write of orders waits in one
 * queue, and what is queued when a transaction starts is committed together
 * in it (group commit), one statement per kind of write (all new orders in
 * one multi-row insert, all attempt ends in one update). Each write resolves
 * only after the `COMMIT`.
 *
 * Writes go in two lanes, each one transaction at a time: those that add
 * unfinished orders (new orders, checked retries), and the rest (the ends
 * of attempts, cancels, …), which are then not held up by the first's turns
 * on the capacity, nor hold them up: PostgreSQL works on both at once.
 * Within a lane, writes are committed in the order they were queued.
 *
 * **Back to back.** A lane keeps its connection while writes wait. When a
 * transaction's `COMMIT` is answered, the writes queued meanwhile go out
 * at once on that connection, before the writers of the batch just
 * committed are answered: PostgreSQL works on the next batch while this
 * process answers the last (reserving a connection anew, and answering
 * first, left PostgreSQL idle for that time: 1.13× the intake at 64
 * connections, median of 12 alternating runs; 1.05× at 16). Once nothing
 * waits, the connection goes back to the pool. The lane of new orders
 * first gathers: when fewer writes wait than it just committed, it waits
 * (1 ms at most, {@linkcode PostgresWriterOptions.gatherMs}) until as many
 * more are queued, the writers just answered writing again, so that a
 * closed loop of clients is one transaction a round, not the few orders
 * that came during the commit and then the rest (1.15× the intake at 64
 * connections).
 * (Going further, a second batch sent on another connection while the
 * first still holds the capacity lock, checking under it that the first
 * committed, was built and measured: 0.84–0.97× the intake, its batches
 * smaller; see `docs/benchmarks.md`.)
 *
 * **Capacity.** What fits is decided under one advisory lock for the whole
 * cluster ({@linkcode CAPACITY_LOCK}), taken by a transaction that adds
 * unfinished orders and held until its commit. (Reserving room first in a
 * short transaction of its own, so that no daemon's inserts wait for
 * another's commit to reach the disk, was built and measured: on the
 * bench's 2-core machine two daemons took in 1.27× more orders without it,
 * each batch paying a second transaction; see `docs/benchmarks.md`. So was
 * committing with `synchronous_commit` off, the lock let go at once, and
 * answering after a WAL-writing statement that follows on the same
 * connection has flushed: within the noise, since there the cores set the
 * pace, not the lock. With the lock taken shared, so that no daemon waited
 * for another and the capacity went unchecked between them, two daemons
 * took in 1.15× and three 1.00×: the most any exact scheme could gain here.)
 *
 * A batch is one round trip: `BEGIN`, the capacity lock when a write adds
 * unfinished orders, every statement, and `COMMIT` are sent together on one
 * connection (pipelined), and the answers read after. So every kind of
 * write sends all its statements before it first waits, and anything it
 * decides from their rows it decides after the commit; a statement that
 * fails aborts the whole transaction, which is then tried again one write
 * at a time, so only the faulty write fails. (A batch of new orders sent as
 * one statement in autocommit, through a function taking the lock itself,
 * was built and measured: the statement without parameters it needs first,
 * for the driver to say which backend carries it as it goes out, left it
 * within the noise of the four; see `docs/benchmarks.md`.)
 *
 * Statements that add unfinished orders count them in SQL, after the lock:
 * the count sees every order committed by the last holder, so the capacity
 * is exact however many daemons write at once.
 *
 * **A lost answer.** When the connection breaks (or goes silent past the
 * deadline) once a transaction was sent, its `COMMIT` may have been done
 * with only the answer lost. Before its writers are answered, and before
 * the lane goes on, the writer ends that connection's backend from a new
 * connection, so nothing can commit later (`lost_commit.ts`), then asks the
 * kinds that can tell ({@linkcode WriteKind.recover}: new orders, which
 * store what each batch stored) whether it committed: their writers are
 * answered as if the answer had come. The others fail as unavailable, their
 * outcome unknown ({@linkcode StoreUnavailableError.outcomeUnknown}).
 *
 * @module
 */

import type { ReservedSql, Sql } from "postgres";
import type { BatchTiming } from "../../../workers/writer_messages.ts";
import { Deadline, withDeadline } from "./deadline.ts";
import { CAPACITY_LOCK } from "./postgres_schema.ts";
import { isConnectionError } from "./postgres_errors.ts";
import { StoreUnavailableError } from "../store_unavailable_error.ts";
import { endLostTransaction, type LostTransaction } from "./lost_commit.ts";
import { RESERVE_RETRY_MS, reserveConnection } from "./reserve_connection.ts";
import { WriterLane } from "./writer_lane.ts";

/**
 * How the store's connections (the writer's and the reads') plan their
 * statements: never a sequential or a bitmap scan of a table. Its statements look orders
 * up by primary key, `clave` or the index of pending orders, and each
 * statement's plan is made once per connection and kept (a prepared
 * statement's generic plan), often while the table is small (a new
 * database): planned on that size, or on statistics that lag behind
 * (autovacuum off, or not yet run), a scan of the whole table looks cheap,
 * and once the table has grown every batch would pay for it. Without those
 * scans the only plans left go through the indexes, at any size; and no
 * planning is paid for each batch.
 */
export const WRITER_SETTINGS: Record<string, string> = {
  enable_seqscan: "off",
  enable_bitmapscan: "off",
  // A scan with no other way (a table without an index for it) is priced as
  // disabled, which would pass the JIT's threshold: 100 ms of compiling for a
  // statement of a millisecond.
  jit: "off",
};

/** What a kind of write uses while its batch is being sent. */
export interface BatchContext {
  /**
   * The transaction's number, unique in this writer: a kind that can
   * {@linkcode WriteKind.recover | recover} stores it with what it wrote.
   */
  batch: number;
  /** Sends a statement now (after those sent before it); resolves with its rows. */
  query<T extends object>(text: string, params: unknown[]): Promise<T[]>;
  /** New `pendiente` orders were made: the other daemons are woken after the commit. */
  newWork(): void;
  /** These orders finished: their waiters on every daemon are woken after the commit. */
  finished(ids: readonly number[]): void;
}

/**
 * A kind of write. `apply` sends every statement for all the writes of its
 * kind in the batch before it first awaits, and resolves with one result
 * per write, in order: an `Error` for a write that failed on its own (e.g.
 * no such order), which does not abort the others.
 */
export interface WriteKind<A, R> {
  /** For error messages: `Cannot ${name}: ...`. */
  readonly name: string;
  /**
   * Whether it adds unfinished orders within the capacity (new orders,
   * checked retries): the batch then takes the capacity lock first, until
   * its commit, and goes in the first lane.
   */
  readonly checked?: boolean;
  /**
   * About how many bytes of statement parameters `args` adds to a batch:
   * with {@linkcode PostgresWriterOptions.maxBatchBytes}, what keeps a
   * batch of large writes from growing past what one parameter (1 GiB in
   * PostgreSQL) or one JavaScript string (about 512 MiB in V8) can hold.
   * @default {0}
   */
  size?(args: A): number;
  apply(ctx: BatchContext, args: A[]): Promise<(R | Error)[]>;
  /**
   * The writes of a transaction whose connection broke once its `COMMIT`
   * may have gone out, after it can no longer commit (`lost_commit.ts`):
   * reads on another connection whether transaction `ctx.batch` committed
   * and, if it did, resolves with the results `apply` would have given;
   * null when it did not commit. A kind without it cannot tell: its writes
   * then fail as if the database were down (they may or may not have been
   * done).
   */
  recover?(ctx: RecoveryContext, args: A[]): Promise<(R | Error)[] | null>;
}

/** What {@linkcode WriteKind.recover} uses. */
export interface RecoveryContext {
  /** The number of the transaction lost ({@linkcode BatchContext.batch}). */
  batch: number;
  /** Runs a statement on the pool (not in a transaction). */
  query<T extends object>(text: string, params: unknown[]): Promise<T[]>;
  /** As {@linkcode BatchContext.newWork}: the transaction made new `pendiente` orders. */
  newWork(): void;
}

/** What the writer tells its store after each commit. */
export interface CommitEffects {
  newWork: boolean;
  finished: number[];
}

/** Options of {@linkcode PostgresWriter}. */
export interface PostgresWriterOptions {
  /**
   * The pool now, its connections set up as {@linkcode WRITER_SETTINGS}
   * says: each lane uses one at a time.
   */
  sql: () => Sql;
  /**
   * A client of one connection of its own, ended after use, for what finds
   * out a lost commit's outcome (it runs while the database may be out of
   * reach, and must not wear the pools out meanwhile).
   * @default {the pool, `sql`, not ended}
   */
  single?: () => Sql;
  /** After each commit, with what it did. */
  onCommit: (effects: CommitEffects) => void;
  /**
   * Turns a lost connection into the error its writes reject with, and
   * notes the outage, unless `stale`: the transaction went on a pool
   * retired since (an outage was noted meanwhile, and the store moved to
   * new connections), so its failure says nothing of the database now.
   */
  unavailable: (what: string, error: unknown, stale: boolean) => Error;
  /** Most writes in one transaction. @default 2000 */
  maxBatch?: number;
  /**
   * Most bytes of writes in one transaction, as their kinds size them
   * ({@linkcode WriteKind.size}); a write larger than this goes alone.
   * @default {16 MiB}
   */
  maxBatchBytes?: number;
  /**
   * The longest a transaction may take, from asking for a connection to its
   * commit's answer; past it, its writes fail as if the database were down.
   * @default 15000
   */
  deadlineMs?: number;
  /**
   * How long, at most, the lane of new orders waits after a `COMMIT` before
   * its next transaction, when fewer writes wait than it just committed:
   * time for the writers just answered to send their next writes, so that
   * they go in one batch instead of a small one (what came during the
   * commit) and then the rest. The wait ends as soon as, besides the writes
   * that were waiting at the commit, as many more are queued as it
   * committed (a timer, not a loop: an idle wait costs no CPU). A wait that
   * runs out of time with not even half of them come (writers on their own
   * pace, not a closed loop) makes the next commits go without one: 1, then
   * 2, 4, … 64 after such misses in a row, none after a wait that was not
   * one. 0: no wait.
   * @default 1
   */
  gatherMs?: number;
  /**
   * How long a transaction whose answers were lost with its connection may
   * take to be found committed or not (`lost_commit.ts`), its writers
   * waiting; past it, they fail, their outcome unknown.
   * @default 5000
   */
  recoverMs?: number;
}

interface Queued {
  kind: WriteKind<unknown, unknown>;
  args: unknown;
  bytes: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * `COMMIT`, padded with a comment to 1 KiB and sent unprepared (its text goes
 * with it): the driver (postgres 3.4.9, pinned) sends what it has queued at
 * once when that reaches 1024 bytes, and otherwise only at the next turn of
 * the event loop. A batch's multi-row insert passes that size and goes out
 * at once; without the padding its `COMMIT` followed a turn later, while
 * PostgreSQL waited, idle in the transaction, with the capacity lock held.
 */
const COMMIT = `COMMIT -- ${"-".repeat(1024)}`;

type Lane = WriterLane<Queued>;

/**
 * The lane of new orders waiting after a commit for the writers just
 * answered ({@linkcode PostgresWriter.#next}): it ends once `wanted` writes
 * are queued, or at the latest `gatherMs` after it began.
 */
interface Gather {
  wanted: number;
  /**
   * Ends it (once; later calls do nothing): the lane's next transaction
   * starts. `met`: the writes came (or the writer closes), not the time.
   */
  end: (met: boolean) => void;
}

/** The most commits in a row that go without a gather after gathers that timed out. */
const MAX_GATHER_SKIPS = 64;

/** How long a lost transaction's backend is looked for, to be ended, after its writers were answered. */
const LINGER_MS = 10 * 60_000;

/** The one writer of a PostgreSQL store. */
export class PostgresWriter {
  readonly #sql: () => Sql;
  readonly #single: (() => Sql) | null;
  readonly #onCommit: (effects: CommitEffects) => void;
  readonly #unavailable: (what: string, error: unknown, stale: boolean) => Error;
  readonly #maxBatch: number;
  readonly #maxBatchBytes: number;
  readonly #deadlineMs: number;
  readonly #recoverMs: number;
  readonly #gatherMs: number;
  /** The number of the last transaction sent. */
  #batchNumber = 0;
  /** Aborted when the writer closes: lost transactions are no longer ended. */
  readonly #closing = new AbortController();
  /** Lost transactions' backends still being ended ({@linkcode PostgresWriter.#endLater}). */
  readonly #ending = new Set<Promise<void>>();
  /** The deadline of each transaction in flight, and the connection it went on once known. */
  readonly #deadlines = new Map<Deadline, Carrier>();
  /** The two lanes: writes that add unfinished orders, and the others. */
  readonly #lanes: [Lane, Lane] = [new WriterLane(), new WriterLane()];
  #scheduled = false;
  /** The gather under way on the lane of new orders ({@linkcode PostgresWriter.#next}), if any. */
  #gather: Gather | null = null;
  /** Commits left to go without a gather, after gathers that timed out. */
  #gatherSkips = 0;
  /** How many commits go without a gather after the last that timed out (0 after one that did not). */
  #gatherBackoff = 0;
  /** Called with the size and time of each batch committed (the metrics' writer histograms). */
  onBatch: ((batch: BatchTiming) => void) | null = null;
  /** Batches committed, and writes in them (for tests and the bench). */
  readonly stats = { batches: 0, writes: 0, largestBatch: 0 };

  constructor(options: PostgresWriterOptions) {
    this.#sql = options.sql;
    this.#single = options.single ?? null;
    this.#onCommit = options.onCommit;
    this.#unavailable = options.unavailable;
    this.#maxBatch = options.maxBatch ?? 2000;
    this.#maxBatchBytes = options.maxBatchBytes ?? 16 * 1024 * 1024;
    this.#deadlineMs = options.deadlineMs ?? 15_000;
    this.#recoverMs = options.recoverMs ?? 5000;
    this.#gatherMs = options.gatherMs ?? 1;
  }

  /** Queues a write; resolves with its result after its transaction commits. */
  write<A, R>(kind: WriteKind<A, R>, args: A): Promise<R> {
    const { promise, resolve, reject } = Promise.withResolvers<R>();
    this.#lanes[kind.checked ? 0 : 1].queue.push({
      kind: kind as WriteKind<unknown, unknown>,
      args,
      bytes: kind.size?.(args) ?? 0,
      resolve: resolve as (value: unknown) => void,
      reject,
    });
    // Enough writes to end the gather: it ends once this tick's writes are queued.
    const gather = this.#gather;
    if (gather !== null && kind.checked && this.#lanes[0].queue.length >= gather.wanted) {
      queueMicrotask(() => gather.end(true));
    }
    this.#schedule();
    return promise;
  }

  /** Resolves when every write queued so far has settled. */
  async flush(): Promise<void> {
    for (;;) {
      const running = this.#lanes.flatMap((lane) => [...lane.running]);
      if (running.length > 0) await Promise.allSettled(running);
      // Queued: the transaction for it starts in a microtask already queued,
      // or once a gather ends: now (a gather holds no write of its own).
      else if (this.#lanes.some((lane) => lane.queue.length > 0)) {
        this.#gather?.end(true);
        await new Promise<void>((resolve) => queueMicrotask(resolve));
      } else return;
    }
  }

  /** Starts a transaction in each idle lane with writes queued, at the end of this tick. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Let the writes of this tick join the batch.
    queueMicrotask(() => {
      this.#scheduled = false;
      for (const lane of this.#lanes) this.#start(lane);
    });
  }

  /**
   * Starts the lane's next transaction, when it is free and writes wait;
   * when none wait, lets its connection go back to the pool.
   */
  #start(lane: Lane): void {
    if (lane.busy) return;
    if (lane.queue.length === 0) {
      lane.letGo();
      return;
    }
    lane.busy = true;
    const batch = lane.queue.splice(0, this.#batchLength(lane.queue));
    const running: Promise<void> = this.#commit(
      batch,
      true,
      lane,
      () => this.#next(lane, batch.length),
    ).finally(() => lane.running.delete(running));
    lane.running.add(running);
  }

  /**
   * The lane's next transaction, after one of `committed` writes: at once,
   * or, on the lane of new orders when fewer writes wait than that, once
   * the writers just answered have had {@linkcode PostgresWriterOptions.gatherMs}
   * to write again. In a closed loop (each client sending its next order
   * when the last is answered), going at once sent what came during the
   * commit, often one or two orders, as a transaction of its own, while the
   * rest waited for it: two commits for each round of the clients.
   */
  #next(lane: Lane, committed: number): void {
    const go = () => {
      lane.busy = false;
      this.#start(lane);
    };
    const waiting = lane.queue.length;
    if (
      lane !== this.#lanes[0] || this.#gatherMs <= 0 || committed < 2 || waiting >= committed ||
      this.#closing.signal.aborted
    ) return go();
    if (this.#gatherSkips > 0) {
      this.#gatherSkips--;
      return go();
    }
    const gather: Gather = {
      wanted: Math.min(this.#maxBatch, waiting + committed),
      end: (met) => {
        if (this.#gather !== gather) return;
        this.#gather = null;
        clearTimeout(timer);
        // Writers that do not come back at once (each on its own pace, not
        // waiting for the last answer) only make the wait cost latency:
        // after each miss in a row (not even half of them came back in
        // time), twice as many commits go without it.
        const missed = !met && 2 * (lane.queue.length - waiting) < committed;
        this.#gatherBackoff = missed ? Math.min(MAX_GATHER_SKIPS, 2 * this.#gatherBackoff || 1) : 0;
        this.#gatherSkips = this.#gatherBackoff;
        go();
      },
    };
    this.#gather = gather;
    const timer = setTimeout(() => gather.end(false), this.#gatherMs);
  }

  /** How many of the writes queued first go in the next batch: at least one. */
  #batchLength(queue: Queued[]): number {
    let bytes = queue[0]?.bytes ?? 0;
    let n = 1;
    while (n < queue.length && n < this.#maxBatch) {
      bytes += queue[n]!.bytes;
      if (bytes > this.#maxBatchBytes) break;
      n++;
    }
    return n;
  }

  /**
   * Commits `batch` in one transaction on `lane`; when it aborts, one write
   * at a time. Calls `next` once the outcome is known, before answering the
   * writes: the lane's next transaction then goes out on the connection just
   * freed while this batch's writers are answered, rather than after.
   */
  async #commit(
    batch: Queued[],
    isolate: boolean,
    lane: Lane,
    next: () => void = () => {},
  ): Promise<void> {
    let nextCalled = false;
    const goOn = () => {
      if (nextCalled) return;
      nextCalled = true;
      next();
    };
    try {
      await this.#commitBatch(batch, isolate, lane, goOn);
    } finally {
      goOn();
    }
  }

  async #commitBatch(
    batch: Queued[],
    isolate: boolean,
    lane: Lane,
    goOn: () => void,
  ): Promise<void> {
    const groups = groupByKind(batch);
    const effects: CommitEffects = { newWork: false, finished: [] };
    let outcome;
    const began = performance.now();
    const pool = this.#sql();
    const carrier: Carrier = { connection: null, pid: null, sentAt: 0, batch: 0 };
    try {
      outcome = await this.#send(groups, effects, lane, pool, carrier);
    } catch (error) {
      // No connection, or it broke: the commit may or may not have happened.
      const stale = this.#sql() !== pool;
      const failures = new Map(
        batch.map((queued) => [queued, this.#unavailable(queued.kind.name, error, stale)]),
      );
      // Found out before the lane goes on: its next transaction would
      // overwrite what this one stored to be found by.
      const recovered = await this.#recover(groups, carrier);
      goOn();
      if (recovered === null) {
        for (const [queued, failure] of failures) queued.reject(failure);
        return;
      }
      groups.forEach(([_kind, group], g) => {
        const results = recovered[g];
        for (const [n, queued] of group.entries()) {
          const failure = failures.get(queued)!;
          if (results === undefined) {
            if (failure instanceof StoreUnavailableError) failure.outcomeUnknown = true;
            queued.reject(failure);
          } else settle(queued, results[n]);
        }
      });
      return;
    }
    if (outcome.aborted !== null) {
      if (isolate && batch.length > 1) {
        for (const queued of batch) await this.#commit([queued], false, lane);
        return;
      }
      goOn();
      const reason = outcome.aborted instanceof Error
        ? outcome.aborted.message
        : String(outcome.aborted);
      for (const queued of batch) {
        queued.reject(
          new Error(`Cannot ${queued.kind.name}: ${reason}`, { cause: outcome.aborted }),
        );
      }
      return;
    }
    goOn();
    this.stats.batches++;
    this.stats.writes += batch.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    this.onBatch?.({ size: batch.length, commitMs: performance.now() - began });
    outcome.results.forEach((result, g) => {
      const group = groups[g]![1];
      if (result.status === "rejected") {
        // Committed, but its rows could not be read back: say so, do not write again.
        const reason = result.reason instanceof Error
          ? result.reason.message
          : String(result.reason);
        for (const queued of group) {
          queued.reject(new Error(`Cannot ${queued.kind.name}: ${reason}`));
        }
        return;
      }
      group.forEach((queued, i) => settle(queued, result.value[i]));
    });
    if (effects.newWork || effects.finished.length > 0) this.#onCommit(effects);
  }

  /**
   * After a transaction's connection broke: whether it committed, and then
   * its writes' results, read on another connection once it can no longer
   * commit (`lost_commit.ts`).
   *
   * @returns null when it did not commit (found so, or it never reached a
   * connection): its writes fail, the database unavailable. Else each
   * group's results, or `undefined` for a group whose outcome is unknown (its
   * kind cannot recover, or whether the transaction committed could not be
   * learned in time: then every group).
   */
  async #recover(
    groups: [WriteKind<unknown, unknown>, Queued[]][],
    carrier: Carrier,
  ): Promise<(unknown[] | undefined)[] | null> {
    if (carrier.pid === null) return null;
    // Ended whatever its writes: while its backend lingers (a connection gone
    // silent), a COMMIT still in the network could land after the answer, and
    // an open transaction keeps its locks, the capacity's among them, until
    // the server's idle-in-transaction timeout (5 s at most with the store's
    // settings, driver_options.ts; none where that is not set).
    const lost = { pid: carrier.pid, sentAt: carrier.sentAt, lostAt: performance.now() };
    const side = this.#side();
    try {
      return await this.#recoverOn(side.sql, groups, carrier.batch, lost);
    } finally {
      await side.end();
    }
  }

  /** A client for a recovery: {@linkcode PostgresWriterOptions.single}'s, or the pool. */
  #side(): { sql: () => Sql; end: () => Promise<void> } {
    if (this.#single === null) return { sql: this.#sql, end: () => Promise.resolve() };
    const single = this.#single();
    return { sql: () => single, end: () => single.end({ timeout: 0 }).catch(() => {}) };
  }

  /** {@linkcode PostgresWriter.#recover} of transaction `batch`, on `sql`. */
  async #recoverOn(
    sql: () => Sql,
    groups: [WriteKind<unknown, unknown>, Queued[]][],
    batch: number,
    lost: LostTransaction,
  ): Promise<(unknown[] | undefined)[] | null> {
    const unknown = groups.map(() => undefined);
    const until = performance.now() + this.#recoverMs;
    const over = await endLostTransaction(lost, { sql, until, signal: this.#closing.signal });
    if (!over) {
      this.#endLater(lost);
      return unknown;
    }
    if (!groups.some(([kind]) => kind.recover)) return unknown;
    const effects: CommitEffects = { newWork: false, finished: [] };
    const ctx: RecoveryContext = {
      batch,
      query: <T extends object>(text: string, params: unknown[]) =>
        withDeadline(
          sql().unsafe(text, params as never[]).execute() as unknown as Promise<T[]>,
          Math.max(1, until - performance.now()),
          "recover a lost commit",
        ),
      newWork: () => effects.newWork = true,
    };
    const recovered: (unknown[] | undefined)[] = [];
    for (const [kind, group] of groups) {
      if (kind.recover === undefined) {
        recovered.push(undefined);
        continue;
      }
      let results;
      try {
        results = await kind.recover(ctx, group.map((queued) => queued.args));
      } catch {
        return unknown;
      }
      if (results === null) return null;
      recovered.push(results);
    }
    if (effects.newWork) this.#onCommit(effects);
    return recovered;
  }

  /**
   * Goes on ending a lost transaction's backend once its writers have been
   * answered, until it is gone (for {@linkcode LINGER_MS} at most, or until
   * the writer closes): the database may be reached again meanwhile.
   */
  #endLater(lost: LostTransaction): void {
    const until = performance.now() + LINGER_MS;
    const side = this.#side();
    const ending: Promise<void> = endLostTransaction(lost, {
      sql: side.sql,
      until,
      intervalMs: 1000,
      signal: this.#closing.signal,
    }).then(() => {}, () => {}).finally(async () => {
      await side.end();
      this.#ending.delete(ending);
    });
    this.#ending.add(ending);
  }

  /** Stops ending lost transactions' backends; resolves once none is being ended. */
  async close(): Promise<void> {
    this.#closing.abort();
    this.#gather?.end(true);
    await Promise.all(this.#ending);
  }

  /**
   * Sends one transaction, pipelined, and reads its answers.
   *
   * @returns Each kind's results, or why the transaction aborted.
   * @throws When the connection failed.
   */
  async #send(
    groups: [WriteKind<unknown, unknown>, Queued[]][],
    effects: CommitEffects,
    lane: Lane,
    pool: Sql,
    carrier: Carrier,
  ): Promise<{ aborted: unknown; results: PromiseSettledResult<unknown[]>[] }> {
    // The lane's connection from its last transaction, when it still has it:
    // then the statements go out now, without a turn through the pool.
    let conn = lane.take(pool);
    if (conn === null) {
      const reservation = reserveConnection(() => pool.reserve(), RESERVE_RETRY_MS);
      try {
        conn = await withDeadline(reservation.promise, this.#deadlineMs, "reserve a connection");
      } catch (error) {
        // A connection that comes after the deadline goes back at once.
        reservation.cancel();
        throw error;
      }
    }
    const reserved = conn;
    const sending = this.#transaction(reserved, groups, effects, carrier);
    let expired = false;
    // Once its transaction has settled, the connection stays with the lane for
    // its next one (the lane lets it go when nothing waits), unless it broke:
    // the driver reclaims a broken one when it closes, and handing it back
    // ourselves would put a closed connection among the open ones. A
    // transaction that never settles keeps its connection, which is then dead:
    // its deadline marks the database down, and the store replaces the pool.
    // One that settles after its deadline goes back to its pool.
    const keep = () =>
      expired || carrier.connection === null
        ? reserved.release()
        : lane.hold(reserved, pool, carrier.connection);
    sending.then(keep, (error) => {
      if (!isConnectionError(error)) keep();
    });
    const deadline = new Deadline(this.#deadlineMs, "commit");
    this.#deadlines.set(deadline, carrier);
    try {
      return await deadline.race(sending);
    } catch (error) {
      expired = true;
      throw error;
    } finally {
      deadline.clear();
      this.#deadlines.delete(deadline);
    }
  }

  /**
   * A connection of the pool closed (the server ended it, the network
   * broke, or it was idle long enough). A transaction queued on a
   * connection that closed may never be answered: a transaction in flight
   * on that connection (`id`, the driver's), or on one not known yet, now
   * gets one more second at most. Others go on: an idle connection closing
   * says nothing of theirs, and a slow commit must not be answered as lost.
   */
  connectionClosed(id?: number): void {
    // A lane keeping it between transactions drops it.
    for (const lane of this.#lanes) lane.forget(id);
    for (const [deadline, carrier] of this.#deadlines) {
      if (id === undefined || carrier.connection === null || carrier.connection === id) {
        deadline.hurry(1000);
      }
    }
  }

  /** Sends one transaction on `conn`, pipelined, and reads its answers. */
  async #transaction(
    conn: ReservedSql,
    groups: [WriteKind<unknown, unknown>, Queued[]][],
    effects: CommitEffects,
    carrier: Carrier,
  ): Promise<{ aborted: unknown; results: PromiseSettledResult<unknown[]>[] }> {
    const sent: Promise<unknown>[] = [];
    const query = <T extends object>(
      text: string,
      params: unknown[],
      options: Record<string, unknown> = {},
    ): Promise<T[]> => {
      // The driver sends a query only once it is awaited or executed: send it now, in order.
      const promise = conn.unsafe(text, params as never[], { prepare: true, ...options })
        .execute() as unknown as Promise<T[]>;
      sent.push(promise);
      return promise;
    };
    // Which connection carries the transaction, for connectionClosed(): the
    // driver (postgres 3.4.9, pinned) hands it to a query's `onexecute` as it
    // sends the query, as its own `sql.begin` uses; true keeps pipelining as
    // without it.
    const batch = ++this.#batchNumber;
    carrier.batch = batch;
    // The driver sets a query's `state` to its connection's backend (process
    // id and key) as it sends it, before `onexecute`.
    const begin: Promise<unknown> & { state?: { pid?: number | null } } = query("BEGIN", [], {
      onexecute: (connection: { id: number }) => {
        carrier.connection = connection.id;
        carrier.pid = begin.state?.pid ?? null;
        carrier.sentAt = performance.now();
        return true;
      },
    });
    if (groups.some(([kind]) => kind.checked)) {
      query(`SELECT pg_advisory_xact_lock(${CAPACITY_LOCK})`, []);
    }
    const ctx: BatchContext = {
      batch,
      query,
      newWork: () => effects.newWork = true,
      finished: (ids) => effects.finished.push(...ids),
    };
    const applied = groups.map(([kind, group]) => kind.apply(ctx, group.map((q) => q.args)));
    const commit = query<never>(COMMIT, [], { prepare: false }) as Promise<unknown> as Promise<
      { command: string }
    >;
    const [results, statements] = await Promise.all([
      Promise.allSettled(applied),
      Promise.allSettled(sent),
    ]);
    const failures = [...statements, ...results].flatMap((s) =>
      s.status === "rejected" ? [s.reason] : []
    );
    const lost = failures.find(isConnectionError);
    if (lost !== undefined) throw lost;
    const committed = await commit.then((r) => r.command === "COMMIT", () => false);
    if (!committed) {
      return { aborted: failures[0] ?? new Error("the transaction was rolled back"), results };
    }
    return { aborted: null, results };
  }
}

/** The driver's connection a transaction went on (its `id`), once it was sent. */
interface Carrier {
  connection: number | null;
  /** Its backend's process id, once sent (for a commit whose answer was lost). */
  pid: number | null;
  /** When it was sent (`performance.now()`). */
  sentAt: number;
  /** The transaction's number ({@linkcode BatchContext.batch}). */
  batch: number;
}

/** Answers a write with its result: an `Error` is its own failure. */
function settle(queued: Queued, value: unknown): void {
  if (value instanceof Error) {
    queued.reject(new Error(`Cannot ${queued.kind.name}: ${value.message}`, { cause: value }));
  } else {
    queued.resolve(value);
  }
}

function groupByKind(batch: Queued[]): [WriteKind<unknown, unknown>, Queued[]][] {
  const groups = new Map<WriteKind<unknown, unknown>, Queued[]>();
  for (const queued of batch) {
    const group = groups.get(queued.kind);
    if (group === undefined) groups.set(queued.kind, [queued]);
    else group.push(queued);
  }
  return [...groups];
}
