/**
 * The order service: admission, durable accept, FIFO scheduling on the
 * worker pool, the lifecycle `pendiente → en proceso → listo | error`,
 * waiting for an order, restart recovery and drain. Independent of
 * sockets: the dispatcher calls it, tests may call it directly.
 *
 * @module
 */

import type { Admission } from "./admission.ts";
import { DurationHistogram, type DurationSummary } from "./duration_histogram.ts";
import type { Logger } from "./log.ts";
import { ProtocolError } from "./protocol/errors.ts";
import type { ListFilter, NewOrder, Pedido, Reply, TaskSpec } from "./protocol/messages.ts";
import { pickDelay } from "../workers/process_job.ts";
import { type JobRun, PoolClosedError, type WorkerPool } from "../workers/pool.ts";
import type { OrderStore, Outcome } from "../workers/store/store.ts";

/** Options of {@linkcode OrderService}. */
export interface OrderServiceOptions {
  store: OrderStore;
  /** The semaphore; the store must release a slot when it commits a finished order. */
  admission: Admission;
  pool: WorkerPool;
  /** Simulated processing time range in ms. @default {{min: 0, max: 0}} */
  processMs?: { min: number; max: number };
  logger: Logger;
  /** Attempts before an order whose worker keeps failing ends `error`. @default 3 */
  maxAttempts?: number;
  /** How often a waiter re-reads an order it is not told about. @default 1000 */
  pollMs?: number;
}

/** The counters of STATS that the service owns. */
export interface OrderStats {
  recibidos: number;
  aceptados: number;
  rechazados: number;
  pendientes: number;
  en_proceso: number;
  listos: number;
  errores: number;
  capacidad: number;
  libres: number;
  workers: number;
  duracion_ms: DurationSummary;
}

const FINAL = new Set(["listo", "error"]);

