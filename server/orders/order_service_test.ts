import assert from "node:assert/strict";
import type { ListarReply } from "../protocol/replies.ts";
import type { Pedido } from "../protocol/messages.ts";
import type { ProtocolError } from "../protocol/errors.ts";
import { Capacity } from "../capacity.ts";
import { Logger } from "../log.ts";
import { InlinePool } from "../processing/inline_pool.ts";
import { WorkerPool } from "../processing/worker_pool.ts";
import { processorSource } from "../processing/processor_source.ts";
import { testWith } from "../../tests/permissions.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { OrderService } from "./order_service.ts";
import { RetryPolicy } from "./retry_policy.ts";
import { StoreUnavailableError } from "../store/store_unavailable_error.ts";

const ORDER = { cliente: "Ana", productos: ["pan"], direccion: "C 1", clave: null };

/**
 * A store whose ends of attempts are visible to reads at once, and whose
 * writer answers them 200 ms later, as a database's readers see a commit
 * before its writer says so.
 */
function storeAnsweringEndsLate(): MemoryStore {
  const store = new MemoryStore();
  for (const method of ["markFinished", "markRan"] as const) {
    const write = (store[method] as (...args: unknown[]) => Promise<void>).bind(store);
    (store[method] as unknown) = async (...args: unknown[]) => {
      await write(...args);
      await new Promise((resolve) => setTimeout(resolve, 200));
    };
  }
  return store;
}

/** A service of `capacity` slots on `pool` and `store` that logs nothing, each order taking `ms`. */
function quietService(
  pool: InlinePool,
  capacity: number | Capacity,
  ms: number,
  store: MemoryStore = new MemoryStore(),
): OrderService {
  return new OrderService({
    store,
    capacity: typeof capacity === "number" ? Capacity.create(capacity) : capacity,
    pool,
    logger: new Logger({ level: "error", write: () => {} }),
    processMs: { min: ms, max: ms },
  });
}

/** A daemon of one slot, processing at once, on {@linkcode storeAnsweringEndsLate}. */
function serviceAnsweringEndsLate(pool: InlinePool): { store: MemoryStore; service: OrderService } {
  const store = storeAnsweringEndsLate();
  const service = quietService(pool, 1, 0, store);
  return { store, service };
}

/** Until the store shows order `id` ended `listo` (its writer may not have answered yet). */
async function storedListo(store: MemoryStore, id: number): Promise<void> {
  while ((await store.get(id))?.estado !== "listo") {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("OrderService.status() with esperar answers an order that finished while it was being read, not at its timeout", async () => {
  const store = new MemoryStore();
  // Each read is answered 100 ms late, with the order as it was when asked for.
  const get = store.get.bind(store);
  store.get = async (id, owner) => {
    const seen = await get(id, owner);
    await new Promise((resolve) => setTimeout(resolve, 100));
    return seen;
  };
  await using pool = new InlinePool(1);
  const service = new OrderService({
    store,
    capacity: Capacity.create(10),
    pool,
    logger: new Logger({ level: "error" }),
    processMs: { min: 50, max: 50 },
    pollMs: 60_000, // orders not held here would be read again only after a minute
  });
  try {
    const { id } = await service.submit(ORDER);
    // Read while it runs; it finishes (and wakes no one yet) before the read is answered.
    // Without a wake-up it would be read again only at the end of its 20 s wait.
    const stop = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = await Promise.race([
      service.status(id, { esperar: true, timeoutMs: 20_000, signal: stop.signal }),
      new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), 10_000)),
    ]).finally(() => {
      clearTimeout(timer);
      stop.abort();
    });
    assert.notEqual(reply, "late", "answered as it finished, not at the end of its wait");
    assert.equal(reply !== "late" && reply.pedido.estado, "listo");
  } finally {
    await service.drain(1000);
  }
});

