/**
 * What the scheduler and TASK need of a processor pool: run a job, first in
 * first out, on one of `size` processors, one job per processor at a time.
 * {@linkcode WorkerPool} runs jobs on Web Workers (the daemon's pool);
 * {@linkcode InlinePool} runs them on the main thread (tests that run with
 * nothing but `--allow-net`, which cannot load worker modules).
 *
 * @module
 */

import type { Job } from "../../workers/processor_messages.ts";

/** Options of {@linkcode ProcessorPool.submit}. */
export interface SubmitOptions {
  /** Put the job at the head of the queue (a retry keeps its place). @default false */
  front?: boolean;
  /**
   * Called when a worker takes the job, with the worker's number (1-based);
   * of jobs sent in a run, only for the first (the others are told by
   * `onRan`, when they have run). A promise it returns for a job run alone
   * holds the job back until it settles: the attempt's start is written
   * before a processor module may act on it.
   */
  onStart?: (worker: number) => unknown;
  /**
   * Called before the job resolves or rejects, when its worker reported when
   * it ran: jobs sent in a run (orders that take no processing time).
   */
  onRan?: (run: JobRun) => void;
}

/** When a worker ran one job: its own clock, ms since the epoch. */
export interface JobRun {
  /** The worker's number (1-based). */
  worker: number;
  startedAt: number;
  endedAt: number;
}

/** A job's result: a task's value, a processor module's `resultado` as JSON text, or null. */
export type JobResult = number | string | null;

/** A pool of processors. */
export interface ProcessorPool extends AsyncDisposable {
  /** How many processors. */
  readonly size: number;
  /** Jobs being run now. */
  readonly running: number;
  /** Processors replaced since start. */
  readonly crashes: number;
  /** Queues a job; resolves with its result when a processor has run it. */
  submit(job: Job, options?: SubmitOptions): Promise<JobResult>;
  /**
   * Takes `job` (the very object submitted) back while it is still queued:
   * its promise rejects with `reason`. A job a processor has taken stays.
   *
   * @returns whether it was withdrawn.
   */
  withdraw(job: Job, reason: unknown): boolean;
  /**
   * Takes `job` back, queued or running: its promise rejects with `reason`.
   * A running job's signal fires, and a processor that has not stopped
   * within the pool's abort grace is replaced.
   *
   * @returns whether it was queued or running here.
   */
  abort(job: Job, reason: Error): boolean;
  /**
   * Stops taking jobs: queued ones reject with `PoolClosedError`, running
   * ones go on. Resolves when none runs or when `signal` aborts.
   */
  stop(signal?: AbortSignal): Promise<void>;
  /** Ends every processor; running jobs reject. Idempotent. */
  close(): Promise<void>;
}
