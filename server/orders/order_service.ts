/**
 * The orders of this daemon, put together: {@linkcode Intake} (PEDIDO,
 * CANCELAR, REINTENTAR), the {@linkcode Scheduler} (attempts on the pool),
 * the {@linkcode ActiveOrders} they share, the {@linkcode FinishWaiters} of
 * `ESTADO esperar` and the {@linkcode RunCounters} of STATS; plus reads,
 * restart recovery and the drain. Independent of sockets: the dispatcher
 * calls it, tests may call it directly.
 *
 * @module
 */

import type { Capacity } from "../capacity.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { Logger } from "../log.ts";
import type { HistogramSnapshot } from "../metrics/histogram.ts";
import type { ListFilter, Pedido, PedidoNuevo, TaskSpec } from "../protocol/messages.ts";
import type {
  ListarReply,
  PedidoReply,
  PedidoStateReply,
  Stats,
  TaskReply,
} from "../protocol/replies.ts";
import type { ProcessorPool } from "../processing/processor_pool.ts";
import { isSharedQueue } from "../store/shared_queue.ts";
import type { OrderStore, Outcome } from "../store/store.ts";
import { StoreUnavailableError } from "../store/store_unavailable_error.ts";
import { ActiveOrders } from "./active_orders.ts";
import { FinishWaiters } from "./finish_waiters.ts";
import { WaitedOrders } from "./waited_orders.ts";
import { Intake, notFound } from "./intake.ts";
import type { ProcessingOptions } from "./attempt_job.ts";
import { type ListOptions, listOrders, ReadTurns } from "./list_orders.ts";
import { DEFAULT_LIMITS } from "../config/server_config.ts";
import { DEFAULT_MAX_REQUEST_BYTES } from "../protocol/framing.ts";
import { largestOrderBytes } from "../protocol/reply_budget.ts";
import type { ReplyStream } from "../protocol/reply_stream.ts";
import { RunCounters } from "./run_counters.ts";
import { logInterrupted } from "./failed_attempt_log.ts";
import { RetryPolicy } from "./retry_policy.ts";
import { Scheduler } from "./scheduler.ts";
import { SharedOrders } from "./shared_orders.ts";
import { StorageHealth } from "./storage_health.ts";
import { runTask } from "./tasks.ts";

/**
 * How many times STATS waits for the ends being committed, each time for
 * those begun while it waited the last time: under a steady flow of ends it
 * answers all the same.
 */
const SETTLE_ROUNDS = 4;

/** Options of {@linkcode OrderService}. */
export interface OrderServiceOptions extends ProcessingOptions {
  store: OrderStore;
  capacity: Capacity;
  pool: ProcessorPool;
  logger: Logger;
  /**
   * How often a wait re-reads an order this daemon does not hold (one
   * finished or held elsewhere); orders held here wake their waiters.
   *
   * @default 1000
   */
  pollMs?: number;
  /**
   * `--max-reply-bytes`: a LISTAR reply longer than this is written in
   * pieces of about this size, each read once the one before is written.
   * @default {1048576}
   */
  maxReplyBytes?: number;
  /** `--max-request-bytes`: bounds one order's size in a reply. @default {65536} */
  maxRequestBytes?: number;
  /** `ESTADO esperar` waits open at once (`--max-waiters`). @default {10000} */
  maxWaiters?: number;
  /** `ESTADO esperar` waits open at once per connection. @default {128} */
  maxWaitersPerConnection?: number;
}

/** Options of {@linkcode OrderService.status}. */
export interface StatusOptions {
  /** Wait until the order is finished or the time is up. @default false */
  esperar?: boolean;
  /** The longest wait in ms. @default 30000 */
  timeoutMs?: number;
  /** Ends a wait early (the client left). */
  signal?: AbortSignal;
  /** Who waits (the connection), for the per-connection bound on waits. */
  client?: object;
  /** Only an order this account placed; any other is `not_found`. */
  owner?: number;
  /**
   * Resolves when the requests before this one on its connection are
   * answered. A wait whose time is up first reads the order again then, so
   * that its reply is never older than theirs (§8, effects in request order).
   */
  turn?: () => Promise<void>;
}

/** The order part of STATS (the rest is the server's: connections, uptime). */
export type OrderStats = Omit<Stats, "conexiones" | "uptime_s">;

const FINISHED = new Set(["listo", "error", "cancelado"]);

