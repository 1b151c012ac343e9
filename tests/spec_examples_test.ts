/**
 * The contract's own examples (shared/spec/PROTOCOL.md §1–§8), sent verbatim to a
 * real daemon (`main.ts server`, SQLite store) and checked field by field, as
 * an acceptance suite written from the spec alone would: the replies, the
 * exact `mensaje` texts the spec gives, §3's codes and whether the
 * connection stays open after each, §5's columns and formats, §8's framing
 * examples, "Which code" list and STATS semantics.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { type RawConn, rawConnect, startSubprocess, tempDir } from "./test_util.ts";
import { testWith } from "./permissions.ts";

const test = testWith("read", "write", "run", "env");

type Json = Record<string, unknown>;

/** ISO 8601 UTC with milliseconds, exactly as §5's `2026-11-23T13:16:00.123Z`. */
const DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The fields of the order object in replies (§5), in the table's order, plus `duracion_ms`. */
const PEDIDO_FIELDS = [
  "id",
  "clave",
  "cliente",
  "productos",
  "direccion",
  "estado",
  "fecha_recibido",
  "fecha_inicio",
  "fecha_fin",
  "worker",
  "intentos",
  "detalle_error",
  "resultado",
  "duracion_ms",
];

/** §2.4's example keys, plus v1.1's `cancelados` (§8). */
const STATS_KEYS = [
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
];

/** Sends one line and reads its reply. */
async function ask(conn: RawConn, line: string): Promise<Json> {
  await conn.write(line + "\n");
  const reply = await conn.readLine();
  assert.ok(reply !== null, `a reply to ${line}`);
  return reply;
}

/** Checks an order object of a reply against §5: every field, its type and formats. */
function assertPedido(pedido: unknown): Json {
  assert.ok(typeof pedido === "object" && pedido !== null);
  const p = pedido as Json;
  for (const field of PEDIDO_FIELDS) assert.ok(field in p, `PEDIDO has ${field}`);
  assert.equal(typeof p.id, "number");
  assert.ok(p.clave === null || typeof p.clave === "string");
  assert.equal(typeof p.cliente, "string");
  assert.ok(Array.isArray(p.productos), "productos is a JSON array");
  assert.equal(typeof p.direccion, "string");
  assert.ok(
    ["pendiente", "en proceso", "listo", "error", "cancelado"].includes(p.estado as string),
  );
  assert.match(p.fecha_recibido as string, DATE);
  for (const field of ["fecha_inicio", "fecha_fin"]) {
    assert.ok(p[field] === null || DATE.test(p[field] as string), `${field}: ${p[field]}`);
  }
  assert.ok(p.worker === null || (Number.isInteger(p.worker) && (p.worker as number) >= 1));
  assert.ok(Number.isInteger(p.intentos));
  const expected = typeof p.fecha_inicio === "string" && typeof p.fecha_fin === "string"
    ? Date.parse(p.fecha_fin) - Date.parse(p.fecha_inicio)
    : null;
  assert.equal(p.duracion_ms, expected, "duracion_ms is fecha_fin − fecha_inicio, or null");
  return p;
}

/** Whether the connection is still open: it answers a PING. */
async function stillOpen(conn: RawConn): Promise<void> {
  assert.deepEqual(await ask(conn, '{"op":"PING"}'), { ok: true, pong: true });
}