function now(): string {
  return new Date().toISOString();
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Accepts, schedules and tracks orders. */
export class OrderService {
  readonly #store: OrderStore;
  readonly #admission: Admission;
  readonly #pool: WorkerPool;
  readonly #processMs: { min: number; max: number };
  readonly #logger: Logger;
  readonly #maxAttempts: number;
  readonly #pollMs: number;
  /**
   * Orders of this daemon not yet finished, by id: waiting, on a worker, or
   * processed and waiting for their final state to be committed.
   */
  readonly #active = new Map<number, "pendiente" | "en proceso" | "cerrando">();
  /** Callbacks to run when an order finishes, by id. */
  readonly #waiters = new Map<number, Set<() => void>>();
  /** Finishing writes in flight (awaited by drain). */
  readonly #settling = new Set<Promise<void>>();
  readonly #durations = new DurationHistogram();
  readonly #stop = new AbortController();
  /** Aborted when the drain gives up on running orders. */
  readonly #closingSignal = new AbortController();
  #leftPending = 0;
  #counts = { recibidos: 0, aceptados: 0, rechazados: 0, listos: 0, errores: 0 };

  constructor(options: OrderServiceOptions) {
    this.#store = options.store;
    this.#admission = options.admission;
    this.#pool = options.pool;
    this.#processMs = options.processMs ?? { min: 0, max: 0 };
    this.#logger = options.logger;
    this.#maxAttempts = options.maxAttempts ?? 3;
    this.#pollMs = options.pollMs ?? 1000;
  }

  /** Counts one PEDIDO request received (valid or not). */
  countReceived(): void {
    this.#counts.recibidos++;
  }

  /**
   * Accepts an order: idempotency first, then a slot, then the commit.
   * Resolves with the reply to send, only after the order is committed.
   *
   * @throws {ProtocolError} `queue_full` when no slot is free, `internal` when storing failed.
   */
  async submit(order: NewOrder): Promise<Reply> {
    if (order.clave !== null) {
      const existing = await this.#store.findByClave(order.clave);
      if (existing) return duplicateReply(existing);
    }
    if (!this.#admission.tryAcquire()) {
      this.#counts.rechazados++;
      throw new ProtocolError("queue_full");
    }
    let result;
    try {
      result = await this.#store.insert(order, now());
    } catch (error) {
      this.#admission.release();
      this.#logger.error("order.insert_failed", { error: String(error) });
      throw new ProtocolError("internal", undefined, { cause: error });
    }
    if (result.duplicado) {
      this.#admission.release();
      return duplicateReply(result.pedido);
    }
    this.#counts.aceptados++;
    const { id } = result.pedido;
    this.#logger.debug("order.accepted", { id });
    this.#schedule(result.pedido, false);
    return { ok: true, id, estado: "pendiente", mensaje: `✅ Pedido ${id} recibido.` };
  }

  /**
   * One order, optionally waiting until it is `listo`/`error` or the timeout.
   *
   * @throws {ProtocolError} `not_found`.
   */
  async status(
    id: number,
    options: { esperar?: boolean; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<Reply> {
    const first = await this.#store.get(id);
    if (!first) throw new ProtocolError("not_found", `❌ No existe el pedido ${id}.`);
    if (!options.esperar || FINAL.has(first.estado)) return { ok: true, pedido: first };
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    const signal = AbortSignal.any([
      this.#stop.signal,
      ...(options.signal ? [options.signal] : []),
    ]);
    let pedido: Pedido = first;
    while (!FINAL.has(pedido.estado)) {
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) return { ok: true, pedido, timeout: true };
      await this.#waitForFinish(id, Math.min(left, this.#pollMs), signal);
      pedido = (await this.#store.get(id)) ?? pedido;
    }
    return { ok: true, pedido };
  }

  /** Recent orders, newest first. */
  async list(filter: ListFilter): Promise<Reply> {
    return { ok: true, pedidos: await this.#store.list(filter) };
  }

  /**
   * Runs a task on the pool; it holds a slot while it runs.
   *
   * @throws {ProtocolError} `queue_full`, `shutting_down`, `internal`; `invalid_task`
   * when the result is not a finite number.
   */
  async runTask(task: TaskSpec): Promise<Reply> {
    if (!this.#admission.tryAcquire()) throw new ProtocolError("queue_full");
    let result;
    try {
      result = await this.#pool.submit({ kind: "task", task });
    } catch (error) {
      if (error instanceof PoolClosedError) throw new ProtocolError("shutting_down");
      this.#logger.error("task.failed", { task: task.name, error: String(error) });
      throw new ProtocolError("internal", "❌ La tarea falló; reintente.", { cause: error });
    } finally {
      this.#admission.release();
    }
    // JSON has no Infinity: `sum` of [1e308, 1e308] would go out as `"result":null`.
    if (typeof result === "number" && !Number.isFinite(result)) {
      throw new ProtocolError(
        "invalid_task",
        "❌ El resultado de la tarea no cabe en un número JSON (es infinito).",
        { campo: "task.args" },
      );
    }
    return { ok: true, result };
  }

  /**
   * Schedules the orders a previous run left `pendiente` or `en proceso`,
   * oldest first. They hold capacity like any order, even beyond it.
   *
   * @returns how many were found.
   */
  async recover(): Promise<number> {
    const rows = await this.#store.unfinished();
    if (rows.length === 0) return 0;
    this.#admission.forceAcquire(rows.length);
    for (const pedido of rows) this.#schedule(pedido, false);
    this.#logger.info("orders.recovered", { count: rows.length });
    return rows.length;
  }

  /**
   * Stops processing: orders not started stay `pendiente`; running ones may
   * finish for `timeoutMs`, after which they are put back to `pendiente`.
   * Waiters are answered with the current state. Does not close the store.
   *
   * @returns how many orders were left `pendiente`.
   */
  async drain(timeoutMs: number): Promise<number> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    await this.#pool.stop(deadline.signal);
    clearTimeout(timer);
    await this.#pool.close();
    // Finishing writes still retrying (a full disk) get one more chance, then stop.
    const grace = setTimeout(() => this.#closingSignal.abort(), Math.max(1000, timeoutMs / 4));
    await Promise.allSettled([...this.#settling]);
    this.#closingSignal.abort();
    clearTimeout(grace);
    while (this.#settling.size > 0) await Promise.allSettled([...this.#settling]);
    this.#stop.abort(); // answer the waiters of orders left pendiente
    return this.#leftPending;
  }

  /** The counters of STATS. */
  stats(): OrderStats {
    let pendientes = 0;
    let enProceso = 0;
    for (const state of this.#active.values()) {
      if (state === "pendiente") pendientes++;
      else if (state === "en proceso") enProceso++;
    }
    return {
      ...this.#counts,
      pendientes,
      en_proceso: enProceso,
      capacidad: this.#admission.capacity,
      libres: this.#admission.free,
      workers: this.#pool.size,
      duracion_ms: this.#durations.summary(),
    };
  }

  get #closing(): boolean {
    return this.#closingSignal.signal.aborted;
  }

  /**
   * Queues one attempt of an order. An attempt that takes processing time is
   * recorded twice, when a worker takes it (`en proceso`, visible while it
   * runs) and when it ends. One that takes none goes to a worker in a run
   * and is recorded once, when it ends, with the start and end its worker
   * reported (`markRan`); if it failed, its start is recorded then, so that
   * `intentos` counts it.
   */
  #schedule(pedido: Pedido, front: boolean): void {
    const { id } = pedido;
    this.#active.set(id, "pendiente");
    const job = { kind: "order" as const, pedido, delayMs: pickDelay(this.#processMs) };
    const recordStart = job.delayMs > 0;
    let worker = 0;
    let startedAt = 0;
    let endedAt = 0;
    const onStart = (w: number) => {
      worker = w;
      startedAt = Date.now();
      this.#active.set(id, "en proceso");
      if (recordStart) this.#markStarted(id, worker, startedAt);
    };
    const onRan = (run: JobRun) => {
      startedAt = run.startedAt;
      endedAt = run.endedAt;
    };
    const settled = this.#pool.submit(job, { front, onStart, onRan }).then(
      () => {
        const outcome: Outcome = { estado: "listo", at: iso(endedAt || Date.now()) };
        if (recordStart) return this.#finish(id, outcome, startedAt);
        const start = iso(startedAt);
        return this.#finish(
          id,
          outcome,
          startedAt,
          () => this.#store.markRan(id, worker, start, outcome),
        );
      },
      (error: Error) => {
        if (error instanceof PoolClosedError) return this.#leavePending(id);
        // A started attempt counts in `intentos`, also when it took no time.
        if (!recordStart && worker > 0) this.#markStarted(id, worker, startedAt);
        const attempts = pedido.intentos + 1;
        this.#logger.warn("order.attempt_failed", { id, attempt: attempts, error: error.message });
        if (attempts < this.#maxAttempts) {
          this.#schedule({ ...pedido, intentos: attempts }, true);
          return;
        }
        const outcome: Outcome = { estado: "error", at: now(), detalle: error.message };
        return this.#finish(id, outcome, startedAt);
      },
    );
    this.#track(settled);
  }

  #markStarted(id: number, worker: number, startedAt: number): void {
    this.#store.markStarted(id, worker, iso(startedAt)).catch((error) =>
      this.#logger.error("order.mark_started_failed", { id, error: String(error) })
    );
  }

  #track(promise: Promise<void>): void {
    this.#settling.add(promise);
    promise.finally(() => this.#settling.delete(promise));
  }

  /**
   * Writes an order's final state (by default `markFinished`), retrying until
   * it is committed, then counts it and wakes its waiters.
   */
  async #finish(
    id: number,
    outcome: Outcome,
    startedAt: number,
    write: () => Promise<void> = () => this.#store.markFinished(id, outcome),
  ): Promise<void> {
    this.#active.set(id, "cerrando");
    // Retried until it is committed (a full disk may come back); when the
    // daemon stops first, the order stays unfinished in the store (`en
    // proceso`, or `pendiente` for a zero-time attempt) and is processed
    // again at the next start.
    for (let attempt = 1;; attempt++) {
      try {
        await write(); // the store releases the slot at commit
        break;
      } catch (error) {
        // The first failure, then one line in 30 (a full disk can last minutes).
        if (attempt % 30 === 1) {
          this.#logger.error("order.mark_finished_failed", { id, attempt, error: String(error) });
        }
        if (this.#closing) return;
        await delay(Math.min(2000, 50 * attempt), this.#closingSignal.signal);
        if (this.#closing) return;
      }
    }
    this.#active.delete(id);
    if (outcome.estado === "listo") this.#counts.listos++;
    else this.#counts.errores++;
    if (startedAt) this.#durations.record(Date.parse(outcome.at) - startedAt);
    this.#logger.debug("order.finished", { id, estado: outcome.estado });
    const waiters = this.#waiters.get(id);
    if (waiters === undefined) return;
    this.#waiters.delete(id);
    waiters.forEach((wake) => wake());
  }

  async #leavePending(id: number): Promise<void> {
    this.#active.delete(id);
    this.#leftPending++;
    try {
      await this.#store.markPending(id);
    } catch (error) {
      // Left `en proceso`: the next start processes it again all the same.
      this.#logger.warn("order.mark_pending_failed", { id, error: String(error) });
    }
  }

  #waitForFinish(id: number, ms: number, signal: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const wake = () => controller.abort();
    let set = this.#waiters.get(id);
    if (!set) this.#waiters.set(id, set = new Set());
    set.add(wake);
    return delay(ms, AbortSignal.any([signal, controller.signal])).finally(() => {
      set.delete(wake);
      if (set.size === 0 && this.#waiters.get(id) === set) this.#waiters.delete(id);
    });
  }
}

function duplicateReply(pedido: Pedido): Reply {
  return {
    ok: true,
    id: pedido.id,
    estado: pedido.estado,
    mensaje: `✅ Pedido ${pedido.id} ya estaba registrado (clave repetida).`,
    duplicado: true,
  };
}
