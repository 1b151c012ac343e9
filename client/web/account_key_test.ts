import assert from "node:assert/strict";
import { accountKey } from "./account_key.ts";
import { scopedClave } from "./routes/pedidos.tsx";

Deno.test("accountKey() folds ASCII case only, as the daemon compares names", () => {
  assert.equal(accountKey("AnA"), "ana");
  assert.equal(accountKey("Ana_2-X.y"), "ana_2-x.y");
  assert.equal(accountKey("ÉBC"), "Ébc");
  assert.notEqual(accountKey("Ébc"), accountKey("ébc"), "two accounts for the daemon");
  assert.equal(
    accountKey("Jose\u0301"),
    accountKey("Jos\u00e9"),
    "one account, however it is typed",
  );
});

Deno.test("scopedClave() gives two accounts that differ beyond ASCII case two namespaces", () => {
  assert.equal(scopedClave("Ana", "k1"), scopedClave("ANA", "k1"));
  assert.notEqual(scopedClave("Ébc", "k1"), scopedClave("ébc", "k1"));
});
