/**
 * The processor pool: `size` Web Workers, each running one job at a time,
 * jobs dispatched first-in first-out. A worker that throws, dies or stalls
 * is replaced at the same number, and its job is rejected with
 * {@linkcode WorkerCrashError} so the caller can retry it.
 *
 * **Runs.** Orders that take no processing time (`delayMs` 0) are sent as a
 * run: every such job queued together at the head of the queue (up to
 * {@linkcode MAX_RUN}) goes to one worker in one message, which processes
 * them one after the other and answers once, with each job's own start and
 * end. So one message, not one per order, crosses to the worker and back.
 * While a run is out, the jobs behind it wait for it (up to
 * {@linkcode RUN_OVERLAP_MS}, in case its worker is slow or stuck), so they
 * all start after every order of the run ended: first-in first-out holds in
 * the recorded times too. Jobs that take time (and
 * tasks) go one per message, as before.
 *
 * Dispatching waits for the end of the current microtask run, so that jobs
 * queued together (one group commit's orders) form one run.
 *
 * **Processor modules** (§11). With `processor`, every worker loads the
 * module before it is ready (a module that cannot load fails
 * {@linkcode WorkerPool.start}). A `process` job that fails rejects with
 * {@linkcode ProcessorError} (the module's message); one still running after
 * its `timeoutMs` is aborted (the worker fires its signal) and rejects with
 * {@linkcode ProcessTimeoutError}; if its worker has not answered
 * `abortGraceMs` later, the worker is replaced.
 *
 * @module
 */

import {
  type FromProcessor,
  isFromProcessor,
  type Job,
  type JobOutcome,
  type ToProcessor,
} from "../../workers/processor_messages.ts";
import {
  describeError,
  encodeResult,
  type ProcessorSource,
} from "../../workers/processor_module.ts";
import { runsInBatch } from "../../workers/process_job.ts";
import { setImmediate } from "node:timers";
import type { Logger } from "../log.ts";
import type { JobRun, ProcessorPool, SubmitOptions } from "./processor_pool.ts";

export type { JobRun, SubmitOptions };

/** Options of {@linkcode WorkerPool.start}. */
export interface WorkerPoolOptions {
  /** How many workers. */
  size: number;
  /** The worker module. @default {workers/processor_worker.ts} */
  moduleUrl?: URL | string;
  /** Time a job may run beyond its own simulated delay before its worker counts as hung. @default 30000 */
  stallMs?: number;
  /** Where worker crashes are logged. */
  logger?: Logger;
  /** The processor module every worker loads (§11). @default {none} */
  processor?: ProcessorSource;
  /**
   * How long a worker has to stop a `process` job once its time is up,
   * before the worker is replaced.
   *
   * @default 1000
   */
  abortGraceMs?: number;
  /**
   * How long a worker has to load (its processor module included) before it
   * is given up: a module whose top-level `await` never settles fails the
   * start, naming the module, rather than leaving the daemon waiting. Each
   * worker's time counts from when it begins to load, not from the start of
   * the pool (see `startConcurrency`).
   *
   * @default 30000
   */
  loadTimeoutMs?: number;
  /**
   * How many workers load at once at the start. Loading is mostly CPU
   * (an isolate, the module graph compiled), so a thousand begun together
   * share the cores and none is ready within its time (1024 on 2 cores:
   * none in 30 s, though one after the other they all are in about 26 s).
   *
   * @default {navigator.hardwareConcurrency, at least 2}
   */
  startConcurrency?: number;
}

/** A job's worker threw, died or hung. */
export class WorkerCrashError extends Error {
  /** The worker's number (1-based). */
  readonly worker: number;
  constructor(worker: number, message: string) {
    super(`Worker ${worker} failed: ${message}`);
    this.name = "WorkerCrashError";
    this.worker = worker;
  }
}

/** A processor module failed an attempt: threw, rejected, or returned what cannot be stored. */
export class ProcessorError extends Error {
  /** @param message The module's message, as stored in `detalle_error`. */
  constructor(message: string) {
    super(message);
    this.name = "ProcessorError";
  }
}

