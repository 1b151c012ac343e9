/**
 * The load generator's engine against scripted line servers: exact
 * counting, pipelining, pacing, and failures.
 */
import assert from "node:assert/strict";
import { type LoadSummary, runLoad } from "./run_load.ts";
import { fakeLineServer } from "../testing/fake_line_server.ts";
import { unusedPort } from "../testing/unused_port.ts";

const OK = (id: number) => JSON.stringify({ ok: true, id, estado: "pendiente" });
const FULL = JSON.stringify({ ok: false, error: "queue_full", mensaje: "lleno" });
const INTERNAL = JSON.stringify({ ok: false, error: "internal", mensaje: "x" });

function base(port: number) {
  return { hosts: ["127.0.0.1"], port, progressEveryMs: 20 };
}

function checkInvariant(summary: LoadSummary): void {
  // Every order sent is counted once: accepted, rejected, or an error (another reply, or none).
  assert.equal(
    summary.aceptados + summary.rechazados + summary.errores,
    summary.enviados,
    `invariant: ${JSON.stringify(summary)}`,
  );
  const byKind = Object.values(summary.erroresPorTipo).reduce((a, b) => a + b, 0);
  assert.equal(byKind, summary.errores, "erroresPorTipo splits errores");
}

Deno.test("runLoad() counts accepted, rejected and error replies exactly", async () => {
  await using server = fakeLineServer((_, { index: n }) => [OK(n + 1), FULL, INTERNAL][n % 3]!);
  const summary = await runLoad({ ...base(server.port), clientes: 3, pedidos: 10 });
  assert.equal(summary.enviados, 30);
  assert.equal(summary.aceptados, 10);
  assert.equal(summary.rechazados, 10);
  assert.equal(summary.errores, 10);
  assert.deepEqual(summary.erroresPorTipo, { internal: 10 });
  assert.deepEqual(summary.conexiones, { abiertas: 3, fallidas: 0, perdidas: 0 });
  assert.equal(summary.interrumpido, false);
  assert.equal(summary.esperar, null);
  assert.ok(summary.latenciaMs.p50 !== null && summary.latenciaMs.max! >= summary.latenciaMs.p99!);
  assert.ok(summary.porSegundo > 0);
  assert.deepEqual(server.linesByConnection.map((l) => l.length), [10, 10, 10]);
  checkInvariant(summary);
});

Deno.test("runLoad() counts an ok that is no answer to an order as an error, and gives up the connection", async () => {
  await using server = fakeLineServer(() => '{"ok":true}');
  const summary = await runLoad({ ...base(server.port), clientes: 2, pedidos: 5 });
  assert.equal(summary.aceptados, 0, "nothing was accepted");
  assert.deepEqual(summary.erroresPorTipo, { protocolo: 2 });
  // Each connection is given up at its first such reply: what follows cannot be trusted.
  assert.equal(summary.enviados, 2);
  assert.equal(summary.conexiones.perdidas, 2);
  checkInvariant(summary);
});

Deno.test("runLoad() gives up a connection answered twice for one order, rather than credit replies to the wrong orders", async () => {
  await using server = fakeLineServer((_, { index: n }) => `${OK(2 * n + 1)}\n${OK(2 * n + 2)}`);
  const summary = await runLoad({ ...base(server.port), clientes: 1, pedidos: 5 });
  assert.equal(summary.aceptados, 1, "the first reply answers the first order");
  assert.equal(summary.conexiones.perdidas, 1);
  assert.ok((summary.incidencias.protocolo ?? 0) >= 1, JSON.stringify(summary.incidencias));
  checkInvariant(summary);
});

Deno.test("runLoad() sends valid orders, with clave PREFIX-CONN-N when asked", async () => {
  await using server = fakeLineServer((_, { index: n }) => OK(n + 1));
  await runLoad({ ...base(server.port), clientes: 2, pedidos: 3, clavePrefijo: "run7" });
  const claves = server.lines.map((line) => JSON.parse(line).clave).sort();
  assert.deepEqual(claves, [
    "run7-1-1",
    "run7-1-2",
    "run7-1-3",
    "run7-2-1",
    "run7-2-2",
    "run7-2-3",
  ]);
  const order = JSON.parse(server.linesByConnection[0]![0]!);
  assert.equal(typeof order.cliente, "string");
  assert.ok(Array.isArray(order.productos) && order.productos.length > 0);
  assert.equal(typeof order.direccion, "string");
});

