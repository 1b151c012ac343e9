import assert from "node:assert/strict";
import { Capacity } from "../capacity.ts";
import { Logger } from "../log.ts";
import type { ProcessorPool } from "../processing/processor_pool.ts";
import type { Pedido } from "../protocol/messages.ts";
import type { ClaimedOrder, Lease, SharedQueue } from "../store/shared_queue.ts";
import type { OrderStore } from "../store/store.ts";
import { StoreUnavailableError } from "../store/store_unavailable_error.ts";
import { ActiveOrders } from "./active_orders.ts";
import { FinishWaiters } from "./finish_waiters.ts";
import { RunCounters } from "./run_counters.ts";
import { SharedAttempts } from "./shared_attempts.ts";

function claimed(id: number, attempt: number): ClaimedOrder {
  const pedido = {
    id,
    clave: null,
    cliente: "Ana",
    productos: ["pan"],
    direccion: "Calle 1",
    estado: "en proceso",
    fecha_recibido: new Date().toISOString(),
    fecha_inicio: null,
    fecha_fin: null,
    worker: null,
    intentos: attempt,
    detalle_error: null,
    resultado: null,
  } as unknown as Pedido;
  return { id, attempt, pedido, takenOver: attempt > 1 };
}

/** A row as the database holds it, for the fake store. */
interface Row {
  estado: string;
  intentos: number;
}

/**
 * SharedAttempts on a pool whose jobs end when the test says, and a store
 * whose finishes are fenced by attempt against `rows`, unless `finish`
 * says otherwise.
 */
function attemptsOn(
  rows: Map<number, Row>,
  finish?: (lease: Lease, fenced: () => boolean) => Promise<boolean>,
) {
  const jobs: { id: number; end: () => void }[] = [];
  const withdrawn: unknown[] = [];
  const pool = {
    size: 2,
    submit(job: { pedido: Pedido }, hooks: { onStart?: (worker: number) => void } = {}) {
      const { promise, resolve } = Promise.withResolvers<undefined>();
      jobs.push({ id: job.pedido.id, end: () => resolve(undefined) });
      hooks.onStart?.(jobs.length);
      return promise;
    },
    withdraw: (job: unknown) => {
      withdrawn.push(job);
      return false;
    },
  } as unknown as ProcessorPool;
  const write = (lease: Lease) => {
    const row = rows.get(lease.id);
    if (row?.estado !== "en proceso" || row.intentos !== lease.attempt) return false;
    row.estado = "listo";
    return true;
  };
  const store = {
    get: (id: number) => Promise.resolve(rows.has(id) ? { id, ...rows.get(id) } : null),
    markAttemptStarted: () => Promise.resolve(true),
    releaseAttempt: () => Promise.resolve(true),
    finishAttempt: (lease: Lease) =>
      finish ? finish(lease, () => write(lease)) : Promise.resolve(write(lease)),
  } as unknown as SharedQueue & Pick<OrderStore, "get">;
  const capacity = Capacity.create(10);
  const counters = new RunCounters();
  const waiters = new FinishWaiters();
  const attempts = new SharedAttempts({
    store,
    pool,
    capacity,
    active: new ActiveOrders(),
    counters,
    waiters,
    logger: new Logger({ level: "error" }),
    processMs: { min: 5, max: 5 },
  });
  return { attempts, jobs, withdrawn, capacity, counters, waiters };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

Deno.test("SharedAttempts: an order claimed again while its last attempt here settles runs once that one has let go, and gives back every slot", async () => {
  const rows = new Map([[9, { estado: "en proceso", intentos: 1 }]]);
  const { attempts, jobs, capacity } = attemptsOn(rows);
  attempts.run(claimed(9, 1));
  rows.get(9)!.intentos = 2; // the database moved on to a newer attempt, leased here
  attempts.run(claimed(9, 2));
  assert.equal(jobs.length, 1, "one attempt of an order at a time");
  assert.equal(attempts.held, 2, "the claim's room stays taken");
  assert.deepEqual(attempts.leases(), [{ id: 9, attempt: 2 }], "the newer lease is renewed");
  jobs[0]!.end(); // attempt 1 ends: its write is fenced
  await settle();
  assert.equal(jobs.length, 2, "attempt 2 runs now");
  assert.deepEqual(attempts.leases(), [{ id: 9, attempt: 2 }]);
  jobs[1]!.end();
  await settle();
  assert.equal(rows.get(9)!.estado, "listo");
  assert.equal(attempts.held, 0);
  assert.equal(capacity.used, 0, "no slot of --max-pedidos left taken");
});

Deno.test("SharedAttempts: a finish committed whose answer was lost counts as listo and wakes its waiters, though its retry is fenced", async () => {
  const rows = new Map([[7, { estado: "en proceso", intentos: 1 }]]);
  let tries = 0;
  const { attempts, jobs, counters, waiters } = attemptsOn(rows, (_lease, write) => {
    tries++;
    // The first commit is made, then its connection dies before the answer.
    if (tries === 1 && write()) {
      return Promise.reject(new StoreUnavailableError("finish attempt", "connection closed"));
    }
    return Promise.resolve(write());
  });
  attempts.run(claimed(7, 1));
  const woken = waiters.wait(7, { timeoutMs: 5000 });
  jobs[0]!.end();
  assert.equal(await woken, true, "ESTADO esperar answers at once, not at its timeout");
  await settle();
  assert.equal(tries, 2);
  assert.equal(counters.counts.listos, 1, "STATS counts it");
});

Deno.test("SharedAttempts: a lease lost by an attempt that settled here is not the newer attempt's", async () => {
  const rows = new Map([[5, { estado: "en proceso", intentos: 2 }]]);
  const { attempts, jobs, withdrawn } = attemptsOn(rows);
  attempts.run(claimed(5, 2));
  // A renewal sent for attempt 1, before it was released and claimed again here, answers now.
  attempts.lost([{ id: 5, attempt: 1 }]);
  assert.deepEqual(withdrawn, [], "attempt 2's job is left alone");
  attempts.lost([{ id: 5, attempt: 2 }]);
  assert.equal(withdrawn.length, 1, "attempt 2's own lease lost: its job is withdrawn if queued");
  jobs[0]!.end();
  await settle();
  assert.equal(rows.get(5)!.estado, "listo", "attempt 2 recorded its end");
});

Deno.test("SharedAttempts: a running attempt whose lease is lost gives its slot back at once, though it runs on to its end", async () => {
  const rows = new Map([[7, { estado: "en proceso", intentos: 1 }]]);
  const { attempts, jobs, capacity } = attemptsOn(rows);
  attempts.run(claimed(7, 1));
  assert.equal(capacity.free, 9);
  rows.delete(7); // gone: an operator emptied the table
  attempts.lost([{ id: 7, attempt: 1 }]);
  assert.equal(capacity.free, 10, "the slot is back");
  assert.equal(attempts.held, 1, "the worker is still busy with it");
  jobs[0]!.end();
  await settle();
  assert.equal(attempts.held, 0);
  assert.equal(capacity.free, 10, "given back once, not twice");
});
