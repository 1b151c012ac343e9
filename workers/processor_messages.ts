/**
 * Typed messages between the main thread and the processor workers.
 *
 * Handshake: `init` (with the processor module to load, if any) is answered
 * `ready`, or `init_failed` when the module cannot be loaded, each carrying
 * the `key` of the `init`: a module may post messages of these forms itself
 * while it loads (its top level runs then), and only the worker knows the
 * key (the module is imported while `init` is being handled, so its own
 * listeners never see that message). Then a worker
 * gets one job (`run`, answered by `done` or `failed`) or a run of orders
 * that take no processing time (`runMany`, answered by one `ranMany` that
 * reports each job's own start and end). Either way it holds one order at a
 * time: the jobs of a run are processed one after the other. `abort` fires
 * the signal of a running processor module's attempt (its time is up); the
 * job is still answered, `done` or `failed`, when the module stops.
 *
 * @module
 */

import type { Pedido, TaskSpec } from "../server/protocol/messages.ts";
import type { ProcessorSource } from "./processor_module.ts";

/**
 * Work for a processor: an order (simulated processing), an order for the
 * processor module (§11), or a small task.
 */
export type Job =
  | { kind: "order"; pedido: Pedido; delayMs: number }
  | {
    kind: "process";
    pedido: Pedido;
    /** How long the attempt may run before it is aborted. */
    timeoutMs: number;
  }
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
  | {
    type: "init";
    worker: number;
    /** Echoed in `ready` and `init_failed`: what tells them from a module's own. */
    key: string;
    processor?: ProcessorSource;
  }
  | { type: "run"; jobId: number; job: Job }
  | { type: "runMany"; jobs: JobMessage[] }
  | { type: "abort"; jobId: number; reason: string };

/**
 * Processor → main thread. The result of a `process` job is its `resultado`
 * as JSON text, or null.
 */
export type FromProcessor =
  | { type: "ready"; worker: number; key?: string }
  | { type: "init_failed"; message: string; key?: string }
  /**
   * `changed`: what JSON made of part of a module's result, which the
   * module may not expect (`a Map, written {} at resultado.x`).
   */
  | { type: "done"; jobId: number; result: number | string | null; changed?: string }
  | { type: "failed"; jobId: number; message: string }
  | { type: "ranMany"; outcomes: JobOutcome[] }
  /**
   * The worker read the `abort` of job `jobId` and fired its signal: its
   * thread was free to read it (a module looping without yielding never
   * answers this, and its thread cannot be stopped).
   */
  | { type: "aborting"; jobId: number }
  /**
   * An error thrown, or a promise rejected, outside any job's own code path
   * (a timer a module left behind): the worker goes on, and the job it runs
   * now, if any, is not blamed for it.
   */
  | { type: "stray"; message: string };

/**
 * Whether `data`, a message from a processor worker, is one of
 * {@linkcode FromProcessor}. A processor module runs in the worker's global
 * scope and may call `self.postMessage` with anything (`null`, a string, an
 * object of its own): the pool answers only well-formed messages.
 */
export function isFromProcessor(data: unknown): data is FromProcessor {
  if (typeof data !== "object" || data === null) return false;
  const m = data as Record<string, unknown>;
  const text = (value: unknown) => typeof value === "string";
  const id = (value: unknown) => Number.isSafeInteger(value);
  const result = (value: unknown) =>
    value === null || typeof value === "string" || typeof value === "number";
  switch (m.type) {
    case "ready":
      return id(m.worker) && (m.key === undefined || text(m.key));
    case "init_failed":
      return text(m.message) && (m.key === undefined || text(m.key));
    case "stray":
      return text(m.message);
    case "done":
      return id(m.jobId) && result(m.result) && (m.changed === undefined || text(m.changed));
    case "failed":
      return id(m.jobId) && text(m.message);
    case "aborting":
      return id(m.jobId);
    case "ranMany":
      return Array.isArray(m.outcomes) && m.outcomes.every((o: unknown) => {
        if (typeof o !== "object" || o === null) return false;
        const r = o as Record<string, unknown>;
        return id(r.jobId) && typeof r.startedAt === "number" && typeof r.endedAt === "number" &&
          (r.ok === true ? result(r.result) : r.ok === false && text(r.message));
      });
    default:
      return false;
  }
}
