/**
 * What a processor does with one job. Pure apart from the simulated wait
 * and the operator's module, so tests can call it without a worker.
 *
 * @module
 */

import type { Pedido } from "../server/protocol/messages.ts";
import type { Job } from "./processor_messages.ts";
import { type ProcessorFunction, runProcessor } from "./processor_module.ts";
import { runTask } from "./run_task.ts";

/** Options of {@linkcode processJob}. */
export interface ProcessJobOptions {
  /** The processor module's function, for `process` jobs. @default {null} */
  processor?: ProcessorFunction | null;
  /**
   * Aborts a `process` job (its time is up), or a simulated order's wait
   * (the pool is closing). @default {a signal that never fires}
   */
  signal?: AbortSignal;
  /** The worker's number (1-based), shown to the module as the order's `worker`. @default {null} */
  worker?: number | null;
  /** Told what JSON changed of a module's result (`encodeResult` of `processor_module.ts`). @default {not told} */
  onResultChanged?: (what: string) => void;
}

/** Waits `ms`, or less when `signal` aborts (then it rejects with the signal's reason). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal === undefined) return new Promise((resolve) => setTimeout(resolve, ms));
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Processes a job: an order waits its simulated processing time (no wait
 * at 0 ms) and yields null; an order for the processor module yields its
 * `resultado` as JSON text (or null); a task returns its result.
 *
 * @throws {Error} For a `process` job, the message to store in
 * `detalle_error` (see {@linkcode runProcessor}).
 */
export async function processJob(
  job: Job,
  options: ProcessJobOptions = {},
): Promise<number | string | null> {
  if (job.kind === "task") return runTask(job.task);
  if (job.kind === "process") {
    const { processor = null, signal = new AbortController().signal } = options;
    if (processor === null) throw new Error("Cannot process order: no processor module is loaded");
    // The module sees the order as this attempt made it (§4, §8): en proceso,
    // this attempt counted in `intentos`, its start and worker set.
    const intento = job.pedido.intentos + 1;
    const pedido: Pedido = {
      ...job.pedido,
      estado: "en proceso",
      intentos: intento,
      fecha_inicio: new Date().toISOString(),
      worker: options.worker ?? null,
    };
    return await runProcessor(processor, pedido, { signal, intento }, options.onResultChanged);
  }
  if (job.delayMs > 0) await sleep(job.delayMs, options.signal);
  return null;
}

/**
 * Whether a job goes to a worker in a run with its neighbours, and is
 * recorded once when it ends: an order that takes no simulated processing
 * time. The pool batches by it; the scheduler records attempts by it. An
 * order for a processor module never does: it goes one per message.
 */
export function runsInBatch(job: Job): boolean {
  return job.kind === "order" && job.delayMs === 0;
}

/** Picks a processing time in `[min, max]` ms, uniformly. */
export function pickDelay(range: { min: number; max: number }): number {
  return range.min + Math.floor(Math.random() * (range.max - range.min + 1));
}
