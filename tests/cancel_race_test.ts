/**
 * CANCELAR racing the workers (§2.8): orders are cancelled while workers
 * take them from the queue. For each order exactly one side wins: the
 * cancel (`ok`, the order `cancelado`, never started) or the worker
 * (`not_cancellable`, the order processed once and `listo`). Every slot
 * comes back. Runs with the simulated processor (zero-time orders go in
 * runs) and with a processor module (one order per message).
 */
import assert from "node:assert/strict";
import type { ServerSettings } from "../server/server.ts";
import { rawConnect, startInProcess, waitUntil } from "./test_util.ts";
import { testWith } from "./permissions.ts";
import { freshDatabase, pgTest } from "./postgres_util.ts";

const SCRIPTED = new URL("./fixtures/processors/scripted.ts", import.meta.url).pathname;
const ORDERS = 60;

/** STATS asked on `conn`, its counts. */
async function statsOn(
  conn: Awaited<ReturnType<typeof rawConnect>>,
): Promise<Record<string, number>> {
  await conn.write('{"op":"STATS"}\n');
  return (await conn.readLine())?.stats as Record<string, number>;
}

async function race(overrides: Partial<ServerSettings>, cliente: string): Promise<void> {
  await using daemon = await startInProcess({ workers: 2, maxPedidos: ORDERS, ...overrides });
  await using orders = await rawConnect(daemon.port);
  await using cancels = await rawConnect(daemon.port);
  const order = JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1" });
  await orders.write(`${order}\n`.repeat(ORDERS));
  // Each order is cancelled as soon as its id is known, while the workers take the queue.
  const ids: number[] = [];
  for (let i = 0; i < ORDERS; i++) {
    const reply = await orders.readLine();
    assert.equal(reply?.ok, true, JSON.stringify(reply));
    ids.push(reply?.id as number);
    await cancels.write(`{"op":"CANCELAR","id":${reply?.id}}\n`);
  }
  const outcomes = { cancelled: 0, processed: 0 };
  for (const id of ids) {
    const reply = await cancels.readLine();
    const seen = reply?.pedido as Record<string, unknown>;
    assert.equal(seen?.id, id);
    await orders.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":15000}\n`);
    const final = (await orders.readLine(17_000))?.pedido as Record<string, unknown>;
    if (reply?.ok === true) {
      outcomes.cancelled++;
      assert.equal(seen.estado, "cancelado");
      assert.deepEqual(
        [final.estado, final.intentos, final.worker, final.fecha_inicio],
        ["cancelado", 0, null, null],
        `order ${id} was cancelled: it never ran`,
      );
    } else {
      outcomes.processed++;
      assert.equal(reply?.error, "not_cancellable", JSON.stringify(reply));
      assert.ok(["en proceso", "listo"].includes(seen.estado as string), JSON.stringify(seen));
      assert.deepEqual(
        [final.estado, final.intentos],
        ["listo", 1],
        `order ${id} was taken by a worker: processed once`,
      );
    }
  }
  // The first order is on a worker before its CANCELAR arrives; the last ones wait behind it.
  assert.ok(outcomes.processed >= 1 && outcomes.cancelled >= 1, JSON.stringify(outcomes));
  const stats = await statsOn(orders);
  assert.equal(stats.cancelados, outcomes.cancelled);
  assert.equal(stats.listos, outcomes.processed);
  assert.equal(stats.libres, stats.capacidad, "every slot came back");
}

Deno.test("CANCELAR racing the workers: each order is either cancelled unprocessed or processed once (simulated, in runs)", async () => {
  await race({ processMs: { min: 0, max: 8 } }, "Ana");
});

testWith("read")(
  "CANCELAR racing the workers: each order is either cancelled unprocessed or processed once (processor module)",
  async () => {
    await race({ processor: SCRIPTED }, "wait-5");
  },
);

