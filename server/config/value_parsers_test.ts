import assert from "node:assert/strict";
import { wholeNumber } from "./value_parsers.ts";

Deno.test("wholeNumber: a whole number too large names the largest allowed, not the smallest", () => {
  assert.throws(() => wholeNumber(1)("9007199254740992"), /from 1 to 9007199254740991/);
  assert.throws(() => wholeNumber(1)("9".repeat(400)), /from 1 to 9007199254740991/);
  assert.throws(() => wholeNumber(1)("0"), /≥ 1$/);
  assert.throws(() => wholeNumber(1)("abc"), /≥ 1$/);
  assert.throws(() => wholeNumber(0, 10)("11"), /from 0 to 10$/);
});
