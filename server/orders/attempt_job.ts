/**
 * What an attempt of an order is on the processor pool, for the scheduler
 * of this daemon's orders and for the attempts of claimed orders alike: the
 * processor module's job (`process`) when one is loaded, else the simulated
 * wait of `--process-ms`.
 *
 * @module
 */

import type { Pedido } from "../protocol/messages.ts";
import type { Job } from "../../workers/processor_messages.ts";
import { pickDelay } from "../../workers/process_job.ts";
import type { RetryPolicy } from "./retry_policy.ts";

/**
 * How a daemon processes orders (`--process-ms`, `--processor`, the retry
 * policy): options of the services that run attempts, one set for all.
 */
export interface ProcessingOptions {
  /** Simulated processing time range in ms. @default {{min: 0, max: 0}} */
  processMs?: { min: number; max: number };
  /** When a failed attempt is tried again, and how many attempts in all. @default {new RetryPolicy()} */
  retry?: RetryPolicy;
  /**
   * Orders are run by the pool's processor module (§11), each attempt
   * aborted after `timeoutMs`; absent, by the simulated wait of `processMs`.
   */
  processor?: { timeoutMs: number };
}

/** How attempts are processed. */
export interface AttemptSettings {
  /** The processor module's settings (§11), when one is loaded. */
  processor?: { timeoutMs: number } | undefined;
  /** The simulated processing time range, in ms, without a module. */
  processMs: { min: number; max: number };
}

/** The job of one attempt of `pedido` (the order as it was before the attempt). */
export function attemptJob(pedido: Pedido, settings: AttemptSettings): Job {
  const { processor } = settings;
  return processor === undefined
    ? { kind: "order", pedido, delayMs: pickDelay(settings.processMs) }
    : { kind: "process", pedido, timeoutMs: processor.timeoutMs };
}

/** A time in ms since the epoch as ISO 8601 UTC with milliseconds, as stored. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
