import assert from "node:assert/strict";
import { PoolClosedError, WorkerCrashError, WorkerPool } from "./pool.ts";
import type { Job } from "./processor_messages.ts";
import type { Pedido } from "../server/protocol/messages.ts";
import { Logger } from "../server/log.ts";

const FAULTY = new URL("../tests/fixtures/faulty_processor_worker.ts", import.meta.url);
const quiet = new Logger({ level: "error", write: () => {} });

function order(id: number, cliente = "Ana", delayMs = 0): Job {
  const pedido: Pedido = {
    id,
    clave: null,
    cliente,
    productos: ["pan"],
    direccion: "C 1",
    estado: "pendiente",
    fecha_recibido: new Date().toISOString(),
    fecha_inicio: null,
    fecha_fin: null,
    worker: null,
    intentos: 0,
    detalle_error: null,
    duracion_ms: null,
  };
  return { kind: "order", pedido, delayMs };
}

Deno.test("WorkerPool runs jobs first-in first-out, at most `size` at once", async () => {
  await using pool = await WorkerPool.start({ size: 2 });
  const started: number[] = [];
  let peak = 0;
  await Promise.all(Array.from({ length: 6 }, (_, i) =>
    pool.submit(order(i, "Ana", 60), {
      onStart: () => {
        started.push(i);
        peak = Math.max(peak, pool.running);
      },
    })));
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  assert.equal(peak, 2);
});

Deno.test("WorkerPool runs tasks and answers their results", async () => {
  await using pool = await WorkerPool.start({ size: 1 });
  assert.equal(await pool.submit({ kind: "task", task: { name: "sum", args: [1, 2, 3.5] } }), 6.5);
  assert.equal(await pool.submit({ kind: "task", task: { name: "upper", s: "hola" } }), "HOLA");
});

Deno.test("WorkerPool replaces a worker that throws, at the same number, and rejects its job", async () => {
  await using pool = await WorkerPool.start({ size: 2, moduleUrl: FAULTY, logger: quiet });
  let crashedOn = 0;
  await assert.rejects(
    pool.submit(order(1, "throw"), { onStart: (w) => crashedOn = w }),
    (error) => error instanceof WorkerCrashError && /boom/.test(error.message),
  );
  assert.equal(pool.crashes, 1);
  assert.equal(pool.size, 2);
  // The pool keeps working at full size, on both worker numbers.
  const workers = new Set<number>();
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      pool.submit(order(10 + i, "Ana", 50), {
        onStart: (w) => workers.add(w),
      })),
  );
  assert.deepEqual(workers, new Set([1, 2]));
  assert.ok(crashedOn === 1 || crashedOn === 2);
});

Deno.test("WorkerPool treats a worker that goes silent as crashed after the stall time", async () => {
  await using pool = await WorkerPool.start({
    size: 1,
    moduleUrl: FAULTY,
    stallMs: 200,
    logger: quiet,
  });
  await assert.rejects(pool.submit(order(1, "exit")), WorkerCrashError);
  assert.equal(await pool.submit(order(2)), null, "the replacement works");
});

Deno.test("WorkerPool reports a job that fails without killing its worker", async () => {
  await using pool = await WorkerPool.start({ size: 1, moduleUrl: FAULTY, logger: quiet });
  await assert.rejects(pool.submit(order(1, "fail")), /cannot process/);
  assert.equal(pool.crashes, 0);
  assert.equal(await pool.submit(order(2)), null);
});

Deno.test("WorkerPool.stop() rejects queued jobs and lets running ones finish", async () => {
  const pool = await WorkerPool.start({ size: 1 });
  try {
    const running = pool.submit(order(1, "Ana", 100));
    const queued = pool.submit(order(2));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const stopping = pool.stop();
    await assert.rejects(queued, PoolClosedError);
    assert.equal(await running, null);
    await stopping;
    await assert.rejects(pool.submit(order(3)), PoolClosedError);
  } finally {
    await pool.close();
  }
});

Deno.test("WorkerPool.start() fails clearly when the worker module cannot load", async () => {
  await assert.rejects(
    WorkerPool.start({ size: 1, moduleUrl: new URL("./no_such_worker.ts", import.meta.url) }),
    /Cannot start worker 1/,
  );
});
