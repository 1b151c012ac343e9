import assert from "node:assert/strict";
import { fakeLineServer } from "../testing/fake_line_server.ts";
import { resolveLoadSettings } from "./load_settings.ts";
import { waitForListos } from "./wait_for_listos.ts";

const AT = "2026-12-01T10:00:00.000Z";

function pedido(id: number, estado: string) {
  return {
    id,
    clave: null,
    cliente: "Ana",
    productos: [{ nombre: "pan", cantidad: 1 }],
    direccion: "C 1",
    estado,
    fecha_recibido: AT,
    fecha_inicio: estado === "listo" ? AT : null,
    fecha_fin: estado === "listo" ? AT : null,
    worker: estado === "listo" ? 1 : null,
    intentos: estado === "listo" ? 1 : 0,
    detalle_error: null,
    resultado: null,
  };
}

/** What a request line asks (`op`, and the id of an ESTADO). */
function asked(line: string): { op: string; id?: number } {
  return JSON.parse(line);
}

Deno.test("waitForListos() goes on from the next host when the daemon it waits on dies, and counts every order listo", async () => {
  // A: lists nothing finished yet, then dies on every ESTADO (closes without a reply).
  await using dying = fakeLineServer((line) =>
    asked(line).op === "LISTAR" ? JSON.stringify({ ok: true, pedidos: [] }) : { close: true }
  );
  // B, on the other loopback address (the tests may use no other): the orders are done there.
  await using other = fakeLineServer((line) => {
    const { op, id } = asked(line);
    if (op === "LISTAR") return JSON.stringify({ ok: true, pedidos: [] });
    return JSON.stringify({ ok: true, pedido: pedido(id!, "listo") });
  }, { hostname: "::1", port: dying.port });
  const settings = resolveLoadSettings({
    hosts: ["127.0.0.1", "::1"],
    port: dying.port,
    clientes: 2,
    esperarTimeoutMs: 10_000,
  });
  let seen = 0;
  const summary = await waitForListos([1, 2, 3], {
    settings,
    started: { wall: Date.parse(AT), mono: performance.now() },
    signal: new AbortController().signal,
    onListo: () => seen++,
  });
  assert.deepEqual(
    [summary.listos, summary.sinTerminar, seen],
    [3, 0, 3],
    JSON.stringify(summary),
  );
  assert.ok(dying.lines.some((line) => asked(line).op === "ESTADO"), "A was asked first");
  assert.equal(other.lines.filter((line) => asked(line).op === "ESTADO").length, 3);
});

Deno.test("waitForListos() asks again, on another host, an order whose daemon answered shutting_down", async () => {
  await using stopping = fakeLineServer((line) =>
    asked(line).op === "LISTAR"
      ? JSON.stringify({ ok: true, pedidos: [] })
      : JSON.stringify({ ok: false, error: "shutting_down", mensaje: "Se está deteniendo." })
  );
  await using other = fakeLineServer((line) => {
    const { op, id } = asked(line);
    if (op === "LISTAR") return JSON.stringify({ ok: true, pedidos: [] });
    return JSON.stringify({ ok: true, pedido: pedido(id!, "listo") });
  }, { hostname: "::1", port: stopping.port });
  const summary = await waitForListos([7], {
    settings: resolveLoadSettings({
      hosts: ["127.0.0.1", "::1"],
      port: stopping.port,
      clientes: 1,
      esperarTimeoutMs: 10_000,
    }),
    started: { wall: Date.parse(AT), mono: performance.now() },
    signal: new AbortController().signal,
    onListo: () => {},
  });
  assert.equal(summary.listos, 1, JSON.stringify(summary));
  assert.equal(summary.sinTerminar, 0);
  assert.deepEqual(
    [stopping, other].map((daemon) =>
      daemon.lines.filter((line) => asked(line).op === "ESTADO").length
    ),
    [1, 1],
    "asked once where it was stopping, then where it was not",
  );
});

Deno.test("waitForListos() counts an accepted order the daemon no longer has (retention) as borrado, not as unfinished", async () => {
  // Orders 1 and 2 listed listo; 3 and 4 deleted by retention before the wait asked.
  await using daemon = fakeLineServer((line) => {
    const { op } = asked(line);
    if (op === "LISTAR") {
      return JSON.stringify({ ok: true, pedidos: [pedido(2, "listo"), pedido(1, "listo")] });
    }
    return JSON.stringify({ ok: false, error: "not_found", mensaje: "No existe." });
  });
  const summary = await waitForListos([1, 2, 3, 4], {
    settings: resolveLoadSettings({
      hosts: ["127.0.0.1"],
      port: daemon.port,
      clientes: 1,
      esperarTimeoutMs: 10_000,
    }),
    started: { wall: Date.parse(AT), mono: performance.now() },
    signal: new AbortController().signal,
    onListo: () => {},
  });
  assert.deepEqual(
    [summary.listos, summary.borrados, summary.sinTerminar],
    [2, 2, 0],
    JSON.stringify(summary),
  );
  assert.equal(summary.hastaListosS, null, "not known to be listo: no time until all listo");
});