Deno.test("runLoad() keeps at most --pipeline orders in flight per connection", async () => {
  // The server answers only once 4 requests are waiting: a pipeline of 4 keeps going.
  await using server = fakeLineServer((_, { index: n }) => OK(n + 1), { batch: 4 });
  const summary = await runLoad({ ...base(server.port), clientes: 2, pedidos: 20, pipeline: 4 });
  assert.equal(summary.aceptados, 40);
  assert.equal(server.maxInFlight, 4);

  await using one = fakeLineServer((_, { index: n }) => OK(n + 1));
  await runLoad({ ...base(one.port), clientes: 1, pedidos: 20 });
  assert.equal(one.maxInFlight, 1, "one at a time by default");
});

Deno.test("runLoad() against a port nobody listens on counts connection errors and ends", async () => {
  const port = unusedPort();
  const summary = await runLoad({ ...base(port), clientes: 5, pedidos: 10, esperar: true });
  assert.equal(summary.enviados, 0);
  assert.deepEqual(summary.conexiones, { abiertas: 0, fallidas: 5, perdidas: 0 });
  assert.deepEqual(summary.incidencias, { conexion: 5 });
  assert.equal(summary.errores, 0, "no order was sent, so none failed");
  assert.match(summary.detalles[0] ?? "", /Cannot connect to 127\.0\.0\.1 port \d+/);
  assert.deepEqual(summary.latenciaMs, { p50: null, p95: null, p99: null, max: null });
  assert.equal(summary.esperar?.listos, 0);
});

Deno.test("runLoad() counts a connection the daemon closes mid-run, and the orders left unanswered", async () => {
  // Each connection gets 3 replies; its 4th order is never answered and the connection closes.
  const seen = new Map<number, number>();
  await using server = fakeLineServer((_, { index: n, connection: conn }) => {
    const count = (seen.get(conn) ?? 0) + 1;
    seen.set(conn, count);
    return count <= 3 ? OK(n + 1) : { close: true };
  });
  const summary = await runLoad({ ...base(server.port), clientes: 2, pedidos: 10, pipeline: 1 });
  assert.equal(summary.aceptados, 6);
  assert.equal(summary.enviados, 8);
  assert.deepEqual(summary.erroresPorTipo, { sin_respuesta: 2 });
  assert.equal(summary.errores, 2, "the 2 orders never answered, not the connections");
  assert.deepEqual(summary.incidencias, { conexion_perdida: 2 });
  assert.equal(summary.conexiones.perdidas, 2);
  checkInvariant(summary);
});

Deno.test("runLoad() gives up on replies that never come, within replyTimeoutMs", async () => {
  await using server = fakeLineServer((_, { index: n }) => n < 2 ? OK(n + 1) : null);
  const summary = await runLoad({
    ...base(server.port),
    clientes: 2,
    pedidos: 5,
    pipeline: 2,
    replyTimeoutMs: 150,
  });
  assert.equal(summary.aceptados, 2);
  assert.equal(summary.erroresPorTipo.sin_respuesta, summary.enviados - 2);
  assert.match(summary.detalles.join("\n"), /No reply within 150 ms/);
  // Each connection, silent past the timeout, is given up as lost (one host: nowhere to move).
  assert.equal(summary.conexiones.perdidas, 2);
  checkInvariant(summary);
});