testWith("read")(
  "CANCELAR withdraws an order waiting out its retry backoff; it is never tried again",
  async () => {
    await using daemon = await startInProcess({
      processor: SCRIPTED,
      maxIntentos: 3,
      retryBackoffMs: 60_000,
    });
    await using conn = await rawConnect(daemon.port);
    await conn.write(
      JSON.stringify({ cliente: "flaky-2", productos: ["pan"], direccion: "C" }) + "\n",
    );
    const id = (await conn.readLine())?.id;
    // After its first attempt fails it waits a minute, stored pendiente with one attempt.
    let pedido: Record<string, unknown> = {};
    await waitUntil(async () => {
      await conn.write(`{"op":"ESTADO","id":${id}}\n`);
      pedido = (await conn.readLine())?.pedido as Record<string, unknown>;
      return pedido.intentos === 1 && pedido.estado === "pendiente";
    }, { what: "the first attempt failed" });
    assert.deepEqual([pedido.estado, pedido.intentos], ["pendiente", 1]);
    await conn.write(`{"op":"CANCELAR","id":${id}}\n{"op":"STATS"}\n`);
    const cancelled = (await conn.readLine())?.pedido as Record<string, unknown>;
    assert.deepEqual([cancelled.estado, cancelled.intentos], ["cancelado", 1]);
    const stats = (await conn.readLine())?.stats as Record<string, number>;
    assert.equal(stats.libres, stats.capacidad, "its slot came back at once");
    assert.equal(stats.pendientes, 0);
  },
);

Deno.test("CANCELAR sent on another connection while its order is being committed: ok means cancelled and never run", async () => {
  await using daemon = await startInProcess({
    workers: 2,
    maxPedidos: 100,
    processMs: { min: 20, max: 20 },
  });
  await using orders = await rawConnect(daemon.port);
  await using cancels = await rawConnect(daemon.port);
  const order = JSON.stringify({ cliente: "Ana", productos: ["pan"], direccion: "C 1" });
  const cancelled: number[] = [];
  for (let id = 1; id <= 20; id++) {
    // Ids are handed out in turn: the order about to be stored, cancelled at the same moment.
    await Promise.all([
      orders.write(`${order}\n`),
      cancels.write(`{"op":"CANCELAR","id":${id}}\n`),
    ]);
    assert.equal((await orders.readLine())?.id, id);
    const reply = await cancels.readLine();
    if (reply?.ok === true) cancelled.push(id);
    else {assert.ok(
        ["not_found", "not_cancellable"].includes(reply?.error as string),
        JSON.stringify(reply),
      );}
  }
  assert.ok(cancelled.length >= 1, "some cancels reach their order while it is committed");
  for (const id of cancelled) {
    await orders.write(`{"op":"ESTADO","id":${id}}\n`);
    const final = (await orders.readLine())?.pedido as Record<string, unknown>;
    assert.deepEqual(
      [final.estado, final.intentos, final.worker],
      ["cancelado", 0, null],
      `order ${id}`,
    );
  }
  await waitUntil(async () => {
    const stats = await statsOn(orders);
    return stats.listos! + stats.cancelados! === 20;
  }, { what: "every order listo or cancelado" });
  const stats = await statsOn(orders);
  assert.equal(stats.cancelados, cancelled.length, "none counted twice");
  assert.equal(stats.libres, stats.capacidad, "every slot came back");
});

testWith("read")(
  "REINTENTAR and CANCELAR of an error order at once: the cancel wins only if the order never runs again",
  async () => {
    await using daemon = await startInProcess({
      processor: SCRIPTED,
      maxIntentos: 1,
      maxPedidos: 20,
    });
    await using conn = await rawConnect(daemon.port);
    await using other = await rawConnect(daemon.port);
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) {
      await conn.write(
        JSON.stringify({ cliente: "throw", productos: ["pan"], direccion: "C" }) + "\n",
      );
      ids.push((await conn.readLine())?.id as number);
    }
    for (const id of ids) {
      await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":10000}\n`);
      assert.equal(
        ((await conn.readLine(12_000))?.pedido as Record<string, unknown>).estado,
        "error",
      );
    }
    for (const id of ids) {
      await Promise.all([
        conn.write(`{"op":"REINTENTAR","id":${id}}\n`),
        other.write(`{"op":"CANCELAR","id":${id}}\n`),
      ]);
      const retried = await conn.readLine();
      const cancel = await other.readLine();
      await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":10000}\n`);
      const final = (await conn.readLine(12_000))?.pedido as Record<string, unknown>;
      if (cancel?.ok === true) {
        assert.equal(retried?.ok, true, "a cancel finds the order pendiente only after the retry");
        assert.deepEqual(
          [final.estado, final.intentos],
          ["cancelado", 1],
          `order ${id} never ran again`,
        );
      } else {
        assert.equal(cancel?.error, "not_cancellable", JSON.stringify(cancel));
        assert.deepEqual([final.estado, final.intentos], retried?.ok ? ["error", 2] : ["error", 1]);
      }
    }
    const stats = await statsOn(conn);
    assert.equal(stats.libres, stats.capacidad, "every slot came back");
  },
);

