/**
 * Typed messages between the main thread and the processor workers.
 *
 * A worker gets one job (`run`, answered by `done` or `failed`) or a run of
 * orders that take no processing time (`runMany`, answered by one `ranMany`
 * that reports each job's own start and end). Either way it holds one order
 * at a time: the jobs of a run are processed one after the other.
 *
 * @module
 */

import type { Pedido, TaskSpec } from "../server/protocol/messages.ts";

/** Work for a processor: an order (simulated processing) or a small task. */
export type Job =
  | { kind: "order"; pedido: Pedido; delayMs: number }
  | { kind: "task"; task: TaskSpec };

/** One job of a `runMany`. */
export interface JobMessage {
  jobId: number;
  job: Job;
}

/**
 * How one job of a `runMany` went. Times are the worker's clock, in ms since
 * the epoch, taken right before and right after the job.
 */
export type JobOutcome =
  | { jobId: number; ok: true; result: number | string | null; startedAt: number; endedAt: number }
  | { jobId: number; ok: false; message: string; startedAt: number; endedAt: number };

/** Main thread → processor. */
export type ToProcessor =
  | { type: "init"; worker: number }
  | { type: "run"; jobId: number; job: Job }
  | { type: "runMany"; jobs: JobMessage[] };

/** Processor → main thread. */
export type FromProcessor =
  | { type: "ready"; worker: number }
  | { type: "done"; jobId: number; result: number | string | null }
  | { type: "failed"; jobId: number; message: string }
  | { type: "ranMany"; outcomes: JobOutcome[] };