/** A processor module's attempt ran out of time (`--process-timeout-ms`). */
export class ProcessTimeoutError extends ProcessorError {
  /**
   * @param timeoutMs The time it had.
   * @param stray An error its module threw meanwhile outside the attempt's
   * own calls (maybe in a callback the attempt waited on), if any.
   */
  constructor(timeoutMs: number, stray: string | null = null) {
    super(
      `Timed out after ${timeoutMs} ms (--process-timeout-ms)` +
        (stray === null ? "" : `; meanwhile the module threw outside it: ${stray.slice(0, 1800)}`),
    );
    this.name = "ProcessTimeoutError";
  }
}

/**
 * A processor module's attempt ran out of time and its worker never got to
 * the abort: a loop that does not yield. Its thread cannot be stopped
 * (Deno's `Worker.terminate()` does not interrupt it) and keeps a core busy
 * until its loop ends, or the daemon restarts. The attempt is tried again
 * as any failed one (§11) while such threads number at most the pool's
 * workers ({@linkcode RunawayAttemptError.retryable}); past that, each
 * attempt would leave one more core spinning, and the order ends `error`.
 */
export class RunawayAttemptError extends ProcessTimeoutError {
  /** Whether the attempt may be tried again: the threads left running so far are few enough. */
  readonly retryable: boolean;

  /**
   * @param timeoutMs The time it had.
   * @param graceMs How long it then had to stop.
   * @param runaways Threads left running by such attempts since the daemon started, this one too.
   * @param size The pool's workers: the most such threads for which an attempt is tried again.
   */
  constructor(timeoutMs: number, graceMs: number, runaways: number, size: number) {
    super(timeoutMs);
    this.retryable = runaways <= size;
    this.message += `, and did not stop ${graceMs} ms after it was aborted: the module loops ` +
      "without yielding, and its thread cannot be stopped (it runs until its loop ends, or the " +
      "daemon restarts)" +
      (this.retryable ? "" : `; not tried again: ${runaways} attempts have left such threads ` +
        `since the daemon started, more than its ${size} workers`);
    this.name = "RunawayAttemptError";
  }
}

/**
 * The job was not run: its `onStart` resolved `false`, its start could not
 * be written (a full or read-only disk). Its attempt does not count; the
 * caller puts it back.
 */
export class StartNotRecordedError extends Error {
  constructor() {
    super("Not run: its start could not be written");
    this.name = "StartNotRecordedError";
  }
}

/** The pool stopped before the job ran. */
export class PoolClosedError extends Error {
  constructor() {
    super("Cannot run job: the pool is stopped");
    this.name = "PoolClosedError";
  }
}

type Result = number | string | null;

interface Entry {
  id: number;
  job: Job;
  onStart: ((worker: number) => unknown) | undefined;
  onRan: ((run: JobRun) => void) | undefined;
  resolve: (result: Result) => void;
  reject: (error: Error) => void;
  /**
   * Never sent in a run again: it was in one whose worker died before the
   * jobs behind the first were known to run. Alone, a job that kills its
   * worker is found out, and no other is charged for it.
   */
  alone?: boolean;
}

interface Slot {
  readonly number: number;
  worker: Worker;
  /** The jobs sent to it and not answered: none, one, or a run. */
  entries: Entry[];
  /** Whether `entries` went as a run (`runMany`). */
  run: boolean;
  /**
   * The job given to it and held back, not sent yet, until what its
   * `onStart` returned settles (its start being written); else null.
   */
  held: Entry | null;
  /** `performance.now()` when `entries` were sent. */
  since: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Set when its job ran out of time or was aborted: what the job rejects with. */
  timedOut: Error | null;
  /** Whether it said it read the `abort` of its timed-out job (its thread was free). */
  abortSeen: boolean;
  /**
   * Its module's stray errors: when the last was logged, and how many since
   * (one line a second); the last one thrown while a job ran, by job id.
   */
  strays: { loggedAt: number; since: number; during: { jobId: number; message: string } | null };
  /** When a message not of the worker's was last logged, and how many came since. */
  unexpected: { loggedAt: number; since: number };
}

const DEFAULT_MODULE = new URL("../../workers/processor_worker.ts", import.meta.url);

/** Most jobs sent in one run. */
export const MAX_RUN = 256;
/** How long a run out holds back the next jobs before they go to another worker anyway. */
export const RUN_OVERLAP_MS = 100;

