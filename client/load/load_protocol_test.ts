import assert from "node:assert/strict";
import { orderJson, PEDIDOS_PROTOCOL } from "./load_protocol.ts";

const encoder = new TextEncoder();
const FULL = JSON.stringify({ ok: false, error: "queue_full", mensaje: "lleno" });

Deno.test("PEDIDOS_PROTOCOL.classify() reads ok, queue_full, other codes and garbage", () => {
  const line = (text: string) => encoder.encode(text);
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line('{"ok":true,"id":4,"duplicado":true}')), {
    kind: "accepted",
    id: 4,
    duplicado: true,
  });
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line(FULL)), { kind: "rejected" });
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line('{"ok":false,"error":"busy"}')), {
    kind: "error",
    code: "busy",
  });
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line("nope")), { kind: "error", code: "protocolo" });
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line('{"ok":1}')), {
    kind: "error",
    code: "protocolo",
  });
  assert.doesNotThrow(() => JSON.parse(orderJson({ client: 3, index: 7, clave: 'a"b' })));
});
