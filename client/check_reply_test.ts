import assert from "node:assert/strict";
import type { Reply } from "../server/protocol/replies.ts";
import { checkReply } from "./check_reply.ts";
import { ClientError } from "./client_error.ts";
import { SAMPLE_PEDIDO } from "./testing/cli_harness.ts";

function refused(body: unknown, reply: unknown, field: RegExp): void {
  assert.throws(
    () => checkReply(body, reply as Reply),
    (error) =>
      error instanceof ClientError && error.code === "protocol" && field.test(error.message),
    JSON.stringify(reply),
  );
}

Deno.test("checkReply() passes the replies of every operation as the daemon sends them", () => {
  const ok = (body: unknown, reply: unknown) =>
    assert.equal(checkReply(body, reply as Reply), reply);
  ok({ cliente: "Ana" }, { ok: true, id: 1, estado: "pendiente", mensaje: "✅" });
  ok({ op: "PEDIDO" }, { ok: true, id: 1, estado: "listo", duplicado: true });
  ok({ op: "ESTADO", id: 42 }, { ok: true, pedido: SAMPLE_PEDIDO, timeout: true });
  ok({ op: "CANCELAR", id: 42 }, { ok: true, pedido: { ...SAMPLE_PEDIDO, estado: "cancelado" } });
  ok({ op: "LISTAR", limit: 2 }, { ok: true, pedidos: [SAMPLE_PEDIDO, SAMPLE_PEDIDO] });
  ok({ op: "LISTAR" }, { ok: true, pedidos: [] });
  ok({ op: "PING" }, { ok: true, pong: true });
  ok({ op: "TASK" }, { ok: true, result: 3 });
  ok({ op: "LOGIN" }, { ok: true, usuario: "ana", token: "t", expira: "2026-12-05T00:00:00Z" });
  ok({ op: "X" }, { ok: true, anything: 1 });
  ok({ op: "ESTADO", id: 42 }, {
    ok: false,
    error: "not_cancellable",
    mensaje: "❌",
    pedido: SAMPLE_PEDIDO,
  });
  const stats = {
    recibidos: 1,
    aceptados: 1,
    rechazados: 0,
    pendientes: 0,
    en_proceso: 0,
    listos: 1,
    errores: 0,
    cancelados: 0,
    capacidad: 6,
    libres: 6,
    workers: 3,
    conexiones: 1,
    uptime_s: 5,
    duracion_ms: { min: null, p50: null, p95: null, max: null, avg: null },
  };
  ok({ op: "STATS" }, { ok: true, stats });
});

Deno.test("checkReply() refuses a reply without the fields its request's answer has, naming the field", () => {
  refused({ op: "LISTAR" }, { ok: true }, /"pedidos"/);
  refused({ op: "LISTAR" }, { ok: true, pedidos: "x" }, /"pedidos"/);
  refused({ op: "LISTAR" }, { ok: true, pedidos: [null] }, /"pedidos\[0\]"/);
  refused({ op: "ESTADO", id: 1 }, { ok: true, pedido: null }, /"pedido"/);
  // Another order than the one asked about.
  refused(
    { op: "ESTADO", id: 7 },
    { ok: true, pedido: SAMPLE_PEDIDO },
    /se preguntó por el pedido 7 y respondió por el 42/,
  );
  refused(
    { op: "CANCELAR", data: { id: 7 } },
    { ok: true, pedido: SAMPLE_PEDIDO },
    /pedido 7 y respondió por el 42/,
  );
  refused(
    { op: "CANCELAR", id: 7 },
    { ok: false, error: "not_cancellable", mensaje: "❌", pedido: SAMPLE_PEDIDO },
    /pedido 7 y respondió por el 42/,
  );
  refused({ op: "STATS" }, { ok: true, stats: { recibidos: "9" } }, /"stats\.recibidos"/);
  refused({ cliente: "Ana" }, { ok: true }, /"id"/);
  refused({ cliente: "Ana" }, { ok: true, id: "abc", estado: "pendiente" }, /"id"/);
  refused({ cliente: "Ana" }, { ok: true, id: 1, estado: "\u001b[2J" }, /"estado"/);
  refused({ op: "ESTADO", id: 1 }, {
    ok: true,
    pedido: { ...SAMPLE_PEDIDO, id: "\u001b]0;x\u0007" },
  }, /"pedido\.id"/);
  refused({ op: "PING" }, { ok: true }, /"pong"/);
  refused({ op: "LOGIN" }, { ok: true, token: "t", expira: "mañana" }, /"expira"/);
  refused({ op: "PING" }, { ok: false, mensaje: "x" }, /"error"/);
});

Deno.test("checkReply() refuses a LISTAR answered with more orders than its limit asked for", () => {
  const three = { ok: true, pedidos: [SAMPLE_PEDIDO, SAMPLE_PEDIDO, SAMPLE_PEDIDO] };
  refused({ op: "LISTAR", limit: 2 }, three, /más que el limit/);
  checkReply({ op: "LISTAR", limit: 3 }, three as Reply);
  const many = { ok: true, pedidos: Array.from({ length: 51 }, () => SAMPLE_PEDIDO) };
  refused({ op: "LISTAR" }, many, /más que el limit/); // the default limit is 50
  checkReply({ op: "LISTAR", limit: 1e9 }, many as Reply); // over 1000 counts as 1000
});

Deno.test("checkReply() reads a LISTAR's limit where the daemon does: in data first", () => {
  const many = { ok: true, pedidos: Array.from({ length: 200 }, () => SAMPLE_PEDIDO) } as Reply;
  checkReply({ op: "LISTAR", data: { limit: 200 } }, many);
  checkReply({ op: "LISTAR", limit: 10, data: { limit: 200 } }, many); // data wins
  refused({ op: "LISTAR", limit: 200, data: { limit: 10 } }, many, /más que el limit/);
  refused({ op: "LISTAR", limit: 200, data: { limit: null } }, many, /más que el limit/); // 50
});
