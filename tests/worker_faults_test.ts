/**
 * Processor faults seen from the protocol: a worker that throws or goes
 * silent is replaced, its order retried or ended `error`, its slot returned.
 */
import assert from "node:assert/strict";
import { rawConnect, startInProcess, waitUntil } from "./test_util.ts";

const FAULTY = new URL("./fixtures/faulty_processor_worker.ts", import.meta.url);

async function orderAndWait(port: number, cliente: string) {
  await using conn = await rawConnect(port);
  await conn.write(JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1" }) + "\n");
  const id = (await conn.readLine())?.id;
  await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":10000}\n`);
  return (await conn.readLine(12_000))?.pedido as Record<string, unknown>;
}

async function stats(port: number) {
  await using conn = await rawConnect(port);
  await conn.write('{"op":"STATS"}\n');
  return (await conn.readLine())?.stats as Record<string, number>;
}

Deno.test("an order whose worker crashes once is retried and ends listo", async () => {
  await using daemon = await startInProcess({ workers: 2 }, { processorUrl: FAULTY });
  const pedido = await orderAndWait(daemon.port, "throw-once");
  assert.equal(pedido.estado, "listo");
  assert.equal(pedido.intentos, 2);
  const s = await stats(daemon.port);
  assert.equal(s.libres, s.capacidad, "the slot came back");
  assert.equal(s.workers, 2, "the pool is at full size");
});

Deno.test("an order whose worker always crashes ends error with detalle_error; the pool goes on", async () => {
  await using daemon = await startInProcess({ workers: 2 }, { processorUrl: FAULTY });
  const pedido = await orderAndWait(daemon.port, "throw");
  assert.equal(pedido.estado, "error");
  assert.equal(pedido.intentos, 3);
  assert.match(pedido.detalle_error as string, /boom/);
  assert.ok(pedido.fecha_fin);
  const ok = await orderAndWait(daemon.port, "Ana");
  assert.equal(ok.estado, "listo");
  await waitUntil(async () => (await stats(daemon.port)).libres === 6, { what: "slots back" });
  const s = await stats(daemon.port);
  assert.equal(s.errores, 1);
  assert.equal(s.listos, 1);
});

Deno.test("an order whose worker goes silent is retried after the stall time", async () => {
  await using daemon = await startInProcess({ workers: 1 }, { processorUrl: FAULTY, stallMs: 200 });
  const pedido = await orderAndWait(daemon.port, "exit");
  assert.equal(pedido.estado, "error");
  assert.equal(pedido.intentos, 3);
  assert.match(pedido.detalle_error as string, /no answer/);
  assert.equal((await orderAndWait(daemon.port, "Ana")).estado, "listo");
});