test("the spec's examples of §2 get the replies the spec shows, field by field (SQLite store)", async () => {
  await using dir = await tempDir();
  await using daemon = await startSubprocess(dir.path, [
    "--host",
    "127.0.0.1",
    "--db",
    `${dir.path}/p.db`,
    "--process-ms",
    "0",
    "--log",
    "error",
  ]);
  await using conn = await rawConnect(daemon.port);

  // §2.7
  assert.deepEqual(await ask(conn, '{"op":"PING"}'), { ok: true, pong: true });

  // §2: both forms of ESTADO are the same request (42 is unknown yet).
  for (const line of ['{"op":"ESTADO","id":42}', '{"op":"ESTADO","data":{"id":42}}']) {
    const reply = await ask(conn, line);
    assert.equal(reply.ok, false);
    assert.equal(reply.error, "not_found");
    assert.equal(typeof reply.mensaje, "string");
  }

  // §2.1: the bare order and its envelope, verbatim.
  const bare = await ask(
    conn,
    '{"cliente":"Juan Pérez","productos":["pan","agua"],"direccion":"Av. Siempre Viva 742"}',
  );
  assert.deepEqual(bare, {
    ok: true,
    id: bare.id,
    estado: "pendiente",
    mensaje: `✅ Pedido ${bare.id} recibido.`,
  });
  assert.ok(Number.isInteger(bare.id));
  const enveloped = await ask(
    conn,
    '{"op":"PEDIDO","data":{"cliente":"Juan Pérez","productos":["pan","agua"],"direccion":"Av. Siempre Viva 742"}}',
  );
  assert.deepEqual(enveloped, {
    ok: true,
    id: (bare.id as number) + 1,
    estado: "pendiente",
    mensaje: `✅ Pedido ${(bare.id as number) + 1} recibido.`,
  });

  // §2.2: both forms name the same order; `esperar` until it ends.
  const top = await ask(conn, `{"op":"ESTADO","id":${bare.id}}`);
  const inData = await ask(conn, `{"op":"ESTADO","data":{"id":${bare.id}}}`);
  assert.deepEqual(Object.keys(top), ["ok", "pedido"]);
  assert.equal(top.ok, true);
  const pedido = assertPedido(top.pedido);
  assert.equal(pedido.id, bare.id);
  assert.equal(pedido.cliente, "Juan Pérez");
  assert.deepEqual(pedido.productos, ["pan", "agua"]);
  assert.equal(pedido.direccion, "Av. Siempre Viva 742");
  assert.equal((inData.pedido as Json).id, bare.id);
  const ended = await ask(conn, `{"op":"ESTADO","id":${bare.id},"esperar":true}`);
  assert.deepEqual(Object.keys(ended), ["ok", "pedido"], "no timeout once it ended");
  assert.equal(assertPedido(ended.pedido).estado, "listo");

  // §2.3
  const list = await ask(conn, '{"op":"LISTAR"}');
  assert.deepEqual(Object.keys(list), ["ok", "pedidos"]);
  const ids = (list.pedidos as unknown[]).map((p) => assertPedido(p).id);
  assert.deepEqual(ids, [(bare.id as number) + 1, bare.id], "newest first");

  // §2.4 and §8 (v1.1 `cancelados`).
  const stats = await ask(conn, '{"op":"STATS"}');
  assert.deepEqual(Object.keys(stats), ["ok", "stats"]);
  const s = stats.stats as Json;
  assert.deepEqual(Object.keys(s).sort(), [...STATS_KEYS].sort());
  for (const key of STATS_KEYS.filter((key) => key !== "duracion_ms")) {
    assert.ok(Number.isInteger(s[key]), `stats.${key} is an integer: ${s[key]}`);
  }
  assert.deepEqual(Object.keys(s.duracion_ms as Json).sort(), ["avg", "max", "min", "p50", "p95"]);

  // §2.5, verbatim.
  assert.deepEqual(
    await ask(conn, '{"op":"TASK","data":{"task":{"name":"sum","args":[1,2,3.5]}}}'),
    { ok: true, result: 6.5 },
  );
  assert.deepEqual(
    await ask(conn, '{"op":"TASK","data":{"task":{"name":"upper","s":"hola"}}}'),
    { ok: true, result: "HOLA" },
  );
  assert.deepEqual(
    await ask(conn, '{"op":"TASK","data":{"task":{"name":"lower","s":"HOLA"}}}'),
    { ok: true, result: "hola" },
  );

  // §2.6, verbatim (the token as LOGIN gave it).
  assert.deepEqual(
    await ask(conn, '{"op":"REGISTRO","data":{"usuario":"ana","password":"s3cret-pass"}}'),
    { ok: true, usuario: "ana" },
  );
  const login = await ask(conn, '{"op":"LOGIN","data":{"usuario":"ana","password":"s3cret-pass"}}');
  assert.equal(login.ok, true);
  assert.equal(login.usuario, "ana");
  assert.equal(typeof login.token, "string");
  assert.ok((login.token as string).length > 0);
  assert.ok(!JSON.stringify(login).includes("s3cret-pass"), "the password is never echoed");
  const html = await ask(
    conn,
    `{"op":"GET_TAREAS_HTML","data":{"token":${JSON.stringify(login.token)}}}`,
  );
  assert.deepEqual(Object.keys(html), ["ok", "html"]);
  assert.equal(html.ok, true);
  assert.match(html.html as string, /^</);
  for (const name of ["ana", "sum", "upper", "lower"]) {
    assert.ok((html.html as string).includes(name), `the fragment names ${name}`);
  }
  const literal = await ask(conn, '{"op":"GET_TAREAS_HTML","data":{"token":"..."}}');
  assert.equal(literal.error, "unauthorized", "the spec's placeholder token is no session");

  // §2.8 on a listo order: not_cancellable, with the order.
  const cancelled = await ask(conn, `{"op":"CANCELAR","id":${bare.id}}`);
  assert.equal(cancelled.error, "not_cancellable", "a listo order is not cancelled");
  assert.equal(assertPedido(cancelled.pedido).estado, "listo");
  assert.equal(typeof cancelled.mensaje, "string");

  // §2.9 on a listo order: not_retryable, with the order.
  const retried = await ask(conn, `{"op":"REINTENTAR","id":${bare.id}}`);
  assert.equal(retried.ok, false);
  assert.equal(retried.error, "not_retryable");
  assert.equal(assertPedido(retried.pedido).id, bare.id);
  for (const op of ["CANCELAR", "REINTENTAR"]) {
    assert.equal((await ask(conn, `{"op":"${op}","id":42}`)).error, "not_found");
  }
});

