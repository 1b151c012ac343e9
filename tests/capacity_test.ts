/**
 * Capacity, FIFO processing on the pool, parallelism and waiting, seen
 * through the protocol and the stored timestamps.
 */
import assert from "node:assert/strict";
import { rawConnect, startInProcess, waitUntil } from "./test_util.ts";

const ORDER = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };

Deno.test("STATS recibidos counts every PEDIDO request, its envelope bad or its order invalid", async () => {
  await using daemon = await startInProcess({});
  await using conn = await rawConnect(daemon.port);
  const requests = [
    '{"op":"PEDIDO","data":5}', // data not an object
    '{"op":"pedido","data":null}', // data absent: an order missing its fields
    '{"op":"PEDIDO","data":[]}',
    "{}", // a bare order missing its fields
    '{"op":"PEDIDO","data":{"cliente":"Ana"}}',
    JSON.stringify(ORDER),
    '{"op":"ESTADO","data":5}', // not a PEDIDO
  ];
  await conn.write(requests.join("\n") + '\n{"op":"STATS"}\n');
  const replies = [];
  for (let i = 0; i < requests.length; i++) replies.push(await conn.readLine());
  assert.deepEqual(replies.map((r) => r?.error ?? "ok"), [
    "invalid_request",
    "invalid_order",
    "invalid_request",
    "invalid_order",
    "invalid_order",
    "ok",
    "invalid_request",
  ]);
  const stats = (await conn.readLine())?.stats as Record<string, number>;
  assert.deepEqual([stats.recibidos, stats.aceptados], [6, 1]);
});

Deno.test("a full daemon answers queue_full with the seed's message and stores nothing", async () => {
  // Three workers, each busy for 2 s: the three orders hold their slots
  // through every check below, then all end together.
  await using daemon = await startInProcess({
    maxPedidos: 3,
    workers: 3,
    processMs: { min: 2000, max: 2000 },
  });
  await using conn = await rawConnect(daemon.port);
  await conn.write(Array.from({ length: 5 }, () => JSON.stringify(ORDER)).join("\n") + "\n");
  const replies = [];
  for (let i = 0; i < 5; i++) replies.push(await conn.readLine());
  assert.deepEqual(replies.map((r) => r?.ok), [true, true, true, false, false]);
  assert.deepEqual(replies[3], {
    ok: false,
    error: "queue_full",
    mensaje: "❌ Límite de pedidos alcanzado. Intente más tarde.",
  });
  await conn.write('{"op":"STATS"}\n{"op":"LISTAR"}\n');
  const stats = (await conn.readLine())?.stats as Record<string, number>;
  assert.equal(stats.capacidad, 3);
  assert.equal(stats.libres, 0);
  assert.equal(stats.rechazados, 2);
  assert.equal(stats.aceptados, 3);
  assert.equal(stats.recibidos, 5);
  assert.equal(
    ((await conn.readLine())?.pedidos as unknown[]).length,
    3,
    "nothing stored for refused",
  );
  // A task needs a slot too.
  await conn.write('{"op":"TASK","task":{"name":"sum","args":[1]}}\n');
  assert.equal((await conn.readLine())?.error, "queue_full");
  // Every slot comes back when the orders are done.
  await waitUntil(async () => {
    await conn.write('{"op":"STATS"}\n');
    const s = (await conn.readLine())?.stats as Record<string, number>;
    return s.libres === 3 && s.listos === 3;
  }, { what: "all slots free" });
});

Deno.test("orders run FIFO, at most --workers at once, and in parallel", async () => {
  await using daemon = await startInProcess({
    maxPedidos: 20,
    workers: 3,
    processMs: { min: 150, max: 150 },
  });
  await using conn = await rawConnect(daemon.port);
  const n = 9;
  await conn.write(
    Array.from({ length: n }, (_, i) => JSON.stringify({ ...ORDER, cliente: `c${i}` })).join("\n") +
      "\n",
  );
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push((await conn.readLine())?.id as number);
  let maxRunning = 0;
  await waitUntil(async () => {
    await conn.write('{"op":"STATS"}\n');
    const s = (await conn.readLine())?.stats as Record<string, number>;
    maxRunning = Math.max(maxRunning, s.en_proceso!);
    return s.listos === n;
  }, { everyMs: 5, what: "all listo" });
  assert.ok(maxRunning <= 3, `at most 3 en proceso, saw ${maxRunning}`);

  await conn.write(`{"op":"LISTAR","limit":${n}}\n`);
  const pedidos = ((await conn.readLine())?.pedidos as Record<string, unknown>[]).reverse();
  assert.deepEqual(pedidos.map((p) => p.id), ids);
  const spans = pedidos.map((p) => ({
    id: p.id as number,
    start: Date.parse(p.fecha_inicio as string),
    end: Date.parse(p.fecha_fin as string),
    worker: p.worker as number,
  }));
  for (const p of pedidos) {
    assert.equal(p.estado, "listo");
    assert.equal(p.intentos, 1);
    assert.ok((p.duracion_ms as number) >= 140, `duration ${p.duracion_ms}`);
  }
  // FIFO: started in acceptance order.
  for (let i = 1; i < spans.length; i++) {
    assert.ok(spans[i]!.start >= spans[i - 1]!.start, "started in id order");
  }
  // Never more than 3 intervals overlap; some do (parallelism).
  let maxOverlap = 0;
  for (const s of spans) {
    const at = s.start + 1;
    const overlap = spans.filter((o) => o.start <= at && at < o.end).length;
    maxOverlap = Math.max(maxOverlap, overlap);
  }
  assert.ok(maxOverlap >= 2, `orders overlapped (${maxOverlap})`);
  assert.ok(maxOverlap <= 3, `at most 3 overlapped (${maxOverlap})`);
  assert.deepEqual(new Set(spans.map((s) => s.worker)), new Set([1, 2, 3]));
});