Deno.test("waitForListos() against a daemon whose replies have the wrong shape ends with a summary, counting the orders unfinished", async () => {
  for (
    const [listar, estado] of [
      [{ ok: true }, { ok: true }],
      [{ ok: true, pedidos: [null] }, { ok: true, pedido: { id: 1 } }],
      [{ ok: true, pedidos: "x" }, { ok: true, pedido: pedido(1, "\u001b[2J") }],
    ]
  ) {
    await using daemon = fakeLineServer((line) =>
      JSON.stringify(asked(line).op === "LISTAR" ? listar : estado)
    );
    const settings = resolveLoadSettings({
      hosts: ["127.0.0.1"],
      port: daemon.port,
      clientes: 1,
      esperarTimeoutMs: 600,
    });
    const summary = await waitForListos([1, 2], {
      settings,
      started: { wall: Date.parse(AT), mono: performance.now() },
      signal: new AbortController().signal,
      onListo: () => {},
    });
    assert.deepEqual([summary.listos, summary.sinTerminar], [0, 2], JSON.stringify(summary));
    // Each connection given up is followed by a pause, not by the next one at once.
    const connections = daemon.linesByConnection.length;
    assert.ok(connections <= 12, `${connections} connections in 600 ms`);
  }
});

Deno.test("waitForListos() says no daemon answered when the one waited on dies and none comes back, and not when one answers", async () => {
  const daemon = fakeLineServer((line) => {
    const { op, id } = asked(line);
    if (op === "LISTAR") return JSON.stringify({ ok: true, pedidos: [] });
    return JSON.stringify({ ok: true, pedido: pedido(id!, "pendiente") });
  });
  const settings = resolveLoadSettings({
    hosts: ["127.0.0.1"],
    port: daemon.port,
    clientes: 1,
    esperarTimeoutMs: 1500,
  });
  const waiting = waitForListos([1, 2], {
    settings,
    started: { wall: Date.parse(AT), mono: performance.now() },
    signal: new AbortController().signal,
    onListo: () => {},
  });
  // It answers pendiente for a while, then dies for good.
  await new Promise((resolve) => setTimeout(resolve, 400));
  await daemon[Symbol.asyncDispose]();
  const gone = await waiting;
  assert.deepEqual([gone.sinTerminar, gone.sinServidor], [2, true], JSON.stringify(gone));

  await using alive = fakeLineServer((line) => {
    const { op, id } = asked(line);
    if (op === "LISTAR") return JSON.stringify({ ok: true, pedidos: [] });
    return JSON.stringify({ ok: true, pedido: pedido(id!, "pendiente") });
  });
  const still = await waitForListos([1, 2], {
    settings: resolveLoadSettings({
      hosts: ["127.0.0.1"],
      port: alive.port,
      clientes: 1,
      esperarTimeoutMs: 600,
    }),
    started: { wall: Date.parse(AT), mono: performance.now() },
    signal: new AbortController().signal,
    onListo: () => {},
  });
  assert.deepEqual([still.sinTerminar, still.sinServidor], [2, false], JSON.stringify(still));
});

Deno.test("waitForListos() asks again, after a pause, a wait the daemon refused with queue_full (too many waits open), and counts the order listo", async () => {
  // Every order's first two waits are refused, as when --max-waiters waits are open already.
  const refused = new Map<number, number>();
  await using daemon = fakeLineServer((line) => {
    const { op, id } = asked(line);
    if (op === "LISTAR") return JSON.stringify({ ok: true, pedidos: [] });
    const times = refused.get(id!) ?? 0;
    if (times < 2) {
      refused.set(id!, times + 1);
      return JSON.stringify({
        ok: false,
        error: "queue_full",
        mensaje: "❌ Demasiadas esperas abiertas. Intente más tarde.",
        campo: "esperar",
      });
    }
    return JSON.stringify({ ok: true, pedido: pedido(id!, "listo") });
  });
  const summary = await waitForListos([1, 2, 3], {
    settings: resolveLoadSettings({
      hosts: ["127.0.0.1"],
      port: daemon.port,
      clientes: 2,
      esperarTimeoutMs: 10_000,
    }),
    started: { wall: Date.parse(AT), mono: performance.now() },
    signal: new AbortController().signal,
    onListo: () => {},
  });
  assert.deepEqual(
    [summary.listos, summary.sinTerminar],
    [3, 0],
    JSON.stringify(summary),
  );
  assert.equal(typeof summary.hastaListosS, "number");
  assert.equal(daemon.lines.filter((line) => asked(line).op === "ESTADO").length, 9);
});