test("CANCELAR a pendiente order: cancelado with fecha_fin, slot back at once, counted in STATS cancelados; again → not_cancellable", async () => {
  await using dir = await tempDir();
  await using daemon = await startSubprocess(dir.path, [
    "--host",
    "127.0.0.1",
    "--db",
    `${dir.path}/p.db`,
    "--process-ms",
    "60000",
    "--workers",
    "1",
    "--max-pedidos",
    "2",
    "--drain-timeout-ms",
    "0",
    "--log",
    "error",
  ]);
  await using conn = await rawConnect(daemon.port);
  const order = '{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"}';
  await ask(conn, order); // on the one worker for a minute
  const waiting = await ask(conn, order);
  const full = await ask(conn, order);
  assert.deepEqual(full, {
    ok: false,
    error: "queue_full",
    mensaje: "❌ Límite de pedidos alcanzado. Intente más tarde.",
  });

  const cancelled = await ask(conn, `{"op":"CANCELAR","id":${waiting.id}}`);
  assert.deepEqual(Object.keys(cancelled), ["ok", "pedido"]);
  const pedido = assertPedido(cancelled.pedido);
  assert.equal(pedido.estado, "cancelado");
  assert.match(pedido.fecha_fin as string, DATE);
  assert.equal(pedido.fecha_inicio, null);

  const again = await ask(conn, `{"op":"CANCELAR","data":{"id":${waiting.id}}}`);
  assert.equal(again.ok, false);
  assert.equal(again.error, "not_cancellable");
  assert.equal(assertPedido(again.pedido).estado, "cancelado");

  // An `esperar` on a cancelled order answers at once: it has ended.
  const waited = await ask(
    conn,
    `{"op":"ESTADO","id":${waiting.id},"esperar":true,"timeout_ms":60000}`,
  );
  assert.equal((waited.pedido as Json).estado, "cancelado");
  assert.equal(waited.timeout, undefined);

  const stats = (await ask(conn, '{"op":"STATS"}')).stats as Json;
  assert.equal(stats.cancelados, 1);
  assert.equal(stats.libres, 1, "the cancelled order's slot is free at once");
  assert.equal(stats.rechazados, 1);
  assert.equal((await ask(conn, order)).ok, true, "the slot given back takes a new order");
});

