import assert from "node:assert/strict";
import { parseProcessMs, portOrOff, wholeNumber } from "./value_parsers.ts";

Deno.test("wholeNumber: a whole number too large names the largest allowed, not the smallest", () => {
  assert.throws(() => wholeNumber(1)("9007199254740992"), /from 1 to 9007199254740991/);
  assert.throws(() => wholeNumber(1)("9".repeat(400)), /from 1 to 9007199254740991/);
  assert.throws(() => wholeNumber(1)("0"), /≥ 1$/);
  assert.throws(() => wholeNumber(1)("abc"), /≥ 1$/);
  assert.throws(() => wholeNumber(0, 10)("11"), /from 0 to 10$/);
});

Deno.test("parseProcessMs() and portOrOff() say what they accept in their errors", () => {
  assert.throws(
    () => parseProcessMs("100-86400001"),
    /must be a range MIN-MAX of whole numbers of ms from 0 to 86400000/,
  );
  assert.throws(
    () => parseProcessMs("86400001"),
    /must be a whole number of ms from 0 to 86400000, or a range MIN-MAX/,
  );
  assert.deepEqual(parseProcessMs(" 5 - 9 "), { min: 5, max: 9 });
  assert.throws(() => portOrOff("abc"), /must be a port from 0 to 65535, or off/);
  assert.throws(() => portOrOff("65536"), /or off/);
  assert.equal(portOrOff(" OFF "), null);
  assert.equal(portOrOff("0"), 0);
  assert.equal(portOrOff("9100"), 9100);
});