Deno.test("CANCELAR of orders handed to a worker in a run answers not_cancellable with what they became, never pendiente", async () => {
  await using daemon = await startInProcess({
    workers: 1,
    maxPedidos: 10_000,
    processMs: { min: 0, max: 0 },
  });
  await using orders = await rawConnect(daemon.port);
  await using cancels = await rawConnect(daemon.port);
  const count = 400;
  const order = JSON.stringify({ cliente: "Ana", productos: ["pan"], direccion: "C 1" });
  await orders.write(`${order}\n`.repeat(count));
  // Cancels of the ids to come, pipelined while the orders go to the worker in runs.
  await cancels.write(
    Array.from({ length: count }, (_, i) => `{"op":"CANCELAR","id":${i + 1}}\n`).join(""),
  );
  for (let i = 0; i < count; i++) assert.equal((await orders.readLine())?.ok, true);
  const seen: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const reply = await cancels.readLine();
    const estado = (reply?.pedido as Record<string, unknown> | undefined)?.estado as string;
    const key = `${reply?.ok === true ? "ok" : reply?.error}:${estado ?? ""}`;
    seen[key] = (seen[key] ?? 0) + 1;
  }
  assert.equal(seen["not_cancellable:pendiente"], undefined, JSON.stringify(seen));
  await waitUntil(async () => {
    const stats = await statsOn(orders);
    return stats.listos! + stats.cancelados! === count && stats.libres === stats.capacidad;
  }, { what: "every order listo or cancelado, every slot back" });
});

pgTest({
  name:
    "CANCELAR for the id of an order being committed answers ok or not_found, never not_cancellable with the order pendiente (PostgreSQL)",
  async fn() {
    await using db = await freshDatabase();
    // One worker, held by the first order: every later order stays pendiente.
    await using daemon = await startInProcess({
      db: db.url,
      workers: 1,
      maxPedidos: 1000,
      processMs: { min: 60_000, max: 60_000 },
      drainTimeoutMs: 100,
    });
    await using orders = await rawConnect(daemon.port);
    await using cancels = await rawConnect(daemon.port);
    const order = JSON.stringify({ cliente: "Ana", productos: ["pan"], direccion: "C 1" });
    await orders.write(`${order}\n`);
    let next = ((await orders.readLine())?.id as number) + 1;
    const outcomes: Record<string, number> = {};
    const cancelled: number[] = [];
    for (let i = 0; i < 300; i++) {
      // The cancel for the id the order will get, sent with it: it meets the order's
      // insert before, during or after its commit.
      await Promise.all([
        orders.write(`${order}\n`),
        cancels.write(`{"op":"CANCELAR","id":${next}}\n`),
      ]);
      const placed = await orders.readLine();
      const reply = await cancels.readLine();
      assert.equal(placed?.id, next, JSON.stringify(placed));
      const seen = reply?.pedido as Record<string, unknown> | undefined;
      const outcome = reply?.ok === true ? `ok:${seen?.estado}` : `${reply?.error}:${seen?.estado}`;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      assert.ok(
        outcome === "ok:cancelado" || outcome === "not_found:undefined",
        `order ${next}: ${JSON.stringify(reply)}`,
      );
      if (reply?.ok === true) cancelled.push(next);
      next++;
    }
    // What each answer said is what the order is.
    for (const id of [...cancelled.slice(0, 5), next - 1]) {
      await orders.write(`{"op":"ESTADO","id":${id}}\n`);
      const now = (await orders.readLine())?.pedido as Record<string, unknown>;
      assert.equal(now.estado, cancelled.includes(id) ? "cancelado" : "pendiente", `order ${id}`);
    }
  },
});