test("REINTENTAR: an order in error goes back pendiente, cleared, intentos kept; no slot → queue_full and nothing changes", async () => {
  await using dir = await tempDir();
  const processor = `${dir.path}/falla.ts`;
  await Deno.writeTextFile(
    processor,
    `export default async (p) => {
      if (p.cliente === "falla") throw new Error("no hay pan");
      await new Promise((resolve) => setTimeout(resolve, 60000));
    };\n`,
  );
  await using daemon = await startSubprocess(dir.path, [
    "--host",
    "127.0.0.1",
    "--db",
    `${dir.path}/p.db`,
    "--processor",
    processor,
    "--max-intentos",
    "1",
    "--workers",
    "1",
    "--max-pedidos",
    "2",
    "--drain-timeout-ms",
    "0",
    "--log",
    "error",
  ]);
  await using conn = await rawConnect(daemon.port);
  const failing = await ask(conn, '{"cliente":"falla","productos":["pan"],"direccion":"Calle 1"}');
  const failed = await ask(conn, `{"op":"ESTADO","id":${failing.id},"esperar":true}`);
  const before = assertPedido(failed.pedido);
  assert.equal(before.estado, "error");
  assert.equal(before.detalle_error, "no hay pan");
  assert.equal(before.intentos, 1);
  assert.equal(before.worker, 1);

  // Both slots taken: one order on the one worker for a minute, one waiting.
  const running = await ask(conn, '{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"}');
  const waiting = await ask(conn, '{"cliente":"Luis","productos":["pan"],"direccion":"Calle 1"}');
  const refused = await ask(conn, `{"op":"REINTENTAR","id":${failing.id}}`);
  assert.equal(refused.ok, false);
  assert.equal(refused.error, "queue_full");
  assert.deepEqual(
    (await ask(conn, `{"op":"ESTADO","id":${failing.id}}`)).pedido,
    before,
    "nothing changed",
  );

  assert.equal((await ask(conn, `{"op":"CANCELAR","id":${waiting.id}}`)).ok, true);
  const retried = await ask(conn, `{"op":"REINTENTAR","data":{"id":${failing.id}}}`);
  assert.deepEqual(Object.keys(retried), ["ok", "pedido"]);
  const after = assertPedido(retried.pedido);
  assert.equal(after.estado, "pendiente");
  assert.equal(after.detalle_error, null);
  assert.equal(after.fecha_inicio, null);
  assert.equal(after.fecha_fin, null);
  assert.equal(after.worker, null);
  assert.equal(after.intentos, 1, "intentos is kept");

  const again = await ask(conn, `{"op":"REINTENTAR","id":${failing.id}}`);
  assert.equal(again.error, "not_retryable");
  assert.equal(assertPedido(again.pedido).estado, "pendiente");
  const notRetryable = await ask(conn, `{"op":"REINTENTAR","id":${running.id}}`);
  assert.equal(notRetryable.error, "not_retryable");
  assert.equal(assertPedido(notRetryable.pedido).estado, "en proceso");
});

/** The `mensaje` of `invalid_json` shows an example of a valid order (§3). */
function assertInvalidJson(reply: Json | null, what: string): void {
  assert.ok(reply !== null, `a reply to ${what}`);
  assert.equal(reply.ok, false, what);
  assert.equal(reply.error, "invalid_json", what);
  const example = /\{.*"cliente".*"productos".*"direccion".*\}/.exec(reply.mensaje as string);
  assert.ok(example, `mensaje shows an order: ${reply.mensaje}`);
  assert.doesNotThrow(() => JSON.parse(example[0]), "the example in mensaje is valid JSON");
}