/** How soon a wait reads again after the store could not be reached. */
const STORE_RETRY_MS = 250;

/**
 * The longest a read waits for the slot of an order whose end it saw
 * committed ({@linkcode OrderService.#closedHere}): the writer's answer
 * comes in a moment; past this, the read is answered anyway.
 */
const CLOSE_WAIT_MS = 1000;

/** Accepts, schedules and tracks orders. */
export class OrderService {
  readonly #store: OrderStore;
  readonly #capacity: Capacity;
  readonly #pool: ProcessorPool;
  readonly #logger: Logger;
  readonly #pollMs: number;
  readonly #listOptions: ListOptions;
  readonly #active = new ActiveOrders();
  readonly #waiters: FinishWaiters;
  /** The orders waits are open on, each held once. */
  readonly #waited: WaitedOrders;
  readonly #counters = new RunCounters();
  readonly #scheduler: Scheduler;
  /** Notes the store's failed writes (a full disk) and logs when they succeed again. */
  readonly #storage: StorageHealth;
  readonly #intake: Intake;
  /** On a store shared by several daemons (§9): the shared queue instead of intake and scheduler. */
  readonly #shared: SharedOrders | null;
  readonly #retry: RetryPolicy;
  /** Whether a processor module runs the orders (§11). */
  readonly #processor: boolean;
  /** Aborted at the end of a drain: waits still open are answered. */
  readonly #stopped = new AbortController();