Deno.test("runLoad() with several hosts moves a connection whose host falls silent to the next, with the orders it had not sent", async () => {
  await using silent = fakeLineServer(() => null);
  await using good = fakeLineServer((_, { index: n }) => OK(n + 1), {
    hostname: "::1",
    port: silent.port,
  });
  const summary = await runLoad({
    hosts: ["127.0.0.1", "::1"],
    port: silent.port,
    progressEveryMs: 20,
    clientes: 2,
    pedidos: 5,
    replyTimeoutMs: 150,
  });
  // The first order of each connection went unanswered and is not sent again; the other four
  // of each went to ::1.
  assert.deepEqual([summary.enviados, summary.aceptados], [10, 8]);
  assert.deepEqual(summary.erroresPorTipo, { sin_respuesta: 2 });
  assert.equal(summary.incidencias.reconectadas, 2);
  assert.deepEqual(summary.conexiones, { abiertas: 2, fallidas: 0, perdidas: 0 });
  assert.equal(good.lines.length, 8);
  checkInvariant(summary);
});

Deno.test("runLoad() with unlimited pedidos stops at duracionMs, and the signal stops it too", async () => {
  await using server = fakeLineServer((_, { index: n }) => OK(n + 1));
  const timed = await runLoad({
    ...base(server.port),
    clientes: 2,
    pedidos: Infinity,
    duracionMs: 150,
  });
  assert.ok(timed.enviados > 0);
  assert.equal(timed.errores, 0, JSON.stringify(timed.erroresPorTipo));
  assert.equal(timed.interrumpido, false);

  const controller = new AbortController();
  const progress: number[] = [];
  const stopped = await runLoad({ ...base(server.port), clientes: 2, pedidos: 1e9 }, {
    signal: controller.signal,
    onProgress: (p) => {
      progress.push(p.enviados);
      if (p.enviados > 0) controller.abort();
    },
  });
  assert.equal(stopped.interrumpido, true);
  assert.ok(stopped.enviados > 0 && stopped.enviados < 2e9);
  assert.ok(progress.length > 0);
});

Deno.test("runLoad() paces orders with tasa (never faster than asked)", async () => {
  await using server = fakeLineServer((_, { index: n }) => OK(n + 1));
  const summary = await runLoad({ ...base(server.port), clientes: 4, pedidos: 4, tasa: 50 });
  assert.equal(summary.enviados, 16);
  assert.equal(summary.aceptados, 16);
  assert.equal(server.lines.length, 16);
  // At 50/s over all connections, the 16th order goes out 15 × 20 ms after the first at
  // the earliest: a slow machine only makes it later, so this bound cannot flake.
  assert.ok(summary.segundos >= 0.3, `16 orders in ${summary.segundos} s`);
});

Deno.test("runLoad() with tasa sends no order at or after the end of duracion, and reports no more orders per second than asked", async () => {
  await using server = fakeLineServer((_, { index: n }) => OK(n + 1));
  // 20/s for 0.3 s: orders at 0, 50, …, 250 ms over both connections; none at 300 ms.
  const timed = await runLoad({ ...base(server.port), clientes: 2, tasa: 20, duracionMs: 300 });
  assert.ok(timed.enviados <= 6, `${timed.enviados} orders sent in 0.3 s at 20/s`);
  assert.ok(timed.porSegundo <= 20, `${timed.porSegundo} orders/s reported at --tasa 20`);
  checkInvariant(timed);
  // 2 × 3 orders at 20/s take 6 intervals of 50 ms (0.3 s), not the 5 between the first and last.
  const counted = await runLoad({ ...base(server.port), clientes: 2, pedidos: 3, tasa: 20 });
  assert.equal(counted.enviados, 6);
  assert.ok(counted.porSegundo <= 20, `${counted.porSegundo} orders/s reported at --tasa 20`);
  assert.ok(counted.segundos >= 0.3, `6 orders at 20/s in ${counted.segundos} s`);
});

Deno.test("runLoad() refuses bad options before opening anything", async () => {
  await assert.rejects(() => runLoad({ clientes: 0 }), RangeError);
  await assert.rejects(() => runLoad({ pedidos: Infinity }), /needs duracionMs/);
  await assert.rejects(() => runLoad({ pipeline: 1.5 }), RangeError);
  await assert.rejects(() => runLoad({ tasa: -1 }), RangeError);
});