test("§8 framing examples: [1,2], 5, a stray }, text after an object, pretty-printed objects, \\r\\n and blank lines: one reply each, in order, connection open", async () => {
  await using dir = await tempDir();
  await using daemon = await startSubprocess(dir.path, [
    "--host",
    "127.0.0.1",
    "--db",
    `${dir.path}/p.db`,
    "--log",
    "error",
  ]);
  await using conn = await rawConnect(daemon.port);
  await conn.write(
    "[1,2]\n" +
      "5\n" +
      "}\n" +
      '{"op":"PING"} {"op":"PING"}\n' +
      '{"op":"PING"}{"op":"STATS"}\n' +
      '{"op":"PING"} hola\n' +
      "\n   \n\t\n" +
      '{\n  "op": "PING"\n}\n' +
      '{"op":"PING"}\r\n' +
      "\r\n" +
      '{\r\n  "op":\r\n  "TASK",\r\n  "data": {"task": {"name": "sum", "args": [1, 2]}}\r\n}\r\n' +
      "hola\n" +
      '{"op":"PING"}\n',
  );
  for (const what of ["[1,2]", "5"]) {
    const reply = await conn.readLine();
    assert.ok(
      reply?.error === "invalid_json" || reply?.error === "invalid_request",
      `${what}: ${JSON.stringify(reply)}`,
    );
  }
  const stray = await conn.readLine();
  assert.ok(stray?.error === "invalid_json" || stray?.error === "invalid_request");
  for (const what of ["two objects", "two objects, no space", "object then text"]) {
    assertInvalidJson(await conn.readLine(), what);
  }
  assert.deepEqual(await conn.readLine(), { ok: true, pong: true }, "pretty-printed");
  assert.deepEqual(await conn.readLine(), { ok: true, pong: true }, "\\r\\n");
  assert.deepEqual(await conn.readLine(), { ok: true, result: 3 }, "pretty-printed with \\r\\n");
  assertInvalidJson(await conn.readLine(), "hola");
  assert.deepEqual(await conn.readLine(), { ok: true, pong: true }, "blank lines got no reply");
  await stillOpen(conn);
});

