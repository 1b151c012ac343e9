import assert from "node:assert/strict";
import { InlinePool } from "./inline_pool.ts";
import { PoolClosedError, StartNotRecordedError } from "./worker_pool.ts";
import { newPedido } from "../store/new_pedido.ts";
import type { Job } from "../../workers/processor_messages.ts";

function pedido(id: number) {
  return newPedido(id, { cliente: "Ana", productos: ["pan"], direccion: "C 1", clave: null }, "");
}

function order(id: number, delayMs: number): Job {
  return { kind: "order", pedido: pedido(id), delayMs };
}

Deno.test("InlinePool runs jobs first in first out, at most size at once, each on a numbered slot", async () => {
  await using pool = new InlinePool(2);
  const started: [number, number][] = [];
  let most = 0;
  const done = await Promise.all([1, 2, 3, 4, 5].map((id) =>
    pool.submit(order(id, 5), {
      onStart: (slot) => {
        started.push([id, slot]);
        most = Math.max(most, pool.running);
      },
    })
  ));
  assert.deepEqual(done, [null, null, null, null, null]);
  assert.deepEqual(started.map(([id]) => id), [1, 2, 3, 4, 5]);
  assert.deepEqual(started.slice(0, 2).map(([, slot]) => slot), [1, 2]);
  assert.equal(most, 2);
  assert.equal(await pool.submit({ kind: "task", task: { name: "sum", args: [1, 2] } }), 3);
});

Deno.test("InlinePool withdraws a queued job, not a running one, and close() cuts a running one short", async () => {
  const pool = new InlinePool(1);
  const first = order(1, 60_000);
  const running = pool.submit(first);
  const second = order(2, 0);
  const queued = pool.submit(second);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(pool.withdraw(first, new Error("no")), false, "it is running");
  assert.equal(pool.withdraw(second, new Error("cancelado")), true);
  await assert.rejects(queued, /cancelado/);
  assert.equal(pool.withdraw(second, new Error("again")), false);
  await pool.close();
  await assert.rejects(running, PoolClosedError);
  await assert.rejects(pool.submit(order(3, 0)), PoolClosedError);
});

Deno.test("InlinePool refuses a processor module's job", async () => {
  await using pool = new InlinePool(1);
  await assert.rejects(
    pool.submit({ kind: "process", pedido: pedido(1), timeoutMs: 1000 }),
    /Cannot run a processor module/,
  );
});

Deno.test("InlinePool does not run a job whose start could not be written (onStart gives false), and frees its slot", async () => {
  await using pool = new InlinePool(1);
  // Were it run, it would hold the only slot for 30 s.
  const unrecorded = pool.submit(order(1, 30_000), { onStart: () => Promise.resolve(false) });
  await assert.rejects(unrecorded, StartNotRecordedError);
  assert.equal(await pool.submit(order(2, 0)), null, "the slot is free at once");
});
