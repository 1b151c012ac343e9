import assert from "node:assert/strict";
import { orderJson, PEDIDOS_PROTOCOL } from "./load_protocol.ts";

const encoder = new TextEncoder();
const FULL = JSON.stringify({ ok: false, error: "queue_full", mensaje: "lleno" });

Deno.test("PEDIDOS_PROTOCOL.classify() reads ok, queue_full, other codes and garbage", () => {
  const line = (text: string) => encoder.encode(text);
  assert.deepEqual(
    PEDIDOS_PROTOCOL.classify(line('{"ok":true,"id":4,"estado":"listo","duplicado":true}')),
    {
      kind: "accepted",
      id: 4,
      duplicado: true,
    },
  );
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line(FULL)), { kind: "rejected" });
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line('{"ok":false,"error":"busy"}')), {
    kind: "error",
    code: "busy",
  });
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line("nope")), { kind: "error", code: "protocolo" });
  // An ok that is no answer to an order accepted nothing: no id, an id that is no id, no state.
  for (
    const text of [
      '{"ok":true,"pong":true}',
      '{"ok":true}',
      '{"ok":true,"id":"abc","estado":"pendiente"}',
      '{"ok":true,"id":0,"estado":"pendiente"}',
      '{"ok":true,"id":5,"estado":"zz"}',
      '{"ok":false}',
    ]
  ) {
    assert.deepEqual(PEDIDOS_PROTOCOL.classify(line(text)), { kind: "error", code: "protocolo" });
  }
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line('{"ok":1}')), {
    kind: "error",
    code: "protocolo",
  });
});

Deno.test("orderJson() is a valid order of its connection, with the clave escaped", () => {
  assert.deepEqual(JSON.parse(orderJson({ client: 3, index: 7, clave: 'a"b' })), {
    cliente: "Cliente 4",
    productos: ["pan", { nombre: "leche", cantidad: 2 }],
    direccion: "Calle Falsa 104",
    clave: 'a"b',
  });
  assert.deepEqual(JSON.parse(orderJson({ client: 0, index: 2, clave: null })), {
    cliente: "Cliente 1",
    productos: ["pan", { nombre: "leche", cantidad: 3 }],
    direccion: "Calle Falsa 101",
  });
});

Deno.test("PEDIDOS_PROTOCOL.encode() is the order's JSON and one newline", () => {
  const order = { client: 1, index: 0, clave: "k-1" };
  assert.equal(new TextDecoder().decode(PEDIDOS_PROTOCOL.encode(order)), `${orderJson(order)}\n`);
});
