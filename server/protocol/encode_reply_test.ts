import assert from "node:assert/strict";
import { ProtocolError } from "./errors.ts";
import { encodeReply, replyBytes } from "./encode_reply.ts";
import type { Pedido } from "./messages.ts";

Deno.test("encodeReply() writes compact JSON and one newline", () => {
  assert.equal(encodeReply({ ok: true, pong: true }), '{"ok":true,"pong":true}\n');
  assert.equal(
    encodeReply({ ok: true, id: 42, estado: "pendiente", mensaje: "✅ Pedido 42 recibido." }),
    '{"ok":true,"id":42,"estado":"pendiente","mensaje":"✅ Pedido 42 recibido."}\n',
  );
  assert.equal(
    encodeReply(
      new ProtocolError("invalid_order", "❌ Falta el cliente.", { campo: "cliente" }).toReply(),
    ),
    '{"ok":false,"error":"invalid_order","mensaje":"❌ Falta el cliente.","campo":"cliente"}\n',
  );
  // What an error adds (the order of not_cancellable) comes after §3's fields, which it cannot change.
  const refused = new ProtocolError("not_cancellable", "❌ No.", {
    extra: { pedido: { id: 7 }, ok: true, error: "x" },
  });
  assert.equal(
    encodeReply(refused.toReply()),
    '{"ok":false,"error":"not_cancellable","mensaje":"❌ No.","pedido":{"id":7}}\n',
  );
});

Deno.test("encodeReply() keeps every reply on one line", () => {
  const line = encodeReply({ ok: true, result: "a\nb\r\nc" });
  assert.equal(line.indexOf("\n"), line.length - 1);
  assert.deepEqual(JSON.parse(line), { ok: true, result: "a\nb\r\nc" });
  const error = encodeReply({ ok: false, error: "invalid_order", mensaje: "x\ny", campo: "a\n" });
  assert.equal(error.indexOf("\n"), error.length - 1);
});

Deno.test("replyBytes() encodes the line as UTF-8", () => {
  const reply = { ok: true as const, result: "Zoë 🍕" };
  const encoded = replyBytes(reply);
  assert.equal(new TextDecoder().decode(encoded), encodeReply(reply));
  assert.equal(encoded.at(-1), 0x0a);
  // A lone surrogate is escaped, so the bytes are always valid UTF-8.
  const lone = replyBytes({ ok: true, result: "a\ud800b" });
  assert.equal(
    new TextDecoder("utf-8", { fatal: true }).decode(lone),
    '{"ok":true,"result":"a\\ud800b"}\n',
  );
});

Deno.test("encodeReply() of a frozen order shared by many ESTADO replies writes the same line JSON.stringify would", () => {
  const pedido = Object.freeze({
    id: 3,
    cliente: 'Ana "la" del\n5º',
    productos: [{ nombre: "pan", cantidad: 2 }],
    estado: "en proceso",
    resultado: null,
  });
  // A partial order is enough for the codec.
  const order = pedido as unknown as Pedido;
  const waited = { ok: true, pedido: order } as const;
  const timedOut = { ok: true, pedido: order, timeout: true } as const;
  assert.equal(encodeReply(waited), JSON.stringify(waited) + "\n");
  assert.equal(encodeReply(timedOut), JSON.stringify(timedOut) + "\n");
  // Twice: the second comes from what the first encoded.
  assert.equal(encodeReply(timedOut), JSON.stringify(timedOut) + "\n");
  // Any other shape is encoded as it is.
  const other = { ok: true, timeout: true, pedido: order } as const;
  assert.equal(encodeReply(other), JSON.stringify(other) + "\n");
});
