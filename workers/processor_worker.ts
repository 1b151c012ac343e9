/**
 * A processor Web Worker: the thin message adapter around
 * {@linkcode processJob}. One job at a time; the pool sends the next one
 * only after this one is answered.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { FromProcessor, ToProcessor } from "./processor_messages.ts";
import { processJob } from "./process_job.ts";

function post(message: FromProcessor): void {
  self.postMessage(message);
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
    default:
      throw new Error(`Unexpected message "${(message as { type: string }).type}"`);
  }
};
