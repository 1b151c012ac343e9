/**
 * The processor pool: `size` Web Workers, each running one job at a time,
 * jobs dispatched first-in first-out. A worker that throws, dies or stalls
 * is replaced at the same number, and its job is rejected with
 * {@linkcode WorkerCrashError} so the caller can retry it.
 *
 * @module
 */

import type { FromProcessor, Job, ToProcessor } from "./processor_messages.ts";
import type { Logger } from "../server/log.ts";

/** Options of {@linkcode WorkerPool.start}. */
export interface WorkerPoolOptions {
  /** How many workers. */
  size: number;
  /** The worker module. @default {processor_worker.ts beside this file} */
  moduleUrl?: URL | string;
  /** Time a job may run beyond its own simulated delay before its worker counts as hung. @default 30000 */
  stallMs?: number;
  /** Where worker crashes are logged. */
  logger?: Logger;
}

/** Options of {@linkcode WorkerPool.submit}. */
export interface SubmitOptions {
  /** Put the job at the head of the queue (a retry keeps its place). @default false */
  front?: boolean;
  /** Called when a worker takes the job, with the worker's number (1-based). */
  onStart?: (worker: number) => void;
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
  onStart: ((worker: number) => void) | undefined;
  resolve: (result: Result) => void;
  reject: (error: Error) => void;
}

interface Slot {
  readonly number: number;
  worker: Worker;
  entry: Entry | null;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const DEFAULT_MODULE = new URL("./processor_worker.ts", import.meta.url);

/** A pool of processor workers. Dispose it to terminate them. */
export class WorkerPool implements AsyncDisposable {
  readonly #moduleUrl: URL | string;
  readonly #stallMs: number;
  readonly #logger: Logger | undefined;
  readonly #slots: Slot[] = [];
  readonly #idle: Slot[] = [];
  readonly #queue: Entry[] = [];
  #nextId = 1;
  #stopped = false;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  #crashes = 0;
  /** Crashes in a row per worker number, for the respawn backoff. */
  readonly #streak = new Map<number, number>();
  /** Respawns waiting out their backoff. */
  readonly #respawns = new Set<ReturnType<typeof setTimeout>>();

  private constructor(options: WorkerPoolOptions) {
    this.#moduleUrl = options.moduleUrl ?? DEFAULT_MODULE;
    this.#stallMs = options.stallMs ?? 30_000;
    this.#logger = options.logger;
  }

  /** Starts the workers and waits until each is ready. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    if (!Number.isSafeInteger(options.size) || options.size < 1) {
      throw new RangeError(`Cannot start pool: size must be 1 or more, got ${options.size}`);
    }
    const pool = new WorkerPool(options);
    try {
      await Promise.all(
        Array.from({ length: options.size }, (_, i) => pool.#spawn(i + 1)),
      );
    } catch (error) {
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
  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }
  /** Jobs being run now. */
  get running(): number {
    return this.#slots.filter((slot) => slot.entry !== null).length;
  }
  /** Workers replaced since start. */
  get crashes(): number {
    return this.#crashes;
  }

  /** Queues a job; resolves with its result when a worker has run it. */
  submit(job: Job, options: SubmitOptions = {}): Promise<Result> {
    if (this.#stopped) return Promise.reject(new PoolClosedError());
    const { promise, resolve, reject } = Promise.withResolvers<Result>();
    const entry: Entry = { id: this.#nextId++, job, onStart: options.onStart, resolve, reject };
    if (options.front) this.#queue.unshift(entry);
    else this.#queue.push(entry);
    this.#dispatch();
    return promise;
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
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      slot.worker.terminate();
      const entry = slot.entry;
      slot.entry = null;
      entry?.reject(new PoolClosedError());
    }
    this.#wakeIdleWaiters();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #spawn(number: number): Promise<void> {
    const worker = new Worker(this.#moduleUrl, { type: "module", name: `processor-${number}` });
    const slot: Slot = { number, worker, entry: null, timer: undefined };
    this.#slots[number - 1] = slot;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    let ready = false;
    worker.onmessage = (event: MessageEvent<FromProcessor>) => {
      const message = event.data;
      if (message.type === "ready") {
        ready = true;
        resolve();
      } else this.#onResult(slot, message);
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      if (!ready) reject(new Error(`Cannot start worker ${number}: ${event.message}`));
      else this.#crash(slot, event.message || "uncaught error");
    };
    worker.onmessageerror = () => this.#crash(slot, "unreadable message");
    worker.postMessage({ type: "init", worker: number } satisfies ToProcessor);
    return promise;
  }

  #onResult(slot: Slot, message: FromProcessor): void {
    const entry = slot.entry;
    if (!entry || message.type === "ready" || message.jobId !== entry.id) return;
    clearTimeout(slot.timer);
    slot.entry = null;
    this.#streak.delete(slot.number);
    if (message.type === "done") entry.resolve(message.result);
    else entry.reject(new WorkerCrashError(slot.number, message.message));
    this.#release(slot);
  }

  #crash(slot: Slot, reason: string): void {
    if (this.#closed || this.#slots[slot.number - 1] !== slot) return;
    this.#crashes++;
    clearTimeout(slot.timer);
    slot.worker.terminate();
    const entry = slot.entry;
    slot.entry = null;
    const idleAt = this.#idle.indexOf(slot);
    if (idleAt >= 0) this.#idle.splice(idleAt, 1);
    this.#logger?.warn("worker.crash", { worker: slot.number, reason });
    entry?.reject(new WorkerCrashError(slot.number, reason));
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
    this.#dispatch();
    if (this.running === 0) this.#wakeIdleWaiters();
  }

  #wakeIdleWaiters(): void {
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  #dispatch(): void {
    while (!this.#stopped && this.#idle.length > 0 && this.#queue.length > 0) {
      const slot = this.#idle.shift()!;
      const entry = this.#queue.shift()!;
      slot.entry = entry;
      const allowed = (entry.job.kind === "order" ? entry.job.delayMs : 0) + this.#stallMs;
      slot.timer = setTimeout(() => this.#crash(slot, `no answer in ${allowed} ms`), allowed);
      slot.worker.postMessage(
        { type: "run", jobId: entry.id, job: entry.job } satisfies ToProcessor,
      );
      try {
        entry.onStart?.(slot.number);
      } catch (error) {
        this.#logger?.error("pool.on_start_failed", { error: String(error) });
      }
    }
  }
}