test("§3: every code that keeps the connection open keeps it, in the situation the table names", async () => {
  await using dir = await tempDir();
  await using daemon = await startSubprocess(dir.path, [
    "--host",
    "127.0.0.1",
    "--db",
    `${dir.path}/p.db`,
    "--process-ms",
    "60000",
    "--workers",
    "1",
    "--max-pedidos",
    "1",
    "--drain-timeout-ms",
    "0",
    "--log",
    "error",
  ]);
  await using conn = await rawConnect(daemon.port);
  const cases: [string, string, string?][] = [
    ["hola", "invalid_json"],
    ["null", "invalid_json"],
    ['"texto"', "invalid_json"],
    ['{"op":"ESTADO"}', "invalid_request", "id"],
    ['{"op":"ESTADO","id":"1"}', "invalid_request", "id"],
    ['{"op":5}', "invalid_request", "op"],
    ["{}", "invalid_order", "cliente"],
    ['{"cliente":"Ana","productos":[],"direccion":"Calle 1"}', "invalid_order", "productos"],
    ['{"cliente":"Ana","productos":["pan"]}', "invalid_order", "direccion"],
    ['{"op":"PEDIDO","data":{}}', "invalid_order", "cliente"],
    ['{"op":"FOO"}', "unknown_op"],
    ['{"op":"ESTADO","id":999}', "not_found"],
    ['{"op":"CANCELAR","id":999}', "not_found"],
    ['{"op":"REINTENTAR","id":999}', "not_found"],
    ['{"op":"TASK","data":{"task":{"name":"nope"}}}', "unknown_task"],
    ['{"op":"TASK","data":{"task":{"name":"sum","args":[1,"a"]}}}', "invalid_task"],
    ['{"op":"TASK","data":{"task":{"name":"upper"}}}', "invalid_task"],
    ['{"op":"TASK"}', "invalid_task"],
    ['{"op":"REGISTRO","data":{"usuario":"a","password":"s3cret-pass"}}', "invalid_user"],
    ['{"op":"REGISTRO","data":{"usuario":"ana","password":"corta"}}', "invalid_user"],
    ['{"op":"REGISTRO","data":{"username":"ana","password":"s3cret-pass"}}', ""],
    ['{"op":"REGISTRO","data":{"usuario":"ana","password":"s3cret-pass"}}', "user_exists"],
    ['{"op":"LOGIN","data":{"usuario":"ana","password":"otra-clave"}}', "bad_credentials"],
    ['{"op":"LOGIN","data":{"usuario":"nadie","password":"s3cret-pass"}}', "bad_credentials"],
    ['{"op":"GET_TAREAS_HTML"}', "unauthorized"],
    ['{"op":"GET_TAREAS_HTML","data":{"token":"..."}}', "unauthorized"],
    ['{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1","clave":"k"}', ""],
    ['{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"}', "queue_full"],
    ['{"op":"TASK","data":{"task":{"name":"sum","args":[1]}}}', "queue_full"],
  ];
  for (const [line, code, campo] of cases) {
    const reply = await ask(conn, line);
    if (code === "") {
      assert.equal(reply.ok, true, `${line}: ${JSON.stringify(reply)}`);
    } else {
      assert.equal(reply.ok, false, line);
      assert.equal(reply.error, code, `${line}: ${JSON.stringify(reply)}`);
      assert.equal(typeof reply.mensaje, "string", line);
      assert.ok((reply.mensaje as string).length > 0, line);
      if (campo !== undefined) assert.equal(reply.campo, campo, line);
    }
    await stillOpen(conn);
  }
  // Idempotency first: the stored clave is answered duplicado even when full.
  const duplicate = await ask(
    conn,
    '{"cliente":"Otro","productos":["agua"],"direccion":"Calle 2","clave":"k"}',
  );
  assert.equal(duplicate.ok, true);
  assert.equal(duplicate.duplicado, true);
  // The existing order with its current state: on the worker by now, or about to be.
  assert.ok(
    ["pendiente", "en proceso"].includes(duplicate.estado as string),
    duplicate.estado as string,
  );
  assert.equal(duplicate.id, 1);
  // §2.1's exact text.
  assert.equal(
    (await ask(conn, '{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"}')).mensaje,
    "❌ Límite de pedidos alcanzado. Intente más tarde.",
  );
  // §8: a timed-out wait.
  const timedOut = await ask(conn, '{"op":"ESTADO","id":1,"esperar":true,"timeout_ms":50}');
  assert.deepEqual(Object.keys(timedOut).sort(), ["ok", "pedido", "timeout"]);
  assert.equal(timedOut.timeout, true);
  assert.equal(assertPedido(timedOut.pedido).estado, "en proceso");
  await stillOpen(conn);
});

test("§3: too_large, busy and shutting_down close the connection after their reply", async () => {
  await using dir = await tempDir();
  await using daemon = await startSubprocess(dir.path, [
    "--host",
    "127.0.0.1",
    "--db",
    `${dir.path}/p.db`,
    "--max-request-bytes",
    "100",
    "--max-connections",
    "2",
    "--process-ms",
    "1000",
    "--log",
    "error",
  ]);
  {
    await using conn = await rawConnect(daemon.port);
    // Exactly 100 bytes without the newline (§8): within the limit, even with \r\n.
    const fits = `{"op":"PING","x":"${"a".repeat(80)}"}`;
    assert.equal(fits.length, 100);
    assert.deepEqual(await ask(conn, fits + "\r"), { ok: true, pong: true });
    await conn.write(`{"op":"PING"}\n{"op":"PING","x":"${"a".repeat(81)}"}\n{"op":"PING"}\n`);
    assert.deepEqual(await conn.readLine(), { ok: true, pong: true }, "the request before");
    const tooLarge = await conn.readLine();
    assert.equal(tooLarge?.error, "too_large");
    // It says what the limit is, so the sender knows what would fit.
    assert.match(String(tooLarge?.mensaje), /el límite es de 100 bytes por solicitud/);
    assert.ok(await conn.closedByPeer(), "closed after too_large; nothing after it answered");
  }
  {
    await using first = await rawConnect(daemon.port);
    await using second = await rawConnect(daemon.port);
    await stillOpen(first);
    await stillOpen(second);
    await using third = await rawConnect(daemon.port);
    const busy = await third.readLine();
    assert.equal(busy?.error, "busy", "written without a request (§8)");
    assert.equal(typeof busy?.mensaje, "string");
    assert.ok(await third.closedByPeer(), "closed after busy");
    await stillOpen(first);
  }
  {
    await using conn = await rawConnect(daemon.port);
    const order = await ask(conn, '{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"}');
    // A request held behind a wait (§8 order) when the stop comes gets shutting_down,
    // after the wait's own reply, and the connection closes after it.
    await conn.write(`{"op":"ESTADO","id":${order.id},"esperar":true}\n{"op":"PING"}\n`);
    daemon.kill("SIGTERM");
    let reply = await conn.readLine();
    // Unless the stop came before the wait was read: then the wait itself gets shutting_down.
    if (reply?.error !== "shutting_down") {
      assert.equal((reply?.pedido as Json).estado, "listo", "the running order finished");
      reply = await conn.readLine();
    }
    assert.equal(reply?.error, "shutting_down", JSON.stringify(reply));
    assert.equal(typeof reply?.mensaje, "string");
    assert.ok(await conn.closedByPeer(), "closed after shutting_down");
    const { code, stdout } = await daemon.exited();
    assert.equal(code, 0);
    assert.match(stdout, /recibidos/);
  }
});

