/**
 * A {@linkcode ProcessorPool} that runs jobs on the main thread: `size`
 * slots, first in first out, the same `processJob` the processor workers
 * run. It needs no permission (a Web Worker's module must be read from
 * disk), so tests that run the daemon with nothing but `--allow-net` use
 * it. It cannot load a processor module; simulated orders and tasks only.
 *
 * @module
 */

import type { Job } from "../../workers/processor_messages.ts";
import { processJob } from "../../workers/process_job.ts";
import type { JobResult, ProcessorPool } from "./processor_pool.ts";
import {
  PoolClosedError,
  StartNotRecordedError,
  type SubmitOptions,
  WorkerCrashError,
} from "./worker_pool.ts";

interface Entry {
  job: Job;
  options: SubmitOptions;
  resolve: (result: JobResult) => void;
  reject: (error: unknown) => void;
}

/** A job on a slot: closing the pool aborts its wait and rejects it at once. */
interface Running {
  entry: Entry;
  stop: AbortController;
}

/** Processors on the main thread. */
export class InlinePool implements ProcessorPool {
  readonly size: number;
  readonly #queue: Entry[] = [];
  /** Free slot numbers (1-based), lowest first. */
  readonly #free: number[];
  readonly #running = new Set<Running>();
  #stopped = false;
  readonly #idle = new Set<() => void>();

  /**
   * @param size How many jobs run at once.
   * @throws {RangeError} When `size` is not a whole number of 1 or more.
   */
  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`Cannot start pool: size must be 1 or more, got ${size}`);
    }
    this.size = size;
    this.#free = Array.from({ length: size }, (_, i) => i + 1);
  }

  get running(): number {
    return this.#running.size;
  }

  /** Always 0: nothing here can crash apart from the daemon itself. */
  get crashes(): number {
    return 0;
  }

  submit(job: Job, options: SubmitOptions = {}): Promise<JobResult> {
    if (this.#stopped) return Promise.reject(new PoolClosedError());
    if (job.kind === "process") {
      return Promise.reject(new Error("Cannot run a processor module on the inline pool"));
    }
    const { promise, resolve, reject } = Promise.withResolvers<JobResult>();
    const entry: Entry = { job, options, resolve, reject };
    if (options.front) this.#queue.unshift(entry);
    else this.#queue.push(entry);
    queueMicrotask(() => this.#dispatch());
    return promise;
  }

  withdraw(job: Job, reason: unknown): boolean {
    const at = this.#queue.findIndex((entry) => entry.job === job);
    if (at < 0) return false;
    const [entry] = this.#queue.splice(at, 1);
    entry!.reject(reason);
    return true;
  }

  abort(job: Job, reason: Error): boolean {
    if (this.withdraw(job, reason)) return true;
    for (const running of this.#running) {
      if (running.entry.job !== job) continue;
      running.stop.abort(reason);
      return true;
    }
    return false;
  }

  async stop(signal?: AbortSignal): Promise<void> {
    this.#stopped = true;
    for (const entry of this.#queue.splice(0)) entry.reject(new PoolClosedError());
    while (this.#running.size > 0 && !signal?.aborted) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#idle.add(resolve);
      signal?.addEventListener("abort", () => resolve(), { once: true });
      await promise;
      this.#idle.delete(resolve);
    }
  }

  /** Rejects queued and running jobs with `PoolClosedError`; running waits are cut short. */
  close(): Promise<void> {
    this.#stopped = true;
    for (const entry of this.#queue.splice(0)) entry.reject(new PoolClosedError());
    for (const running of this.#running) running.stop.abort(new PoolClosedError());
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #dispatch(): void {
    while (!this.#stopped && this.#free.length > 0 && this.#queue.length > 0) {
      const entry = this.#queue.shift()!;
      const slot = this.#free.shift()!;
      const running: Running = { entry, stop: new AbortController() };
      this.#running.add(running);
      const gate = entry.options.onStart?.(slot);
      let startedAt = Date.now();
      const run = () => {
        // Cut short while held back: it never runs.
        if (running.stop.signal.aborted) return Promise.reject(running.stop.signal.reason);
        startedAt = Date.now();
        return processJob(entry.job, { signal: running.stop.signal });
      };
      // Held back until what onStart returned settles (the start being written);
      // not run when it could not be written (false).
      const notStarted = () => Promise.reject(new StartNotRecordedError());
      (gate instanceof Promise
        ? gate.then((written) => (written === false ? notStarted() : run()), run)
        : run()).then(
          (result) => this.#done(slot, running, startedAt, () => entry.resolve(result)),
          (error) =>
            this.#done(slot, running, startedAt, () =>
              // Cut short (closed, aborted): the reason it was given.
              entry.reject(
                running.stop.signal.aborted
                  ? running.stop.signal.reason
                  : error instanceof StartNotRecordedError
                  ? error
                  : new WorkerCrashError(slot, String(error)),
              )),
        );
    }
  }

  #done(slot: number, running: Running, startedAt: number, settle: () => void): void {
    if (!running.stop.signal.aborted) {
      running.entry.options.onRan?.({ worker: slot, startedAt, endedAt: Date.now() });
    }
    settle();
    this.#running.delete(running);
    this.#free.push(slot);
    this.#free.sort((a, b) => a - b);
    if (this.#running.size === 0) { for (const wake of this.#idle) wake(); }
    queueMicrotask(() => this.#dispatch());
  }
}
