/**
 * What a processor does with one job. Pure apart from the simulated wait,
 * so tests can call it without a worker.
 *
 * @module
 */

import type { Job } from "./processor_messages.ts";
import { runTask } from "./run_task.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Processes a job: an order waits its simulated processing time (no wait
 * at 0 ms) and yields null; a task returns its result.
 */
export async function processJob(job: Job): Promise<number | string | null> {
  if (job.kind === "task") return runTask(job.task);
  if (job.delayMs > 0) await sleep(job.delayMs);
  return null;
}

/**
 * Whether a job goes to a worker in a run with its neighbours, and is
 * recorded once when it ends: an order that takes no processing time. The
 * pool batches by it; the scheduler records attempts by it.
 */
export function runsInBatch(job: Job): boolean {
  return job.kind === "order" && job.delayMs === 0;
}

/** Picks a processing time in `[min, max]` ms, uniformly. */
export function pickDelay(range: { min: number; max: number }): number {
  return range.min + Math.floor(Math.random() * (range.max - range.min + 1));
}
