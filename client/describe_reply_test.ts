import assert from "node:assert/strict";
import { describeReply } from "./describe_reply.ts";
import type { Reply } from "../server/protocol/replies.ts";

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
