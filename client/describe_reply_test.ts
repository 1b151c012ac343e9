import assert from "node:assert/strict";
import { describeReply } from "./describe_reply.ts";
import type { Reply } from "../server/protocol/replies.ts";
import { SAMPLE_PEDIDO } from "./testing/cli_harness.ts";

Deno.test("describeReply() shows an error's mensaje, code and campo", () => {
  assert.equal(
    describeReply({ ok: false, error: "invalid_order", mensaje: "❌ Falta.", campo: "cliente" }),
    "❌ Falta. (invalid_order, campo cliente)\n",
  );
});

Deno.test("describeReply() shows a refusal without mensaje or code in words, never undefined", () => {
  const text = describeReply({ ok: false } as unknown as Reply);
  assert.doesNotMatch(text, /undefined/);
  assert.equal(text, "❌ El servidor rechazó la solicitud. (sin código)\n");
});

Deno.test("describeReply() shows control characters in an order as escapes, never as themselves", () => {
  const pedido = {
    ...SAMPLE_PEDIDO,
    cliente: "evil\u001b[2J\u001b[31mX",
    productos: ["pan\r\nagua", { nombre: "\u202eoñi", cantidad: 2 }],
    direccion: "C 1\u0007",
  };
  for (
    const text of [
      describeReply({ ok: true, pedidos: [pedido] } as unknown as Reply),
      describeReply({ ok: true, pedido } as unknown as Reply),
    ]
  ) {
    // deno-lint-ignore no-control-regex -- none may be left
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f\u202e]/, JSON.stringify(text));
    assert.match(text, /evil\\u001b\[2J/);
    assert.match(text, /pan\\r\\nagua/);
    assert.match(text, /\\u202eoñi ×2/);
  }
});
