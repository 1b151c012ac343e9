/**
 * A processor Web Worker: the thin message adapter around
 * {@linkcode processJob}. One job at a time; the pool sends the next one
 * only after this one is answered. A `runMany` is processed job by job, in
 * order, and answered once with each job's own start and end.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { FromProcessor, JobMessage, JobOutcome, ToProcessor } from "./processor_messages.ts";
import { processJob } from "./process_job.ts";

function post(message: FromProcessor): void {
  self.postMessage(message);
}

async function runMany(jobs: JobMessage[]): Promise<JobOutcome[]> {
  const outcomes: JobOutcome[] = [];
  for (const { jobId, job } of jobs) {
    const startedAt = Date.now();
    try {
      const result = await processJob(job);
      outcomes.push({ jobId, ok: true, result, startedAt, endedAt: Date.now() });
    } catch (error) {
      outcomes.push({ jobId, ok: false, message: String(error), startedAt, endedAt: Date.now() });
    }
  }
  return outcomes;
}

self.onmessage = async (event: MessageEvent<ToProcessor>) => {
  const message = event.data;
  switch (message.type) {
    case "init":
      post({ type: "ready", worker: message.worker });
      break;
    case "run":
      try {
        const result = await processJob(message.job);
        post({ type: "done", jobId: message.jobId, result });
      } catch (error) {
        post({ type: "failed", jobId: message.jobId, message: String(error) });
      }
      break;
    case "runMany":
      post({ type: "ranMany", outcomes: await runMany(message.jobs) });
      break;
    default:
      throw new Error(`Unexpected message "${(message as { type: string }).type}"`);
  }
};