/** A pool of processor workers. Dispose it to terminate them. */
export class WorkerPool implements ProcessorPool {
  readonly #moduleUrl: URL | string;
  readonly #stallMs: number;
  readonly #logger: Logger | undefined;
  readonly #processor: ProcessorSource | undefined;
  readonly #abortGraceMs: number;
  readonly #loadTimeoutMs: number;
  /** The load deadlines of workers starting. */
  readonly #loading = new Set<ReturnType<typeof setTimeout>>();
  readonly #slots: Slot[] = [];
  readonly #idle: Slot[] = [];
  readonly #queue: Entry[] = [];
  #nextId = 1;
  #stopped = false;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  /** The worker holding the run out now, if any. */
  #runOut: Slot | null = null;
  #dispatchQueued = false;
  /** Jobs dispatched this turn, posted at the next (see {@linkcode WorkerPool.#post}). */
  readonly #posts: { worker: Worker; message: ToProcessor }[] = [];
  /** Set while jobs wait for the run out, to try again once it is late. */
  #overlapTimer: ReturnType<typeof setTimeout> | undefined;
  #crashes = 0;
  /** Workers replaced while looping without yielding (their threads still run). */
  #runaways = 0;
  /** Crashes in a row per worker number, for the respawn backoff. */
  readonly #streak = new Map<number, number>();
  /** Respawns waiting out their backoff. */
  readonly #respawns = new Set<ReturnType<typeof setTimeout>>();

  private constructor(options: WorkerPoolOptions) {
    this.#moduleUrl = options.moduleUrl ?? DEFAULT_MODULE;
    this.#stallMs = options.stallMs ?? 30_000;
    this.#logger = options.logger;
    this.#processor = options.processor;
    this.#abortGraceMs = options.abortGraceMs ?? 1000;
    this.#loadTimeoutMs = options.loadTimeoutMs ?? 30_000;
  }

  /** Starts the workers and waits until each is ready. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    if (!Number.isSafeInteger(options.size) || options.size < 1) {
      throw new RangeError(`Cannot start pool: size must be 1 or more, got ${options.size}`);
    }
    const pool = new WorkerPool(options);
    const lanes = Math.min(
      options.size,
      Math.max(1, options.startConcurrency ?? Math.max(2, navigator.hardwareConcurrency || 2)),
    );
    let next = 1;
    let failed = false;
    /** Loads workers one after the other, while any is left and none failed. */
    const lane = async () => {
      while (next <= options.size && !failed) await pool.#spawn(next++);
    };
    try {
      await Promise.all(Array.from({ length: lanes }, lane));
    } catch (error) {
      failed = true;
      await pool.close();
      throw error;
    }
    for (const slot of pool.#slots) pool.#idle.push(slot);
    return pool;
  }

