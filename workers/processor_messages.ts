/**
 * Typed messages between the main thread and the processor workers.
 *
 * @module
 */

import type { Pedido, TaskSpec } from "../server/protocol/messages.ts";

/** Work for a processor: an order (simulated processing) or a small task. */
export type Job =
  | { kind: "order"; pedido: Pedido; delayMs: number }
  | { kind: "task"; task: TaskSpec };

/** Main thread → processor. */
export type ToProcessor =
  | { type: "init"; worker: number }
  | { type: "run"; jobId: number; job: Job };

/** Processor → main thread. */
export type FromProcessor =
  | { type: "ready"; worker: number }
  | { type: "done"; jobId: number; result: number | string | null }
  | { type: "failed"; jobId: number; message: string };
