/**
 * A processor Web Worker: the thin message adapter around
 * {@linkcode processJob}. One job at a time; the pool sends the next one
 * only after this one is answered. A `runMany` is processed job by job, in
 * order, and answered once with each job's own start and end.
 *
 * With a processor module (§11) named in `init`, the worker imports it
 * before it says `ready` (or says `init_failed` with the reason), and runs
 * its default export for every `process` job, with a signal that `abort`
 * fires.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { FromProcessor, JobMessage, JobOutcome, ToProcessor } from "./processor_messages.ts";
import { processJob } from "./process_job.ts";
import { describeError, loadProcessor, type ProcessorFunction } from "./processor_module.ts";
import type { Pedido } from "../server/protocol/messages.ts";
import process from "node:process";

/**
 * The order of {@linkcode warmUp}: never stored, never answered. Written
 * out rather than made by the store's `newPedido()`: `workers/` loads no
 * daemon code at run time (tests/layout_test.ts).
 */
const WARM_UP_ORDER: Pedido = {
  id: 0,
  clave: null,
  cliente: "",
  productos: [],
  direccion: "",
  estado: "pendiente",
  fecha_recibido: new Date(0).toISOString(),
  fecha_inicio: null,
  fecha_fin: null,
  worker: null,
  intentos: 0,
  detalle_error: null,
  resultado: null,
  duracion_ms: null,
};

/**
 * A module's `Deno.exit` throws instead: in a worker it would end the
 * worker silently, and its attempt would wait out `--process-timeout-ms`.
 * Thrown in an attempt it fails that attempt at once (retried as any
 * failure); thrown while loading, the module cannot be used; thrown
 * elsewhere, it is a stray error (below), reported.
 */
Object.defineProperty(Deno, "exit", {
  value: (code?: number): never => {
    throw new Error(`Deno.exit(${code ?? ""}) called by the processor module`);
  },
});

/**
 * Likewise `self.close()`: the worker would end silently, and its next
 * attempt would wait out `--process-timeout-ms`.
 */
self.close = (): never => {
  throw new Error("self.close() called by the processor module");
};

/**
 * A module's output goes to stderr, with the daemon's logs: stdout carries
 * only the ready line and the summary, which scripts read. Its console, and
 * its writes to `Deno.stdout` and to `node:process`'s `stdout`.
 */
for (const name of ["log", "info", "debug"] as const) console[name] = console.error;
console.dir = (item?: unknown, options?: Deno.InspectOptions) =>
  console.error(Deno.inspect(item, options));
console.table = (data: unknown) => console.error(Deno.inspect(data));
Object.defineProperty(Deno, "stdout", { value: Deno.stderr, enumerable: true, configurable: true });
Object.defineProperty(process, "stdout", {
  get: () => process.stderr,
  enumerable: true,
  configurable: true,
});

/**
 * An error a module throws, or a promise it rejects, outside the call that
 * runs a job (a timer it left behind, a promise it did not await) is
 * reported and the worker goes on: the job it runs now, maybe another
 * order's, is not failed for it.
 */
self.addEventListener("error", (event: ErrorEvent) => {
  event.preventDefault();
  post({ type: "stray", message: describeError(event.error ?? event.message) });
});
self.addEventListener("unhandledrejection", (event: PromiseRejectionEvent) => {
  event.preventDefault();
  post({ type: "stray", message: describeError(event.reason) });
});

let processor: ProcessorFunction | null = null;
/** This worker's number (1-based), from the pool's `init`. */
let workerNumber: number | null = null;
/** The abort controller of the job running now, by job id. */
const running = new Map<number, AbortController>();

/**
 * The worker's own `postMessage`, taken before any module is loaded: a
 * module that replaces `self.postMessage` (to wrap or silence it) does not
 * get to see or drop the worker's answers.
 */
const postMessage = self.postMessage.bind(self);

function post(message: FromProcessor): void {
  postMessage(message);
}

async function runMany(jobs: JobMessage[]): Promise<JobOutcome[]> {
  const outcomes: JobOutcome[] = [];
  for (const { jobId, job } of jobs) {
    const startedAt = Date.now();
    try {
      const result = await processJob(job, { processor });
      outcomes.push({ jobId, ok: true, result, startedAt, endedAt: Date.now() });
    } catch (error) {
      outcomes.push({ jobId, ok: false, message: String(error), startedAt, endedAt: Date.now() });
    }
  }
  return outcomes;
}

async function run(jobId: number, job: JobMessage["job"]): Promise<void> {
  const controller = new AbortController();
  running.set(jobId, controller);
  try {
    let changed: string | undefined;
    const result = await processJob(job, {
      processor,
      signal: controller.signal,
      worker: workerNumber,
      onResultChanged: (what) => changed = what,
    });
    post(
      changed === undefined
        ? { type: "done", jobId, result }
        : { type: "done", jobId, result, changed },
    );
  } catch (error) {
    const message = job.kind === "process" ? describeError(error) : String(error);
    post({ type: "failed", jobId, message });
  } finally {
    running.delete(jobId);
  }
}

/**
 * Runs once what every simulated attempt runs (a timer, its signal, the
 * answer's path), before the worker says it is ready: the first order on a
 * cold worker took 30-60 ms more than its processing time (V8 compiles
 * lazily, on first use), and that showed in its `duracion_ms`.
 */
async function warmUp(): Promise<void> {
  const controller = new AbortController();
  running.set(0, controller);
  try {
    await processJob({ kind: "order", pedido: WARM_UP_ORDER, delayMs: 1 }, {
      signal: controller.signal,
    });
  } finally {
    running.delete(0);
  }
}

/**
 * A listener, not `self.onmessage`: a module that sets `self.onmessage` for
 * messages of its own (code written for a worker of its own) adds its
 * handler beside this one instead of replacing it, which would leave every
 * job unanswered.
 */
self.addEventListener("message", async (event: MessageEvent<ToProcessor>) => {
  const message = event.data;
  switch (message.type) {
    case "init":
      workerNumber = message.worker;
      if (message.processor) {
        try {
          processor = await loadProcessor(message.processor);
        } catch (error) {
          post({ type: "init_failed", message: describeError(error), key: message.key });
          return;
        }
      }
      await warmUp();
      post({ type: "ready", worker: message.worker, key: message.key });
      break;
    case "run":
      await run(message.jobId, message.job);
      break;
    case "runMany":
      post({ type: "ranMany", outcomes: await runMany(message.jobs) });
      break;
    case "abort":
      running.get(message.jobId)?.abort(new DOMException(message.reason, "TimeoutError"));
      post({ type: "aborting", jobId: message.jobId });
      break;
    default:
      throw new Error(`Unexpected message "${(message as { type: string }).type}"`);
  }
});
