import assert from "node:assert/strict";
import { Tally } from "./tally.ts";

Deno.test("Tally counts a server's error codes as codes: escapes and strange names under one kind, at most 33 kinds", () => {
  const tally = new Tally();
  tally.error("queue_full");
  tally.error("\u001b]0;pwn\u0007\u001b[2J");
  tally.error("x".repeat(500_000));
  tally.error("constructor");
  tally.error("__proto__");
  assert.deepEqual({ ...tally.erroresPorTipo }, {
    queue_full: 1,
    codigo_no_valido: 3,
    constructor: 1,
  });
  for (let i = 0; i < 1000; i++) tally.error(`code_${i}`);
  assert.equal(Object.keys(tally.erroresPorTipo).length, 33);
  assert.equal(tally.erroresPorTipo.otros, 1000 - 29);
  assert.equal(tally.errores, 1005, "every order still counted");
  tally.incident("\u009b31m");
  assert.deepEqual({ ...tally.incidencias }, { codigo_no_valido: 1 });
});