  /** Number of workers. */
  get size(): number {
    return this.#slots.length;
  }
  /** Jobs being run now (every job of a run out counts). */
  get running(): number {
    let running = 0;
    for (const slot of this.#slots) if (slot) running += slot.entries.length;
    return running;
  }

  /** Workers replaced since start. */
  get crashes(): number {
    return this.#crashes;
  }

  /** Queues a job; resolves with its result when a worker has run it. */
  submit(job: Job, options: SubmitOptions = {}): Promise<Result> {
    if (this.#stopped) return Promise.reject(new PoolClosedError());
    const { promise, resolve, reject } = Promise.withResolvers<Result>();
    const entry: Entry = {
      id: this.#nextId++,
      job,
      onStart: options.onStart,
      onRan: options.onRan,
      resolve,
      reject,
    };
    if (options.front) this.#queue.unshift(entry);
    else this.#queue.push(entry);
    this.#dispatchSoon();
    return promise;
  }

  /** {@inheritDoc ProcessorPool.withdraw} */
  withdraw(job: Job, reason: unknown): boolean {
    const at = this.#queue.findIndex((entry) => entry.job === job);
    if (at < 0) return false; // a worker has it, or it never was here
    const [entry] = this.#queue.splice(at, 1);
    entry!.reject(reason as Error);
    return true;
  }

  /** {@inheritDoc ProcessorPool.abort} */
  abort(job: Job, reason: Error): boolean {
    if (this.withdraw(job, reason)) return true;
    // A run (jobs that take no time) is not cut: it ends at once anyway.
    const slot = this.#slots.find((s) => !s.run && s.entries[0]?.job === job);
    if (slot === undefined) return false;
    if (slot.timedOut === null) this.#abortRunning(slot, slot.entries[0]!.id, reason);
    return true;
  }

  /**
   * Stops dispatching: queued jobs are rejected with {@linkcode PoolClosedError}
   * (in queue order) and running ones go on. Resolves when no job runs or
   * when `signal` aborts.
   */
  async stop(signal?: AbortSignal): Promise<void> {
    this.#stopped = true;
    for (const entry of this.#queue.splice(0)) entry.reject(new PoolClosedError());
    while (this.running > 0 && !signal?.aborted) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#idleWaiters.push(resolve);
      const onAbort = () => resolve();
      signal?.addEventListener("abort", onAbort, { once: true });
      await promise;
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Terminates every worker; running jobs are rejected. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#stopped = true;
    for (const entry of this.#queue.splice(0)) entry.reject(new PoolClosedError());
    for (const timer of this.#respawns) clearTimeout(timer);
    this.#respawns.clear();
    for (const timer of this.#loading) clearTimeout(timer);
    this.#loading.clear();
    this.#runOut = null;
    clearTimeout(this.#overlapTimer);
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      slot.worker.terminate();
      for (const entry of slot.entries.splice(0)) entry.reject(new PoolClosedError());
    }
    this.#wakeIdleWaiters();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #spawn(number: number): Promise<void> {
    const worker = new Worker(this.#moduleUrl, { type: "module", name: `processor-${number}` });
    const slot: Slot = {
      number,
      worker,
      entries: [],
      run: false,
      held: null,
      since: 0,
      timer: undefined,
      timedOut: null,
      abortSeen: false,
      strays: { loggedAt: -Infinity, since: 0, during: null },
      unexpected: { loggedAt: -Infinity, since: 0 },
    };
    this.#slots[number - 1] = slot;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    let ready = false;
    // Told only to the worker: a processor module's top level, which runs while
    // the worker loads, may post a `ready` or an `init_failed` of its own.
    const key = crypto.randomUUID();
    /**
     * Whether a handshake message is the worker's. Without a processor module
     * only the worker's own code runs there (tests' fake workers need not echo
     * the key).
     */
    const own = (message: { key?: string }) =>
      message.key === key || (this.#processor === undefined && message.key === undefined);
    const loading = setTimeout(() => {
      worker.terminate();
      const ms = this.#loadTimeoutMs;
      reject(
        new Error(
          this.#processor
            ? `Cannot load processor module "${this.#processor.path}": it did not finish loading within ${ms} ms (a top-level await that never settles?)`
            : `Cannot start worker ${number}: not ready within ${ms} ms`,
        ),
      );
    }, this.#loadTimeoutMs);
    this.#loading.add(loading);
    const loaded = () => {
      clearTimeout(loading);
      this.#loading.delete(loading);
    };
    promise.then(loaded, loaded);
    worker.onmessage = (event: MessageEvent<unknown>) => {
      const message = event.data;
      if (!isFromProcessor(message)) {
        // A processor module's own `self.postMessage`: not the worker's to answer.
        this.#unexpected(slot, message);
        return;
      }
      // The handshake's messages count only before the worker is ready: after,
      // they can only be its module's own (posted in the worker's form).
      if (message.type === "ready" && !ready && own(message)) {
        ready = true;
        resolve();
      } else if (message.type === "init_failed" && !ready && own(message)) {
        worker.terminate();
        reject(new Error(message.message));
      } else if (message.type === "ready" || message.type === "init_failed") {
        this.#unexpected(slot, message);
      } else this.#onResult(slot, message);
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      if (!ready) reject(new Error(`Cannot start worker ${number}: ${event.message}`));
      else this.#crash(slot, event.message || "uncaught error");
    };
    worker.onmessageerror = () => this.#crash(slot, "unreadable message");
    worker.postMessage(
      {
        type: "init",
        worker: number,
        key,
        ...(this.#processor ? { processor: this.#processor } : {}),
      } satisfies ToProcessor,
    );
    return promise;
  }

  /** A message that is not one of the worker's: logged (once a second at most), ignored. */
  #unexpected(slot: Slot, message: unknown): void {
    const now = performance.now();
    const seen = slot.unexpected;
    if (now - seen.loggedAt < 1000) {
      seen.since++;
      return;
    }
    const more = seen.since;
    seen.loggedAt = now;
    seen.since = 0;
    let shown: string;
    try {
      shown = String(JSON.stringify(message) ?? message).slice(0, 200);
    } catch {
      shown = Object.prototype.toString.call(message);
    }
    this.#logger?.warn("worker.unexpected_message", {
      worker: slot.number,
      message: shown,
      ...(more > 0 ? { more_since_last_line: more } : {}),
    });
  }

  #onResult(slot: Slot, message: FromProcessor): void {
    if (message.type === "aborting") {
      if (slot.entries[0]?.id === message.jobId) slot.abortSeen = true;
      return;
    }
    if (message.type === "stray") {
      const running = slot.entries[0];
      if (running !== undefined) {
        slot.strays.during = { jobId: running.id, message: message.message };
      }
      // A module that throws from a timer every millisecond writes one line a second.
      const now = performance.now();
      if (now - slot.strays.loggedAt < 1000) {
        slot.strays.since++;
        return;
      }
      const more = slot.strays.since;
      slot.strays.loggedAt = now;
      slot.strays.since = 0;
      this.#logger?.warn("worker.stray_error", {
        worker: slot.number,
        error: message.message,
        ...(more > 0 ? { more_since_last_line: more } : {}),
      });
      return;
    }
    const entries = slot.entries;
    if (entries.length === 0 || message.type === "ready" || message.type === "init_failed") return;
    if (message.type === "ranMany") {
      if (!slot.run || !sameJobs(entries, message.outcomes)) return;
    } else if (slot.run || message.jobId !== entries[0]!.id) return;
    clearTimeout(slot.timer);
    slot.entries = [];
    if (this.#runOut === slot) this.#runOut = null;
    this.#streak.delete(slot.number);
    const timedOut = slot.timedOut;
    slot.timedOut = null;
    if (timedOut !== null) {
      // It stopped when its signal fired: the attempt failed all the same.
      entries[0]!.reject(timedOut);
      this.#release(slot);
      return;
    }
    switch (message.type) {
      case "done": {
        const entry = entries[0]!;
        if (entry.job.kind !== "process") {
          entry.resolve(message.result);
          break;
        }
        // What is stored, checked here and not only in the worker: the module
        // runs there too, and may have changed `JSON` or posted a `done` itself.
        let result: string | null;
        try {
          result = checkedResult(message.result);
        } catch (error) {
          entry.reject(new ProcessorError(describeError(error)));
          break;
        }
        if (message.changed !== undefined) {
          // Stored as JSON writes it (§11), yet likely not what its author meant.
          this.#logger?.repeated("warn", "processor.result_changed", {
            id: entry.job.pedido.id,
            what: message.changed,
          });
        }
        entry.resolve(result);
        break;
      }
      case "failed":
        entries[0]!.reject(
          entries[0]!.job.kind === "process"
            ? new ProcessorError(describeError(message.message))
            : new WorkerCrashError(slot.number, message.message),
        );
        break;
      case "ranMany":
        message.outcomes.forEach((outcome, i) => {
          const entry = entries[i]!;
          const { startedAt, endedAt } = outcome;
          try {
            entry.onRan?.({ worker: slot.number, startedAt, endedAt });
          } catch (error) {
            this.#logger?.error("pool.on_ran_failed", { error: String(error) });
          }
          if (outcome.ok) entry.resolve(outcome.result);
          else entry.reject(new WorkerCrashError(slot.number, outcome.message));
        });
        break;
    }
    this.#release(slot);
  }

  #crash(slot: Slot, reason: string): void {
    if (this.#closed || this.#slots[slot.number - 1] !== slot) return;
    this.#crashes++;
    clearTimeout(slot.timer);
    slot.worker.terminate();
    const entries = slot.entries;
    slot.entries = [];
    const timedOut = slot.timedOut;
    slot.timedOut = null;
    if (this.#runOut === slot) this.#runOut = null;
    const idleAt = this.#idle.indexOf(slot);
    if (idleAt >= 0) this.#idle.splice(idleAt, 1);
    this.#logger?.warn("worker.crash", { worker: slot.number, reason });
    // Of a run only the first job was started; the others, not known to
    // have run, go back to the head of the queue, in their order, each to
    // run alone. Only the first is charged with the crash (its attempt).
    const notStarted = slot.run ? entries.splice(1) : [];
    for (const entry of notStarted) entry.alone = true;
    this.#queue.unshift(...notStarted);
    // Last job first: a caller that retries each at the head of the queue
    // (`front`) then puts the run back in its own order.
    for (let i = entries.length - 1; i >= 0; i--) {
      entries[i]!.reject(timedOut ?? new WorkerCrashError(slot.number, reason));
    }
    // A worker that keeps dying waits longer and longer before each respawn.
    const streak = (this.#streak.get(slot.number) ?? 0) + 1;
    this.#streak.set(slot.number, streak);
    const delay = streak === 1 ? 0 : Math.min(2000, 50 * 2 ** streak);
    const respawn = () => {
      if (this.#closed) return;
      this.#spawn(slot.number).then(
        () => this.#release(this.#slots[slot.number - 1]!),
        (error) => {
          this.#logger?.error("worker.respawn_failed", {
            worker: slot.number,
            error: String(error),
          });
          if (!this.#closed) this.#later(respawn, 1000);
        },
      );
    };
    if (delay) this.#later(respawn, delay);
    else respawn();
    this.#wakeIdleWaiters();
  }

  /**
   * A `process` job ran out of time: its worker fires the job's signal and
   * has `abortGraceMs` to answer, else it is replaced.
   */
  #timeOut(slot: Slot, jobId: number, timeoutMs: number): void {
    if (this.#closed || slot.entries[0]?.id !== jobId) return;
    const during = slot.strays.during;
    const error = new ProcessTimeoutError(
      timeoutMs,
      during?.jobId === jobId ? during.message : null,
    );
    this.#logger?.warn("worker.attempt_timeout", { worker: slot.number, timeout_ms: timeoutMs });
    this.#abortRunning(slot, jobId, error, timeoutMs);
  }

  /**
   * Fires the signal of the job `jobId` running on `slot`, which then
   * rejects with `error`; a worker that has not answered `abortGraceMs`
   * later is replaced. `timeoutMs`: the time the job ran out of, if that is
   * why (a worker that never read the abort then names it a runaway).
   */
  #abortRunning(slot: Slot, jobId: number, error: Error, timeoutMs?: number): void {
    const held = slot.held;
    if (held !== null && slot.entries[0] === held) {
      // Never sent: the worker knows nothing of it, and is free at once.
      slot.held = null;
      slot.entries = [];
      clearTimeout(slot.timer);
      slot.timer = undefined;
      held.reject(error);
      this.#release(slot);
      return;
    }
    slot.timedOut = error;
    slot.abortSeen = false;
    // Through the same queue as jobs, so it never overtakes the job it aborts.
    this.#post(slot.worker, { type: "abort", jobId, reason: error.message });
    const grace = this.#abortGraceMs;
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      if (!slot.abortSeen) {
        // Its thread never got to the abort: a loop that does not yield. Deno's
        // Worker.terminate() does not interrupt one, so the thread goes on.
        this.#runaways++;
        if (timeoutMs !== undefined) {
          slot.timedOut = new RunawayAttemptError(timeoutMs, grace, this.#runaways, this.size);
        }
        this.#logger?.error("worker.runaway", {
          worker: slot.number,
          runaways: this.#runaways,
          advice: "its thread keeps running until its loop ends or the daemon restarts",
        });
      }
      this.#crash(slot, `did not stop ${grace} ms after its attempt was aborted`);
    }, grace);
  }