  constructor(options: OrderServiceOptions) {
    this.#store = options.store;
    this.#capacity = options.capacity;
    this.#retry = options.retry ?? new RetryPolicy();
    this.#processor = options.processor !== undefined;
    this.#pool = options.pool;
    this.#logger = options.logger;
    this.#pollMs = options.pollMs ?? 1000;
    this.#waiters = new FinishWaiters({
      maxWaiters: options.maxWaiters ?? DEFAULT_LIMITS.maxWaiters,
      maxWaitersPerClient: options.maxWaitersPerConnection ??
        DEFAULT_LIMITS.maxWaitersPerConnection,
    });
    this.#waited = new WaitedOrders((id) => this.#store.get(id));
    this.#listOptions = {
      pieceBytes: options.maxReplyBytes ?? DEFAULT_LIMITS.maxReplyBytes,
      largestOrderBytes: largestOrderBytes(options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES),
      turns: new ReadTurns(),
    };
    // Both write to the store: a run of failed writes ends at either's success.
    const storage = this.#storage = new StorageHealth(this.#logger);
    const parts = {
      store: this.#store,
      active: this.#active,
      counters: this.#counters,
      waiters: this.#waiters,
      logger: this.#logger,
    };
    this.#scheduler = new Scheduler({
      ...parts,
      storage,
      pool: this.#pool,
      ...(options.processMs ? { processMs: options.processMs } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.processor ? { processor: options.processor } : {}),
    });
    this.#intake = new Intake({
      ...parts,
      storage,
      capacity: this.#capacity,
      scheduler: this.#scheduler,
    });
    const store = this.#store;
    this.#shared = isSharedQueue(store)
      ? new SharedOrders({
        ...parts,
        store,
        capacity: this.#capacity,
        pool: this.#pool,
        ...(options.processMs ? { processMs: options.processMs } : {}),
        ...(options.retry ? { retry: options.retry } : {}),
        ...(options.processor ? { processor: options.processor } : {}),
      })
      : null;
  }

  /** Counts one PEDIDO request received (valid or not). */
  countReceived(): void {
    this.#counters.received();
  }

  /**
   * {@inheritDoc Intake.submit}
   *
   * With `owner` (a session's account) the order is that account's. A
   * `clave` already used by an order that is not the account's is refused
   * (`invalid_order`, `campo` `clave`) rather than answered with that order.
   */
  async submit(pedido: PedidoNuevo, owner?: number): Promise<PedidoReply> {
    const reply = await (this.#shared?.intake ?? this.#intake).submit(pedido, owner);
    if (reply.duplicado && owner !== undefined && await this.#store.get(reply.id, owner) === null) {
      throw new ProtocolError(
        "invalid_order",
        "❌ Esa clave ya la usó otro pedido que no es suyo; use otra clave.",
        { campo: "clave" },
      );
    }
    return reply;
  }

  /**
   * {@inheritDoc Intake.cancel}
   *
   * With `owner`, another account's order is `not_found`.
   */
  async cancel(id: number, owner?: number): Promise<PedidoStateReply> {
    await this.#checkOwner(id, owner);
    return (this.#shared?.intake ?? this.#intake).cancel(id);
  }

  /**
   * {@inheritDoc Intake.retry}
   *
   * With `owner`, another account's order is `not_found`.
   */
  async retry(id: number, owner?: number): Promise<PedidoStateReply> {
    await this.#checkOwner(id, owner);
    return (this.#shared?.intake ?? this.#intake).retry(id);
  }

  /** `not_found` unless `owner` is absent or placed order `id` (an order's owner never changes). */
  async #checkOwner(id: number, owner: number | undefined): Promise<void> {
    if (owner !== undefined && await this.#store.get(id, owner) === null) throw notFound(id);
  }

  /**
   * ESTADO: one order, optionally waiting until it is finished or the time
   * is up (then with `timeout`).
   *
   * @throws {ProtocolError} `not_found` (also for another account's order,
   * with `owner`); `queue_full` when too many waits are open.
   */
  async status(id: number, options: StatusOptions = {}): Promise<PedidoStateReply> {
    // A poll joins one of the same order in flight; every other read is this wait's own (§8).
    const read = async (owner?: number, poll = false) => {
      const stored = await (poll ? this.#waited.poll(id) : this.#store.get(id, owner));
      if (stored === null) return null;
      await this.#closedHere([stored]);
      // Many waits on one order hold it once (waited_orders.ts).
      return this.#waited.share(this.#active.present(stored));
    };
    // Whether it was held here when read: if it is not when the read is
    // answered, it left meanwhile (its finish woke no one yet waiting).
    let heldAtRead = this.#active.get(id) !== undefined;
    // The order as last read (null until one read answered), and why the last read failed.
    let pedido: Pedido | null = null;
    let down: StoreUnavailableError | null = null;
    try {
      pedido = await read(options.owner);
      if (pedido === null) throw notFound(id);
    } catch (error) {
      // A wait rides out a store that is away for a moment (below); a plain read does not.
      if (!options.esperar || !(error instanceof StoreUnavailableError)) throw error;
      down = error;
    }
    if (pedido !== null && (!options.esperar || FINISHED.has(pedido.estado))) {
      return { ok: true, pedido };
    }
    if (options.signal?.aborted) {
      if (pedido === null) throw down;
      return { ok: true, pedido, timeout: true };
    }
    // `timeout_ms` 0 waits for nothing: it is answered with the state now
    // (read again at its turn), and counts against no bound of waits.
    const waits = options.timeoutMs === undefined || options.timeoutMs > 0;
    using _admitted = waits ? this.#waiters.admit(options.client) : undefined;
    using _held = this.#waited.hold(id);
    if (pedido !== null) pedido = this.#waited.share(pedido);
    const deadline = performance.now() + (options.timeoutMs ?? 30_000);
    const signal = AbortSignal.any([
      this.#stopped.signal,
      ...(options.signal ? [options.signal] : []),
    ]);
    while (pedido === null || down !== null || !FINISHED.has(pedido.estado)) {
      const left = deadline - performance.now();
      if (left <= 0 || signal.aborted) {
        // A state not read now would be a guess: the store's outage is the answer.
        if (down !== null) throw down;
        if (signal.aborted || options.turn === undefined) {
          return { ok: true, pedido: pedido!, timeout: true };
        }
        return await this.#atTurn(read, pedido!, options.turn, signal);
      }
      // An order held here wakes its waiters when it ends; any other is re-read now and then,
      // and sooner while the store is away.
      const held = this.#active.get(id) !== undefined;
      // Whether the read below must see a change (else it is a poll).
      let woken = true;
      if (held || !heldAtRead || down !== null) {
        woken = await this.#waiters.wait(id, {
          timeoutMs: Math.min(left, down !== null ? STORE_RETRY_MS : held ? left : this.#pollMs),
          signal,
        });
      }
      heldAtRead = this.#active.get(id) !== undefined;
      try {
        // Until one read answered, the owner is not known to match.
        const now = pedido === null
          ? await read(options.owner)
          : await read(undefined, !woken && down === null);
        if (now === null && pedido === null) throw notFound(id);
        pedido = now ?? pedido;
        down = null;
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error;
        down = error;
      }
    }
    return { ok: true, pedido };
  }

  /**
   * The reply of a wait whose time is up, given once the requests before it
   * on its connection are answered: the order read again then (finished: no
   * `timeout`), so that a wait with a short `timeout_ms` pipelined behind a
   * long one is not answered with a state older than the long one's.
   */
  async #atTurn(
    read: () => Promise<Pedido | null>,
    pedido: Pedido,
    turn: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<PedidoStateReply> {
    const { promise: gone, resolve } = Promise.withResolvers<void>();
    const onAbort = () => resolve();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.race([turn(), gone]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    if (signal.aborted) return { ok: true, pedido, timeout: true };
    const now = (await read()) ?? pedido;
    return FINISHED.has(now.estado)
      ? { ok: true, pedido: now }
      : { ok: true, pedido: now, timeout: true };
  }

  /**
   * LISTAR: recent orders, newest first; a reply longer than
   * `maxReplyBytes` comes in pieces ({@linkcode listOrders}).
   */
  list(filter: ListFilter): Promise<ListarReply | ReplyStream> {
    return listOrders(this.#store, filter, {
      ...this.#listOptions,
      present: (pedido) => this.#active.present(pedido),
      settle: (pedidos) => this.#closedHere(pedidos),
    });
  }

  /**
   * Waits (a moment at most) until the orders whose end is being committed
   * now have given their slots back: STATS after a read that said `listo`,
   * answered beside it, counts that order ended and its slot free (§8). And
   * until the starts being committed are: STATS after a read that said `en
   * proceso` counts that order so.
   */
  async settleEnds(): Promise<void> {
    // Ends begun meanwhile too, a few rounds at most: an order whose end is
    // being committed counts as neither waiting, running nor ended yet.
    for (let round = 0; round < SETTLE_ROUNDS; round++) {
      const closing = this.#active.allCounted();
      if (closing.length === 0) return;
      await this.#within(closing);
    }
  }

  /**
   * Waits until the orders read finished that this daemon still holds
   * `cerrando` (their end committed, their slot not yet given back: the
   * store's readers see a commit before the writer's answer reaches this
   * thread) have given their slots back, so that a PEDIDO sent after the
   * reply finds the slot of an order it was told had ended (§8: as if each
   * request waited for the previous reply). A moment at most.
   */
  async #closedHere(read: readonly Pedido[]): Promise<void> {
    const closing = read.flatMap((pedido) =>
      FINISHED.has(pedido.estado) ? this.#active.closed(pedido.id) ?? [] : []
    );
    await this.#within(closing);
  }

  /** Waits for `closing`, {@linkcode CLOSE_WAIT_MS} at most. */
  async #within(closing: Promise<void>[]): Promise<void> {
    if (closing.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.all(closing),
        new Promise((resolve) => timer = setTimeout(resolve, CLOSE_WAIT_MS)),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** {@inheritDoc runTask} */
  runTask(task: TaskSpec): Promise<TaskReply> {
    const shared = this.#shared;
    return runTask(task, {
      capacity: this.#capacity,
      pool: this.#pool,
      logger: this.#logger,
      maxReplyBytes: this.#listOptions.pieceBytes,
      ...(shared === null ? {} : { clusterRoom: () => shared.room() }),
    });
  }

  /**
   * Schedules the orders a previous run left `pendiente` or `en proceso`,
   * in queue order, those it had started put back `pendiente`. They hold
   * capacity like any order, even beyond it.
   *
   * Only reading them must succeed. A write that fails (a full disk) does
   * not stop the start, so that the daemon serves reads meanwhile (and
   * refuses new orders with `internal`): an order whose putting back fails
   * is run all the same, stored `en proceso` as the last run left it until
   * its attempt's own writes record it; an order to end `error` (below)
   * whose end cannot be written has it retried until it is committed, like
   * any order's end.
   *
   * @returns how many were found (scheduled or ended).
   */
  async recover(): Promise<number> {
    // A shared store's unfinished orders are the cluster's queue: claimed, not recovered.
    if (this.#shared) {
      this.#shared.start();
      return 0;
    }
    const all: Pedido[] = await this.#store.unfinished();
    // With a processor module, an attempt cut short by the daemon's end
    // counts (the module may be what ended it: a native crash, an exhausted
    // heap): the order runs again, once past --max-intentos at most, then
    // ends `error` rather than take the daemon down at every start.
    const exhausted = (p: Pedido) =>
      this.#processor && p.estado === "en proceso" && this.#retry.endsAfterCut(p.intentos);
    const ended = all.filter(exhausted);
    const found = all.filter((pedido) => !exhausted(pedido));
    // An order the last run had started waits in the queue again: stored
    // `pendiente` (its interrupted attempt counted in `intentos`), so that it
    // reads, lists and can be cancelled as the waiting order it is, with no
    // worker of the last run nor its start.
    const interrupted = found.filter((pedido) => pedido.estado === "en proceso");
    await Promise.all(
      interrupted.map((pedido) =>
        this.#storage.track(this.#store.markPending(pedido.id)).catch((error) =>
          this.#logger.repeated("warn", "order.mark_pending_failed", {
            id: pedido.id,
            error: String(error),
          })
        )
      ),
    );
    const rows = found.map((pedido): Pedido =>
      pedido.estado === "en proceso"
        ? { ...pedido, estado: "pendiente", fecha_inicio: null, worker: null }
        : pedido
    );
    // Ended `error` by this run (STATS `errores`), with no processing time of
    // this run's: written before the start ends; when that write fails, it is
    // retried as any order's end is, the order holding a slot meanwhile.
    const unwritten: [Pedido, Outcome][] = [];
    await Promise.all(ended.map(async (pedido) => {
      const outcome: Outcome = {
        estado: "error",
        at: new Date().toISOString(),
        detalle: logInterrupted(this.#logger, {
          id: pedido.id,
          attempt: pedido.intentos,
          maxAttempts: this.#retry.maxAttempts,
        }),
      };
      try {
        await this.#storage.track(this.#store.markFinished(pedido.id, outcome));
        this.#counters.ended("error");
      } catch (error) {
        this.#logger.repeated("error", "order.mark_finished_failed", {
          id: pedido.id,
          error: String(error),
        });
        unwritten.push([pedido, outcome]);
      }
    }));
    const permits = this.#capacity.takeBeyond(unwritten.length + rows.length);
    unwritten.forEach(([pedido, outcome], i) => {
      this.#active.add(pedido, permits[i]!);
      this.#scheduler.endUnrun(pedido.id, outcome);
    });
    rows.forEach((pedido, i) => {
      this.#active.add(pedido, permits[unwritten.length + i]!);
      this.#scheduler.schedule(pedido);
    });
    if (rows.length > 0) this.#logger.info("orders.recovered", { count: rows.length });
    return ended.length + rows.length;
  }

  /**
   * Stops processing (see {@linkcode Scheduler.drain}), then answers the
   * waits still open with the current state. Does not close the store.
   *
   * @returns how many orders were left `pendiente`: on PostgreSQL, the
   * cluster's queue as the database has it then (the orders this daemon
   * gave back and those it never took, for any daemon to run), or null when
   * it cannot be read then (not known: the orders this daemon was running
   * stay `en proceso` in the database until their leases end).
   */
  async drain(timeoutMs: number): Promise<number | null> {
    const left = await (this.#shared ?? this.#scheduler).drain(timeoutMs);
    this.#stopped.abort();
    // The cluster's queue (null when the database does not say in time).
    return this.#shared === null ? left : await this.#shared.stop();
  }

  /** The processing times of orders finished since start, in seconds (metrics, §10). */
  durationHistogram(): HistogramSnapshot {
    return this.#counters.durationHistogram;
  }

  /** `ESTADO esperar` waits open now. */
  get waits(): number {
    return this.#waiters.admitted;
  }

  /**
   * On a shared store, the order part of STATS with the cluster's counts,
   * read from the database (§9); null on a store of this daemon alone.
   */
  clusterStats(): Promise<OrderStats> | null {
    return this.#shared?.stats(this.stats()) ?? null;
  }

  /** The order part of STATS. */
  stats(): OrderStats {
    const { pendientes, enProceso } = this.#active.counts();
    // Orders a drain left for the next start are still pendiente in the store,
    // their slots no longer held (no order is taken while it drains).
    const left = this.#scheduler.leftPending;
    return {
      ...this.#counters.counts,
      pendientes: pendientes + left,
      en_proceso: enProceso,
      capacidad: this.#capacity.capacity,
      libres: Math.max(0, this.#capacity.free - left),
      workers: this.#pool.size,
      duracion_ms: this.#counters.durations,
    };
  }
}