test("§5: the SQLite file has the spec's columns and types, user_version ≥ 1, WAL, and dates like 2026-11-23T13:16:00.123Z", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/p.db`;
  await using daemon = await startSubprocess(dir.path, [
    "--host",
    "127.0.0.1",
    "--db",
    db,
    "--process-ms",
    "200",
    "--workers",
    "1",
    "--log",
    "error",
  ]);
  await using conn = await rawConnect(daemon.port);
  const placed = await ask(
    conn,
    '{"cliente":" Ana ","productos":[" pan ",{"nombre":"leche","cantidad":2}],"dirección":"Calle 1","clave":"k-1","extra":true}',
  );
  // Behind the first on the one worker: still pendiente when cancelled.
  const waiting = await ask(conn, '{"cliente":"Luis","productos":["agua"],"direccion":"Calle 2"}');
  assert.equal((await ask(conn, `{"op":"CANCELAR","id":${waiting.id}}`)).ok, true);
  const ended = assertPedido(
    (await ask(conn, `{"op":"ESTADO","id":${placed.id},"esperar":true}`)).pedido,
  );

  const sqlite = new DatabaseSync(db, { readOnly: true });
  try {
    const columns = new Map(
      (sqlite.prepare("PRAGMA table_info(pedidos)").all() as {
        name: string;
        type: string;
        notnull: number;
        pk: number;
      }[]).map((c) => [c.name, c]),
    );
    const expected: [string, string, boolean][] = [
      ["id", "INTEGER", false],
      ["clave", "TEXT", false],
      ["cliente", "TEXT", true],
      ["productos", "TEXT", true],
      ["direccion", "TEXT", true],
      ["estado", "TEXT", true],
      ["fecha_recibido", "TEXT", true],
      ["fecha_inicio", "TEXT", false],
      ["fecha_fin", "TEXT", false],
      ["worker", "INTEGER", false],
      ["intentos", "INTEGER", true],
      ["detalle_error", "TEXT", false],
      ["resultado", "TEXT", false],
    ];
    for (const [name, type, notNull] of expected) {
      const column = columns.get(name);
      assert.ok(column, `column ${name}`);
      assert.equal(column.type, type, name);
      assert.equal(column.notnull === 1, notNull, `${name} NOT NULL`);
    }
    assert.equal(columns.get("id")!.pk, 1, "id is the INTEGER PRIMARY KEY");
    const version = sqlite.prepare("PRAGMA user_version").get() as { user_version: number };
    assert.ok(version.user_version >= 1);
    const mode = sqlite.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
    assert.equal(mode.journal_mode, "wal");
    assert.ok(
      sqlite.prepare("SELECT name FROM sqlite_master WHERE name = 'usuarios'").get(),
      "accounts are kept in usuarios",
    );
    // clave is UNIQUE among orders that have one.
    assert.throws(() =>
      new DatabaseSync(db).exec(
        "INSERT INTO pedidos (clave, cliente, productos, direccion, estado, fecha_recibido, intentos) " +
          "VALUES ('k-1', 'x', '[\"x\"]', 'x', 'listo', '2026-11-23T13:16:00.123Z', 0)",
      )
    );

    const row = sqlite.prepare("SELECT * FROM pedidos WHERE id = ?").get(placed.id as number) as
      & Record<string, unknown>
      & { productos: string };
    assert.equal(row.cliente, "Ana");
    assert.equal(row.direccion, "Calle 1");
    assert.equal(row.clave, "k-1");
    assert.equal(row.estado, "listo");
    assert.deepEqual(JSON.parse(row.productos), ["pan", { nombre: "leche", cantidad: 2 }]);
    assert.equal(row.intentos, 1);
    assert.equal(row.worker, ended.worker);
    assert.ok(!("extra" in row), "unknown fields are not stored");
    for (const field of ["fecha_recibido", "fecha_inicio", "fecha_fin"]) {
      assert.match(row[field] as string, DATE, field);
      assert.equal(row[field], ended[field], `${field} as the reply shows it`);
    }
    assert.equal(
      ended.duracion_ms,
      Date.parse(row.fecha_fin as string) - Date.parse(row.fecha_inicio as string),
    );
    const cancelled = sqlite.prepare("SELECT estado, fecha_fin FROM pedidos WHERE id = ?")
      .get(waiting.id as number) as { estado: string; fecha_fin: string };
    assert.equal(cancelled.estado, "cancelado");
    assert.match(cancelled.fecha_fin, DATE);
  } finally {
    sqlite.close();
  }
});

test("§8 STATS semantics: recibidos counts every PEDIDO (valid or not), rechazados the queue_full ones, cancelados the cancels, duracion_ms null before the first end", async () => {
  await using dir = await tempDir();
  await using daemon = await startSubprocess(dir.path, [
    "--host",
    "127.0.0.1",
    "--db",
    `${dir.path}/p.db`,
    "--process-ms",
    "60000",
    "--workers",
    "1",
    "--max-pedidos",
    "2",
    "--drain-timeout-ms",
    "0",
    "--log",
    "error",
  ]);
  await using conn = await rawConnect(daemon.port);
  const first = (await ask(conn, '{"op":"STATS"}')).stats as Json;
  assert.deepEqual(first.duracion_ms, { min: null, p50: null, p95: null, max: null, avg: null });
  assert.equal(first.recibidos, 0);
  assert.equal(first.capacidad, 2);
  assert.equal(first.libres, 2);
  assert.equal(first.workers, 1);
  assert.equal(first.conexiones, 1);

  const order = '{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"}';
  await ask(conn, order); // runs
  const second = await ask(conn, order); // waits
  await ask(
    conn,
    '{"op":"PEDIDO","data":{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"}}',
  ); // full
  await ask(conn, "{}"); // invalid, still a PEDIDO
  await ask(conn, '{"op":"pedido","data":{}}'); // invalid
  await ask(conn, '{"op":"PING"}'); // not a PEDIDO
  await ask(conn, "hola"); // not JSON
  await ask(conn, '{"op":"TASK","data":{"task":{"name":"sum","args":[1]}}}'); // full, but a task
  await ask(conn, `{"op":"CANCELAR","id":${second.id}}`);
  const stats = (await ask(conn, '{"op":"STATS"}')).stats as Json;
  assert.equal(stats.recibidos, 5);
  assert.equal(stats.aceptados, 2);
  assert.equal(stats.rechazados, 1, "a TASK refused is no order refused");
  assert.equal(stats.cancelados, 1);
  assert.equal(stats.pendientes, 0);
  assert.equal(stats.en_proceso, 1);
  assert.equal(stats.listos, 0);
  assert.equal(stats.errores, 0);
  assert.equal(stats.libres, 1);
  assert.deepEqual(stats.duracion_ms, first.duracion_ms, "cancelled orders have no duration");
});