Deno.test("OrderService.cancel() twice at once on an order waiting out its retry backoff: when the first fails to store, the order is cancelled by neither or run once, never both", async () => {
  const store = new MemoryStore();
  await using pool = new InlinePool(1);
  let attempts = 0;
  const submit = pool.submit.bind(pool);
  pool.submit = (job, options) => {
    // The first attempt fails at once: the order waits out a minute's backoff.
    if (++attempts === 1) {
      options?.onStart?.(1);
      return Promise.reject(new Error("first attempt fails"));
    }
    return submit(job, options);
  };
  // The first cancel's write fails; the second's commits after it.
  let cancels = 0;
  const cancel = store.cancel.bind(store);
  store.cancel = async (id, at, owner) => {
    if (++cancels === 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error("SQLITE_BUSY: database is locked");
    }
    const result = cancel(id, at, owner);
    await new Promise((resolve) => setTimeout(resolve, 6));
    return result;
  };
  const service = new OrderService({
    store,
    capacity: Capacity.create(4),
    pool,
    logger: new Logger({ level: "error", write: () => {} }),
    processMs: { min: 30, max: 30 },
    retry: new RetryPolicy({ maxAttempts: 3, baseMs: 60_000 }),
  });
  try {
    const { id } = await service.submit(ORDER);
    while ((await store.get(id))?.intentos !== 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const replies = await Promise.allSettled([service.cancel(id), service.cancel(id)]);
    const cancelled = replies.some((r) => r.status === "fulfilled");
    await service.status(id, { esperar: true, timeoutMs: 5000 });
    const final = await store.get(id);
    if (cancelled) assert.deepEqual([final?.estado, attempts], ["cancelado", 1]);
    else assert.deepEqual([final?.estado, attempts], ["listo", 2], "run once more, not twice");
    const stats = service.stats();
    assert.equal(stats.listos + stats.cancelados, 1, JSON.stringify(stats));
    assert.equal(stats.libres, stats.capacidad, "every slot back");
  } finally {
    await service.drain(1000);
  }
});

Deno.test("OrderService.status(): a wait outlives a store away for a moment; a plain read and a wait whose store stays away answer unavailable", async () => {
  const store = new MemoryStore();
  let away = false;
  const get = store.get.bind(store);
  store.get = (id, owner) =>
    away ? Promise.reject(new StoreUnavailableError("get", "connection refused")) : get(id, owner);
  await using pool = new InlinePool(1);
  const service = new OrderService({
    store,
    capacity: Capacity.create(10),
    pool,
    logger: new Logger({ level: "error" }),
    processMs: { min: 300, max: 300 },
    pollMs: 50,
  });
  try {
    const { id } = await service.submit(ORDER);
    away = true;
    await assert.rejects(service.status(id), StoreUnavailableError);
    // Away when the wait starts and for a while after: it reads again until the store answers.
    const waiting = service.status(id, { esperar: true, timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 150));
    away = false;
    const reply = await waiting;
    assert.equal(reply.pedido.estado, "listo");
    assert.equal(reply.timeout, undefined);
    // Away to the end: no state is made up, the outage is the answer.
    const second = await service.submit(ORDER);
    away = true;
    await assert.rejects(
      service.status(second.id, { esperar: true, timeoutMs: 200 }),
      StoreUnavailableError,
    );
    away = false;
  } finally {
    await service.drain(1000);
  }
});

Deno.test("OrderService: an order read as ended has given its slot back: a PEDIDO after ESTADO or LISTAR said listo is not refused queue_full", async () => {
  for (const how of ["ESTADO", "ESTADO esperar", "LISTAR"] as const) {
    await using pool = new InlinePool(1);
    const { store, service } = serviceAnsweringEndsLate(pool);
    try {
      const { id } = await service.submit(ORDER);
      await storedListo(store, id);
      const seen = how === "LISTAR"
        ? ((await service.list({ limit: 1 })) as ListarReply).pedidos[0]
        : (await service.status(id, { esperar: how === "ESTADO esperar", timeoutMs: 5_000 }))
          .pedido;
      assert.equal(seen?.estado, "listo", how);
      const next = await service.submit(ORDER);
      assert.equal(next.ok, true, `${how}: the slot of the order it saw listo is free`);
    } finally {
      await service.drain(1000);
    }
  }
});

Deno.test("OrderService.submit(): the same clave twice at a full daemon whose slot comes free during the first's lookup: the first is stored, the second answers duplicado, never queue_full", async () => {
  const store = new MemoryStore();
  // Lookups answered 50 ms late, as through a busy writer.
  const find = store.findByClave.bind(store);
  store.findByClave = async (clave) => {
    const found = await find(clave);
    await new Promise((resolve) => setTimeout(resolve, 50));
    return found;
  };
  await using pool = new InlinePool(1);
  const capacity = Capacity.create(1);
  const service = quietService(pool, capacity, 60_000, store);
  try {
    const held = capacity.tryTake()!; // the daemon is full
    const order = { ...ORDER, clave: "k-1" };
    const first = service.submit(order);
    const second = service.submit(order);
    setTimeout(() => held.release(), 10); // a slot comes free while both look
    const [a, b] = await Promise.allSettled([first, second]);
    assert.equal(a.status, "fulfilled", String((a as PromiseRejectedResult).reason));
    assert.equal(b.status, "fulfilled", String((b as PromiseRejectedResult).reason));
    const [one, two] = [
      (a as PromiseFulfilledResult<unknown>).value as Record<string, unknown>,
      (b as PromiseFulfilledResult<unknown>).value as Record<string, unknown>,
    ];
    assert.equal(one.duplicado, undefined);
    assert.deepEqual([two.id, two.duplicado], [one.id, true]);
  } finally {
    await service.drain(50);
  }
});

Deno.test("OrderService.settleEnds(): STATS answered beside a read that saw an order listo counts it ended and its slot free", async () => {
  await using pool = new InlinePool(1);
  const { store, service } = serviceAnsweringEndsLate(pool);
  try {
    const { id } = await service.submit(ORDER);
    await storedListo(store, id);
    assert.equal(service.stats().libres, 0, "its end not yet answered by the writer");
    // ESTADO and STATS pipelined: both start now.
    const [estado, stats] = await Promise.all([
      service.status(id),
      service.settleEnds().then(() => service.stats()),
    ]);
    assert.equal(estado.pedido.estado, "listo");
    assert.deepEqual([stats.libres, stats.listos], [1, 1]);
  } finally {
    await service.drain(1000);
  }
});

Deno.test("OrderService.settleEnds(): an order whose end began while STATS waited is waited for too, not counted as neither running nor ended", async () => {
  await using pool = new InlinePool(2);
  const store = storeAnsweringEndsLate();
  const service = quietService(pool, 2, 0, store);
  try {
    const first = await service.submit(ORDER);
    await storedListo(store, first.id);
    const settled = service.settleEnds().then(() => service.stats());
    // Another order ends while STATS waits for the first's end.
    const second = await service.submit(ORDER);
    await storedListo(store, second.id);
    const stats = await settled;
    assert.deepEqual(
      [stats.pendientes, stats.en_proceso, stats.listos, stats.libres],
      [0, 0, 2, 2],
      "each order counted once: waiting, running or ended",
    );
  } finally {
    await service.drain(1000);
  }
});

Deno.test("OrderService.stats() while it drains counts the orders left for the next start as pendientes, not as free slots", async () => {
  await using pool = new InlinePool(1);
  const service = quietService(pool, 3, 60_000);
  await service.submit(ORDER);
  await service.submit(ORDER);
  while (service.stats().en_proceso === 0) await new Promise((r) => setTimeout(r, 5));
  const draining = service.drain(300);
  await new Promise((resolve) => setTimeout(resolve, 50)); // the queued one is left
  const during = service.stats();
  assert.deepEqual([during.pendientes, during.en_proceso, during.libres], [1, 1, 1]);
  assert.equal(await draining, 2);
  const after = service.stats();
  assert.deepEqual([after.pendientes, after.en_proceso, after.libres], [2, 0, 1]);
});

Deno.test("OrderService: an attempt whose start could not be written still ends with its start recorded (intentos, fecha_inicio, worker)", async () => {
  const store = new MemoryStore();
  store.markStarted = () => Promise.reject(new Error("database or disk is full"));
  await using pool = new InlinePool(1);
  const service = quietService(pool, 10, 30, store);
  try {
    const { id } = await service.submit(ORDER);
    await storedListo(store, id);
    const row = await store.get(id);
    assert.equal(row?.intentos, 1, "the attempt counts");
    assert.equal(row?.worker, 1);
    assert.ok(row?.fecha_inicio !== null && row?.duracion_ms !== null, JSON.stringify(row));
  } finally {
    await service.drain(1000);
  }
});

/** A logger that keeps its lines, on a clock the test moves. */
function keptLines(level: "debug" | "info" = "info") {
  const lines: string[] = [];
  let now = Date.parse("2026-01-01T00:00:00Z");
  const logger = new Logger({ level, write: (line) => lines.push(line), now: () => new Date(now) });
  const advance = (ms: number) => void (now += ms);
  const of = (event: string) => lines.filter((line) => line.split(" ")[2] === event);
  return { logger, advance, of };
}

Deno.test("OrderService.submit(): queue_full refusals are logged at warn with the capacity, one line per 10 s with the count held back", async () => {
  const { logger, advance, of } = keptLines();
  await using pool = new InlinePool(1);
  const { promise: held, resolve: release } = Promise.withResolvers<string>();
  pool.submit = () => held; // the one order accepted runs until the end of the test
  const service = new OrderService({
    store: new MemoryStore(),
    capacity: Capacity.create(1),
    pool,
    logger,
  });
  try {
    assert.equal((await service.submit(ORDER)).ok, true);
    for (let i = 0; i < 3; i++) {
      await assert.rejects(service.submit(ORDER), { code: "queue_full" });
    }
    assert.equal(of("intake.queue_full").length, 1, "the first refusal, the next two held back");
    assert.match(of("intake.queue_full")[0]!, / WARN intake\.queue_full capacity=1$/);
    advance(10_000);
    await assert.rejects(service.submit(ORDER), { code: "queue_full" });
    assert.equal(of("intake.queue_full").length, 2);
    assert.match(of("intake.queue_full")[1]!, / WARN intake\.queue_full capacity=1 repeated=2$/);
  } finally {
    release("");
    await service.drain(1000);
  }
});

Deno.test("OrderService: an order failing for good is logged order.failed at warn; an attempt to be retried, order.attempt_failed at info", async () => {
  const { logger, of } = keptLines();
  const store = new MemoryStore();
  await using pool = new InlinePool(1);
  pool.submit = (_job, options) => {
    options?.onStart?.(1);
    return Promise.reject(new Error("processor crashed"));
  };
  const service = new OrderService({
    store,
    capacity: Capacity.create(1),
    pool,
    logger,
    retry: new RetryPolicy({ maxAttempts: 2, baseMs: 0 }),
  });
  try {
    const { id } = await service.submit(ORDER);
    await service.status(id, { esperar: true, timeoutMs: 5000 });
    assert.equal((await store.get(id))?.estado, "error");
    assert.deepEqual(of("order.attempt_failed").map((line) => line.split(" ")[1]), ["INFO"]);
    assert.match(of("order.attempt_failed")[0]!, /attempt=1 .*retry_in_ms=0$/);
    assert.equal(of("order.failed").length, 1);
    assert.match(
      of("order.failed")[0]!,
      new RegExp(` WARN order\\.failed id=${id} attempt=2 error="processor crashed"$`),
    );
  } finally {
    await service.drain(1000);
  }
});

Deno.test("OrderService.submit(): after writes failed (a full disk), the first that succeeds logs storage.recovered once", async () => {
  const { logger, of } = keptLines();
  const store = new MemoryStore();
  let full = true;
  const insert = store.insert.bind(store);
  store.insert = (...args) =>
    full ? Promise.reject(new Error("database or disk is full")) : insert(...args);
  await using pool = new InlinePool(1);
  const service = new OrderService({
    store,
    capacity: Capacity.create(4),
    pool,
    logger,
    processMs: { min: 0, max: 0 },
  });
  try {
    await assert.rejects(service.submit(ORDER), { code: "internal" });
    await assert.rejects(service.submit(ORDER), { code: "internal" });
    assert.equal(of("storage.recovered").length, 0, "not while writes fail");
    full = false;
    await service.submit(ORDER);
    await service.submit(ORDER);
    assert.deepEqual(of("storage.recovered").map((line) => line.split(" ").slice(1).join(" ")), [
      "INFO storage.recovered failed_writes=2",
    ]);
  } finally {
    await service.drain(1000);
  }
});

/**
 * A service of one worker on `store`, with ORDER taken in and run (in no
 * time) while its end is not written yet: the store still says pendiente.
 */
async function ranWithEndUnwritten(
  store: MemoryStore,
): Promise<{ pool: InlinePool; service: OrderService; id: number }> {
  // Ran: a write of its end was tried (a zero-time attempt's start goes with its end).
  let endsTried = 0;
  const markRan = store.markRan.bind(store);
  const markFinished = store.markFinished.bind(store);
  store.markRan = (...args) => (endsTried++, markRan(...args));
  store.markFinished = (...args) => (endsTried++, markFinished(...args));
  const pool = new InlinePool(1);
  const service = quietService(pool, 2, 0, store);
  try {
    const { id } = await service.submit(ORDER);
    while (endsTried === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(service.stats().libres, 1, "its slot held");
    assert.equal((await store.get(id))?.estado, "pendiente");
    return { pool, service, id };
  } catch (error) {
    await service.drain(100);
    await pool[Symbol.asyncDispose]();
    throw error;
  }
}

Deno.test("OrderService.cancel() of an order that ran while its end is being written answers not_cancellable with the order listo, not pendiente", async () => {
  const store = new MemoryStore();
  // Each end takes 300 ms to be written: the order is held, its end on its way.
  let ending: Promise<void> = Promise.resolve();
  const slowly =
    <A extends unknown[]>(write: (...args: A) => Promise<void>) => (...args: A): Promise<void> =>
      ending = new Promise((resolve) => setTimeout(resolve, 300)).then(() => write(...args));
  store.markRan = slowly(store.markRan.bind(store));
  store.markFinished = slowly(store.markFinished.bind(store));
  const { pool, service, id } = await ranWithEndUnwritten(store);
  await using _pool = pool;
  try {
    await assert.rejects(service.cancel(id), (error: ProtocolError) => {
      assert.equal(error.code, "not_cancellable");
      const pedido = error.extra?.pedido as Pedido;
      assert.deepEqual([pedido.estado, pedido.intentos], ["listo", 1], error.message);
      assert.equal(
        error.message,
        `❌ El pedido ${id} está listo: solo se cancela un pedido pendiente.`,
      );
      return true;
    });
    await ending;
  } finally {
    await service.drain(1000);
  }
});

Deno.test("OrderService.cancel() of an order that ran but whose end cannot be written (a full disk) says it ran, not that it is pendiente", async () => {
  const store = new MemoryStore();
  const full = () => Promise.reject(new Error("database or disk is full"));
  store.markRan = full;
  store.markFinished = full;
  const { pool, service, id } = await ranWithEndUnwritten(store);
  await using _pool = pool;
  try {
    await assert.rejects(service.cancel(id), (error: Error & { code?: string }) => {
      assert.equal(error.code, "not_cancellable");
      assert.equal(
        error.message,
        `❌ El pedido ${id} ya se procesó (su fin se está guardando): solo se cancela un pedido pendiente.`,
      );
      return true;
    });
  } finally {
    await service.drain(100);
  }
});

Deno.test("OrderService.status(): many waits on one order hold it once: their replies share one object, of the order as it ended", async () => {
  await using pool = new InlinePool(1);
  const service = quietService(pool, 10, 200);
  try {
    const { id } = await service.submit(ORDER);
    const waits = Array.from(
      { length: 40 },
      () => service.status(id, { esperar: true, timeoutMs: 10_000 }),
    );
    // Timed out at once, while it runs: one object for all of them too.
    const early = await Promise.all(
      Array.from({ length: 5 }, () => service.status(id, { esperar: true, timeoutMs: 0 })),
    );
    const replies = await Promise.all(waits);
    for (const reply of replies) {
      assert.equal(reply.pedido.estado, "listo");
      assert.equal(reply.timeout, undefined);
      assert.equal(reply.pedido, replies[0]!.pedido, "one object for every wait");
    }
    for (const reply of early) {
      assert.equal(reply.timeout, true);
      assert.notEqual(reply.pedido.estado, "listo");
      assert.equal(reply.pedido, early[0]!.pedido);
    }
  } finally {
    await service.drain(1000);
  }
});

testWith("read")(
  "OrderService: a processor module is not run while its attempt's start cannot be written (a full disk); it runs, counted, once it can",
  async () => {
    const module = new URL("../../tests/fixtures/processors/scripted.ts", import.meta.url);
    const store = new MemoryStore();
    let diskFull = true;
    const markStarted = store.markStarted.bind(store);
    store.markStarted = (id, worker, at) =>
      diskFull
        ? Promise.reject(new Error("database or disk is full"))
        : markStarted(id, worker, at);
    await using pool = await WorkerPool.start({
      size: 1,
      processor: processorSource(module.pathname),
      logger: new Logger({ level: "error", write: () => {} }),
    });
    const service = new OrderService({
      store,
      capacity: Capacity.create(4),
      pool,
      logger: new Logger({ level: "error", write: () => {} }),
      processor: { timeoutMs: 10_000 },
    });
    try {
      const { id } = await service.submit({ ...ORDER, cliente: "ok" });
      // Before, the module ran at once, its start unrecorded: after a kill, the
      // restart ran it again with the same intento.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const waiting = await store.get(id);
      assert.equal(waiting?.estado, "pendiente", JSON.stringify(waiting));
      assert.equal(waiting?.intentos, 0, "no attempt ran");
      diskFull = false;
      await storedListo(store, id);
      const done = await store.get(id);
      assert.equal(done?.intentos, 1);
      assert.equal((done?.resultado as { intento?: number } | null)?.intento, 1, "run once, as 1");
    } finally {
      await service.drain(1000);
    }
  },
);

Deno.test("OrderService.settleEnds(): STATS on a full disk does not wait for the end that cannot be written: it answers, counting that order pendiente", async () => {
  const store = new MemoryStore();
  let tries = 0;
  const { promise: failedOnce, resolve } = Promise.withResolvers<void>();
  const full = () => {
    tries++;
    resolve();
    return Promise.reject(new Error("database or disk is full"));
  };
  store.markRan = full;
  store.markFinished = full;
  await using pool = new InlinePool(1);
  const service = quietService(pool, 2, 0, store);
  try {
    await service.submit(ORDER);
    await failedOnce;
    // Its end is tried again 50, 100, … ms apart: STATS answers before two more tries.
    const before = tries;
    const twoMore = (async () => {
      while (tries < before + 2) await new Promise((r) => setTimeout(r, 5));
      return "two more tries";
    })();
    const first = await Promise.race([service.settleEnds().then(() => "stats"), twoMore]);
    assert.equal(first, "stats", "STATS waited for the disk");
    const stats = service.stats();
    assert.deepEqual([stats.pendientes, stats.en_proceso, stats.listos, stats.libres], [
      1,
      0,
      0,
      1,
    ]);
    await twoMore;
  } finally {
    await service.drain(100);
  }
});