Deno.test("ESTADO esperar holds the reply until listo, or answers timeout", async () => {
  // b cannot end before a has run for 1 s and b for 1 s more.
  await using daemon = await startInProcess({ processMs: { min: 1000, max: 1000 }, workers: 1 });
  await using conn = await rawConnect(daemon.port);
  await conn.write(JSON.stringify(ORDER) + "\n" + JSON.stringify(ORDER) + "\n");
  const a = (await conn.readLine())?.id;
  const b = (await conn.readLine())?.id;
  await conn.write(`{"op":"ESTADO","id":${b},"esperar":true,"timeout_ms":50}\n`);
  const early = await conn.readLine();
  assert.equal(early?.timeout, true);
  assert.notEqual((early?.pedido as Record<string, unknown>).estado, "listo");
  await conn.write(`{"op":"ESTADO","data":{"id":${a},"esperar":true}}\n`);
  const done = await conn.readLine();
  assert.equal((done?.pedido as Record<string, unknown>).estado, "listo");
  assert.equal(done?.timeout, undefined);
  await conn.write(`{"op":"ESTADO","id":${b},"esperar":true,"timeout_ms":5000}\n`);
  assert.equal(((await conn.readLine())?.pedido as Record<string, unknown>).estado, "listo");
});

Deno.test("LISTAR filters by estado and cliente and pages with antes_de", async () => {
  await using daemon = await startInProcess({ maxPedidos: 50 });
  await using conn = await rawConnect(daemon.port);
  const ids: number[] = [];
  for (let i = 0; i < 6; i++) {
    await conn.write(JSON.stringify({ ...ORDER, cliente: i % 2 ? "Par" : "Impar" }) + "\n");
    ids.push((await conn.readLine())?.id as number);
  }
  await conn.write(`{"op":"ESTADO","id":${ids[5]},"esperar":true}\n`);
  await conn.readLine();
  await waitUntil(async () => {
    await conn.write('{"op":"LISTAR","estado":"listo"}\n');
    return ((await conn.readLine())?.pedidos as unknown[]).length === 6;
  });
  await conn.write('{"op":"LISTAR","cliente":"Par"}\n');
  const par = (await conn.readLine())?.pedidos as { id: number }[];
  assert.deepEqual(par.map((p) => p.id), [ids[5], ids[3], ids[1]]);
  await conn.write(`{"op":"LISTAR","antes_de":${ids[3]},"limit":2}\n`);
  const page = (await conn.readLine())?.pedidos as { id: number }[];
  assert.deepEqual(page.map((p) => p.id), [ids[2], ids[1]]);
  await conn.write('{"op":"LISTAR","estado":"pendiente"}\n');
  assert.deepEqual((await conn.readLine())?.pedidos, []);
  await conn.write('{"op":"LISTAR","estado":"raro"}\n');
  assert.equal((await conn.readLine())?.error, "invalid_request");
});

Deno.test("with --process-ms 0 a worker still has one order at a time: STATS never shows more en proceso than workers", async () => {
  await using daemon = await startInProcess({ workers: 1, maxPedidos: 1000 });
  await using sender = await rawConnect(daemon.port);
  await using watcher = await rawConnect(daemon.port);
  const count = 300;
  await sender.write(`${JSON.stringify(ORDER)}\n`.repeat(count));
  let most = 0;
  for (;;) {
    await watcher.write('{"op":"STATS"}\n');
    const { stats } = (await watcher.readLine()) as { stats: Record<string, number> };
    most = Math.max(most, stats.en_proceso!);
    if (stats.listos === count) break;
  }
  for (let i = 0; i < count; i++) assert.equal((await sender.readLine())?.ok, true);
  assert.ok(most <= 1, `${most} orders en proceso on 1 worker`);
  // And as stored: each order has its own moment on the worker, one after the other.
  await watcher.write(`{"op":"LISTAR","limit":${count}}\n`);
  const { pedidos } = (await watcher.readLine()) as {
    pedidos: { worker: number; fecha_inicio: string; fecha_fin: string }[];
  };
  // By start, then end: with times in milliseconds, a run of no time ties with the next.
  const runs = pedidos.map((p) => [Date.parse(p.fecha_inicio), Date.parse(p.fecha_fin)])
    .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  for (let i = 1; i < runs.length; i++) {
    assert.ok(
      runs[i]![0]! >= runs[i - 1]![1]!,
      `no two runs of the worker overlap: ${JSON.stringify([runs[i - 1], runs[i]])}`,
    );
  }
  assert.ok(pedidos.every((p) => p.worker === 1));
});
