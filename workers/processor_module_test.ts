import assert from "node:assert/strict";
import {
  describeError,
  encodeResult,
  MAX_ERROR_CHARS,
  MAX_RESULT_BYTES,
} from "./processor_module.ts";

Deno.test("encodeResult() stores JSON text, null for undefined, up to 65536 bytes", () => {
  assert.equal(encodeResult({ total: 3 }), '{"total":3}');
  assert.equal(encodeResult(null), "null");
  assert.equal(encodeResult(undefined), null);
  const fits = "é".repeat((MAX_RESULT_BYTES - 2) / 2); // two bytes each, plus the quotes
  assert.equal(encodeResult(fits)?.length, fits.length + 2);
  assert.throws(() => encodeResult(fits + "é"), /too large: 65538 bytes of JSON, at most 65536/);
});

Deno.test("encodeResult() writes U+FFFD for a NUL or a lone surrogate in any string of the result, keys too, as every store keeps it", () => {
  const odd = { "k\u0000": ["a\u0000b", { t: "\ud800x" }], ok: "🚀 e\u0301", n: 1 };
  assert.deepEqual(JSON.parse(encodeResult(odd)!), {
    "k\ufffd": ["a\ufffdb", { t: "\ufffdx" }],
    ok: "🚀 e\u0301",
    n: 1,
  });
  assert.equal(JSON.parse(encodeResult("\udc00")!), "\ufffd");
  const plain = { total: 3, items: ["pan", "leche"] };
  assert.equal(encodeResult(plain), JSON.stringify(plain), "anything else as it is");
});

Deno.test("encodeResult() refuses what JSON cannot carry", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeResult(cyclic), /not JSON-serialisable/);
  assert.throws(() => encodeResult(1n), /not JSON-serialisable/);
  assert.throws(() => encodeResult(() => 1), /not JSON-serialisable: a function has no JSON form/);
  assert.throws(
    () => encodeResult({ toJSON: () => undefined }),
    /not JSON-serialisable: an object whose toJSON\(\) gives undefined has no JSON form/,
  );
  assert.throws(() => encodeResult(Symbol("s")), /not JSON-serialisable/);
});

Deno.test("describeError() gives the thrown message, whatever was thrown, cut to 2000 characters", () => {
  assert.equal(describeError(new TypeError("bad input")), "bad input");
  assert.equal(describeError("plain text"), "plain text");
  assert.equal(describeError({ code: 7 }), '{"code":7}');
  assert.equal(describeError(undefined), "undefined");
  assert.equal(describeError(new Error("")), "Error");
  assert.equal(describeError(Object.create(null)), "{}");
  assert.equal(describeError(10n), "10", "a BigInt, which JSON.stringify refuses");
  const long = describeError(new Error("x".repeat(10_000)));
  assert.equal(long.length, MAX_ERROR_CHARS);
  assert.ok(long.endsWith("…"));
});

Deno.test("describeError() counts the 2000 characters in code points and never splits an emoji", () => {
  // 1500 emoji are 3000 UTF-16 units but 1500 characters: kept whole.
  const emoji = "😀".repeat(1500);
  assert.equal(describeError(new Error(emoji)), emoji);
  assert.equal(describeError("😀".repeat(MAX_ERROR_CHARS)), "😀".repeat(MAX_ERROR_CHARS));
  // Cut after an odd number of units: whole emoji, then "…", no U+FFFD or lone half.
  const cut = describeError(`a${"😀".repeat(3000)}`);
  assert.equal([...cut].length, MAX_ERROR_CHARS);
  assert.equal(cut, `a${"😀".repeat(MAX_ERROR_CHARS - 2)}…`);
  assert.equal(
    describeError("😀".repeat(MAX_ERROR_CHARS + 1)),
    `${"😀".repeat(MAX_ERROR_CHARS - 1)}…`,
  );
});

Deno.test("encodeResult() writes a Map, a Set, NaN as JSON does, and says the first one and where", () => {
  const told: string[] = [];
  const note = (what: string) => told.push(what);
  assert.equal(
    encodeResult({ a: [1, NaN], m: new Map([["k", 1]]) }, note),
    '{"a":[1,null],"m":{}}',
  );
  assert.deepEqual(told, ["NaN, written null at resultado.a[1]"]);
  told.length = 0;
  assert.equal(encodeResult({ s: { t: new Set([1]) } }, note), '{"s":{"t":{}}}');
  assert.deepEqual(told, ["a Set, written {} at resultado.s.t"]);
  told.length = 0;
  assert.equal(encodeResult(Infinity, note), "null");
  assert.deepEqual(told, ["Infinity, written null at resultado"]);
  told.length = 0;
  // What JSON keeps whole (a Date is written as its ISO text) says nothing.
  assert.equal(
    encodeResult({ d: new Date(0), n: [1, "x", null, { y: true }] }, note),
    '{"d":"1970-01-01T00:00:00.000Z","n":[1,"x",null,{"y":true}]}',
  );
  assert.deepEqual(told, []);
});

Deno.test("encodeResult() says what JSON loses of an Error, a RegExp, a class without own data, a typed array, an invalid Date, a function", () => {
  const said = (result: unknown) => {
    const told: string[] = [];
    const text = encodeResult(result, (what) => told.push(what));
    return [text, told.join("; ")];
  };
  class Vacia {
    get total() {
      return 3;
    }
  }
  assert.deepEqual(said({ e: new Error("boom") }), [
    '{"e":{}}',
    "an Error, written {} at resultado.e",
  ]);
  assert.deepEqual(said([/x/]), ["[{}]", "a RegExp, written {} at resultado[0]"]);
  assert.deepEqual(said({ v: new Vacia() }), ['{"v":{}}', "a Vacia, written {} at resultado.v"]);
  assert.deepEqual(said({ b: new Uint8Array([7, 8]) }), [
    '{"b":{"0":7,"1":8}}',
    "a Uint8Array, written as an object of its indices at resultado.b",
  ]);
  assert.deepEqual(said({ d: new Date(NaN) }), [
    '{"d":null}',
    "an invalid Date, written null at resultado.d",
  ]);
  assert.deepEqual(said({ f: () => 1, n: 2 }), ['{"n":2}', "a function, left out at resultado.f"]);
  assert.deepEqual(said([Symbol("s")]), ["[null]", "a symbol, written null at resultado[0]"]);
  // What JSON writes whole says nothing: a boxed primitive, a class with its
  // own data, a toJSON, an empty plain object, an undefined property.
  class Caja {
    total = 3;
  }
  assert.deepEqual(
    said({
      n: new Number(1),
      s: new String("x"),
      c: new Caja(),
      j: { toJSON: () => 5 },
      o: {},
      u: undefined,
    }),
    ['{"n":1,"s":"x","c":{"total":3},"j":5,"o":{}}', ""],
  );
  assert.deepEqual(said(Object.create(null)), ["{}", ""]);
});

Deno.test("describeError() drops terminal colour sequences (Deno colours a failed import's message even into a pipe)", () => {
  const esc = String.fromCharCode(27);
  const coloured = new Error(
    `Module not found "x.ts".\n    at ${esc}[0m${esc}[36mfile:///m.ts${esc}[0m:${esc}[0m${esc}[33m1${esc}[0m`,
  );
  assert.equal(describeError(coloured), 'Module not found "x.ts".\n    at file:///m.ts:1');
  assert.equal(describeError(`${esc}[1m${esc}[31m${esc}[0m`), "(no message)");
});
