/**
 * Every operation and error code of the protocol, against a real daemon
 * over real sockets on 127.0.0.1 and ::1.
 */
import assert from "node:assert/strict";
import { rawConnect, startInProcess } from "./test_util.ts";

const ORDER = {
  cliente: "Juan Pérez",
  productos: ["pan", "agua"],
  direccion: "Av. Siempre Viva 742",
};

for (const host of ["127.0.0.1", "::1"]) {
  Deno.test(`daemon answers every operation on ${host}`, async () => {
    await using daemon = await startInProcess();
    await using conn = await rawConnect(daemon.port, host);

    await conn.write('{"op":"PING"}\n');
    assert.deepEqual(await conn.readLine(), { ok: true, pong: true });

    await conn.write(JSON.stringify(ORDER) + "\n");
    const bare = await conn.readLine();
    assert.equal(bare?.ok, true);
    assert.equal(bare?.estado, "pendiente");
    assert.equal(bare?.mensaje, `✅ Pedido ${bare?.id} recibido.`);

    await conn.write(JSON.stringify({ op: "pedido", data: { ...ORDER, cliente: "Ana" } }) + "\n");
    const envelope = await conn.readLine();
    assert.equal(envelope?.ok, true);
    assert.equal(envelope?.id, (bare?.id as number) + 1);

    await conn.write(
      `{"op":"ESTADO","id":${bare?.id}}\n{"op":"estado","data":{"id":${bare?.id}}}\n`,
    );
    const top = await conn.readLine();
    const nested = await conn.readLine();
    const pedido = top?.pedido as Record<string, unknown>;
    assert.equal(pedido.id, bare?.id);
    assert.equal(pedido.cliente, "Juan Pérez");
    assert.deepEqual(pedido.productos, ["pan", "agua"]);
    assert.equal(pedido.direccion, "Av. Siempre Viva 742");
    assert.match(pedido.fecha_recibido as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    for (
      const key of [
        "clave",
        "estado",
        "fecha_inicio",
        "fecha_fin",
        "worker",
        "intentos",
        "detalle_error",
        "duracion_ms",
      ]
    ) assert.ok(key in pedido, `pedido has ${key}`);
    assert.equal((nested?.pedido as Record<string, unknown>).id, bare?.id);

    await conn.write('{"op":"LISTAR","limit":1}\n');
    const list = await conn.readLine();
    assert.equal((list?.pedidos as { id: number }[]).length, 1);
    assert.equal((list?.pedidos as { id: number }[])[0]!.id, envelope?.id);

    await conn.write('{"op":"STATS"}\n');
    const stats = (await conn.readLine())?.stats as Record<string, unknown>;
    // Every key, in the order of the spec's example (§2.4; v1.1's cancelados after errores).
    assert.deepEqual(Object.keys(stats), [
      "recibidos",
      "aceptados",
      "rechazados",
      "pendientes",
      "en_proceso",
      "listos",
      "errores",
      "cancelados",
      "capacidad",
      "libres",
      "workers",
      "conexiones",
      "duracion_ms",
      "uptime_s",
    ]);
    assert.equal(stats.recibidos, 2);
    assert.equal(stats.aceptados, 2);
    assert.equal(stats.capacidad, 6);
    assert.equal(stats.workers, 2);
    assert.equal(stats.conexiones, 1);

    await conn.write(
      [
        '{"op":"TASK","data":{"task":{"name":"sum","args":[1,2,3.5]}}}',
        '{"op":"TASK","data":{"task":{"name":"upper","s":"hola"}}}',
        '{"op":"TASK","task":{"name":"lower","s":"HOLA"}}',
        "",
      ].join("\n"),
    );
    assert.deepEqual(await conn.readLine(), { ok: true, result: 6.5 });
    assert.deepEqual(await conn.readLine(), { ok: true, result: "HOLA" });
    assert.deepEqual(await conn.readLine(), { ok: true, result: "hola" });
  });
}

Deno.test("daemon answers each error code and keeps the connection open where the spec says", async () => {
  await using daemon = await startInProcess();
  await using conn = await rawConnect(daemon.port);
  const cases: [string, string, string?][] = [
    ["hola", "invalid_json"],
    ["[1,2]", "invalid_json"],
    ['{"op":5}', "invalid_request", "op"],
    ['{"op":"ESTADO","id":"x"}', "invalid_request", "id"],
    ["{}", "invalid_order", "cliente"],
    ['{"cliente":"Ana","productos":[],"direccion":"C 1"}', "invalid_order", "productos"],
    ['{"op":"BAILAR"}', "unknown_op"],
    ['{"op":"ESTADO","id":999999}', "not_found"],
    // An id past 2^53 names no order either.
    ['{"op":"ESTADO","id":99999999999999999999}', "not_found"],
    ['{"op":"CANCELAR","id":9223372036854775807}', "not_found"],
    ['{"op":"REINTENTAR","id":1e20}', "not_found"],
    ['{"op":"TASK","data":{"task":{"name":"mul","args":[1]}}}', "unknown_task"],
    ['{"op":"TASK","data":{"task":{"name":"sum","args":["a"]}}}', "invalid_task"],
    ['{"op":"TASK"}', "invalid_task"],
  ];
  for (const [line, code, campo] of cases) {
    await conn.write(line + "\n");
    const reply = await conn.readLine();
    assert.equal(reply?.ok, false, line);
    assert.equal(reply?.error, code, line);
    assert.equal(typeof reply?.mensaje, "string");
    if (campo) assert.equal(reply?.campo, campo, line);
    await conn.write('{"op":"PING"}\n');
    assert.deepEqual(await conn.readLine(), { ok: true, pong: true }, `open after ${code}`);
  }
});

Deno.test("invalid_json teaches the format with an example order", async () => {
  await using daemon = await startInProcess();
  await using conn = await rawConnect(daemon.port);
  await conn.write("hola\n");
  const reply = await conn.readLine();
  assert.equal(reply?.error, "invalid_json");
  assert.match(reply?.mensaje as string, /"cliente".*"productos".*"direccion"/);
});

Deno.test("too_large is answered and the connection closed", async () => {
  await using daemon = await startInProcess({ maxRequestBytes: 100 });
  await using conn = await rawConnect(daemon.port);
  await conn.write('{"op":"PING"}\n' + "x".repeat(101) + "\n" + '{"op":"PING"}\n');
  assert.deepEqual(await conn.readLine(), { ok: true, pong: true });
  assert.equal((await conn.readLine())?.error, "too_large");
  assert.equal(await conn.readLine(), null, "closed after too_large");
});

Deno.test("too_large is detected before the newline arrives", async () => {
  await using daemon = await startInProcess({ maxRequestBytes: 1000 });
  await using conn = await rawConnect(daemon.port);
  await conn.write("{" + '"a":'.repeat(500)); // no newline, over the limit
  assert.equal((await conn.readLine())?.error, "too_large");
  assert.equal(await conn.readLine(), null);
});

Deno.test("pipelined requests are answered in request order", async () => {
  await using daemon = await startInProcess({ maxPedidos: 100 });
  await using conn = await rawConnect(daemon.port);
  const lines: string[] = [];
  for (let i = 0; i < 60; i++) {
    lines.push(
      i % 3 === 0
        ? '{"op":"PING"}'
        : i % 3 === 1
        ? JSON.stringify({ ...ORDER, cliente: `c${i}` })
        : `{"op":"TASK","task":{"name":"sum","args":[${i}]}}`,
    );
  }
  await conn.write(lines.join("\n") + "\n");
  let lastId = 0;
  for (let i = 0; i < 60; i++) {
    const reply = await conn.readLine();
    assert.equal(reply?.ok, true, `reply ${i}`);
    if (i % 3 === 0) assert.equal(reply?.pong, true);
    else if (i % 3 === 1) {
      assert.ok((reply?.id as number) > lastId);
      lastId = reply?.id as number;
    } else assert.equal(reply?.result, i);
  }
});

Deno.test("a pretty-printed order pasted over several lines (CRLF) is one request", async () => {
  await using daemon = await startInProcess();
  await using conn = await rawConnect(daemon.port);
  const pasted = JSON.stringify({ ...ORDER, direccion: "Calle } con { llaves" }, null, 2)
    .replaceAll("\n", "\r\n");
  await conn.write("\r\n" + pasted + "\r\n");
  const reply = await conn.readLine();
  assert.equal(reply?.ok, true);
  await conn.write(`{"op":"ESTADO","id":${reply?.id}}\n`);
  const pedido = (await conn.readLine())?.pedido as Record<string, unknown>;
  assert.equal(pedido.direccion, "Calle } con { llaves");
});

Deno.test("after a half-close every request already sent is answered", async () => {
  await using daemon = await startInProcess();
  await using conn = await rawConnect(daemon.port);
  await conn.write('{"op":"PING"}\n' + JSON.stringify(ORDER) + "\n" + '{"op":"PING"}');
  await conn.conn.closeWrite();
  assert.equal((await conn.readLine())?.pong, true);
  assert.equal((await conn.readLine())?.estado, "pendiente");
  assert.equal((await conn.readLine())?.pong, true, "final request without newline answered");
  assert.equal(await conn.readLine(), null);
});

Deno.test("clave makes a retried order idempotent, even when the daemon is full", async () => {
  await using daemon = await startInProcess({
    maxPedidos: 1,
    processMs: { min: 60_000, max: 60_000 },
    drainTimeoutMs: 50,
  });
  await using conn = await rawConnect(daemon.port);
  await conn.write(JSON.stringify({ ...ORDER, clave: "k-1" }) + "\n");
  const first = await conn.readLine();
  assert.equal(first?.ok, true);
  assert.equal(first?.duplicado, undefined);
  await conn.write(JSON.stringify({ ...ORDER, clave: "k-1" }) + "\n");
  const again = await conn.readLine();
  assert.equal(again?.ok, true);
  assert.equal(again?.duplicado, true);
  assert.equal(again?.id, first?.id);
  await conn.write(JSON.stringify({ ...ORDER, clave: "k-2" }) + "\n");
  assert.equal((await conn.readLine())?.error, "queue_full");
});