  #later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.#respawns.delete(timer);
      fn();
    }, ms);
    this.#respawns.add(timer);
  }

  #release(slot: Slot): void {
    if (this.#closed) return;
    this.#idle.push(slot);
    // Later, so that the jobs just answered can be retried at the head first.
    this.#dispatchSoon();
    if (this.running === 0) this.#wakeIdleWaiters();
  }

  #wakeIdleWaiters(): void {
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** Dispatches at the end of this microtask run, once for everything queued meanwhile. */
  #dispatchSoon(): void {
    if (this.#dispatchQueued) return;
    this.#dispatchQueued = true;
    queueMicrotask(() => {
      this.#dispatchQueued = false;
      this.#dispatch();
    });
  }

  /**
   * Posts a job at the next turn of the event loop. The job is the worker's
   * from now on (its order is `en proceso`), but waking the worker costs the
   * main thread tens of microseconds: the replies of the commit that queued
   * the job go to their sockets first.
   */
  #post(worker: Worker, message: ToProcessor): void {
    this.#posts.push({ worker, message });
    if (this.#posts.length > 1) return;
    setImmediate(() => {
      for (const { worker, message } of this.#posts.splice(0)) worker.postMessage(message);
    });
  }

  #dispatch(): void {
    while (!this.#stopped && this.#idle.length > 0 && this.#queue.length > 0) {
      if (this.#runOut !== null) {
        // Whatever comes next waits for the run out, unless its worker is slow or stuck.
        const late = performance.now() - this.#runOut.since - RUN_OVERLAP_MS;
        if (late < 0) {
          this.#overlapTimer ??= setTimeout(() => {
            this.#overlapTimer = undefined;
            this.#dispatch();
          }, Math.ceil(-late));
          return;
        }
      }
      const run = batchable(this.#queue[0]!);
      const slot = this.#idle.shift()!;
      let count = 1;
      if (run) {
        while (
          count < this.#queue.length && count < MAX_RUN && batchable(this.#queue[count]!)
        ) count++;
      }
      const entries = this.#queue.splice(0, count);
      slot.entries = entries;
      slot.run = run;
      slot.since = performance.now();
      if (run) this.#runOut = slot;
      const first = entries[0]!;
      if (first.job.kind === "process") {
        const { timeoutMs } = first.job;
        slot.timer = setTimeout(() => this.#timeOut(slot, first.id, timeoutMs), timeoutMs);
      } else {
        const allowed = (first.job.kind === "order" ? first.job.delayMs : 0) + this.#stallMs;
        slot.timer = setTimeout(() => this.#crash(slot, `no answer in ${allowed} ms`), allowed);
      }
      const message: ToProcessor = run
        ? {
          type: "runMany",
          jobs: entries.map((entry) => ({ jobId: entry.id, job: entry.job })),
        }
        : { type: "run", jobId: first.id, job: first.job };
      // A worker runs one job at a time: of a run, only the first is started
      // (`en proceso`); the others, which take no time, are told only when
      // they ran (`onRan`, with their worker), so no more orders show
      // `en proceso` than there are workers.
      let gate: unknown;
      try {
        gate = first.onStart?.(slot.number);
      } catch (error) {
        this.#logger?.error("pool.on_start_failed", { error: String(error) });
      }
      if (run || !(gate instanceof Promise)) {
        this.#post(slot.worker, message);
        continue;
      }
      // Held back until its start is written; not sent if stopped meanwhile, nor
      // when the start could not be written (onStart's promise gives false).
      slot.held = first;
      const send = () => {
        if (slot.held !== first) return;
        slot.held = null;
        if (!this.#closed && slot.entries[0] === first) this.#post(slot.worker, message);
      };
      const notStarted = () => {
        if (slot.held !== first || this.#closed) return;
        this.#abortRunning(slot, first.id, new StartNotRecordedError());
      };
      gate.then((written) => (written === false ? notStarted() : send()), send);
    }
  }
}

/** Whether `entry` may go in a run (`runMany`) with its neighbours. */
function batchable(entry: Entry): boolean {
  return runsInBatch(entry.job) && entry.alone !== true;
}

/** Whether a `ranMany` answers exactly the jobs of this run, in order. */
function sameJobs(entries: Entry[], outcomes: JobOutcome[]): boolean {
  return outcomes.length === entries.length &&
    outcomes.every((outcome, i) => outcome.jobId === entries[i]!.id);
}

/**
 * A processor module's result as a worker reported it (JSON text, or null),
 * as it may be stored: valid JSON, within the size limit, its strings
 * storable (the same {@linkcode encodeResult} as the worker's).
 *
 * @throws {Error} Why it cannot be stored; the attempt then fails.
 */
function checkedResult(result: unknown): string | null {
  if (result === null) return null;
  if (typeof result !== "string") throw new Error("The result is not JSON text");
  let value: unknown;
  try {
    value = JSON.parse(result);
  } catch {
    throw new Error("The result is not valid JSON");
  }
  return encodeResult(value);
}
