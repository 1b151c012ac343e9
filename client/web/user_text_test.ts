import assert from "node:assert/strict";
import { cutText, isolate } from "./user_text.ts";

Deno.test("isolate() keeps user text's isolates balanced, so none takes the closing PDI or closes it early", () => {
  assert.equal(isolate("Ana"), "\u2068Ana\u2069");
  // An override then an open isolate: both are closed within.
  assert.equal(isolate("Ana\u202e\u2066"), "\u2068Ana\u202e\u2066\u2069\u2069");
  assert.equal(isolate("\u2067\u2068x"), "\u2068\u2067\u2068x\u2069\u2069\u2069");
  // A PDI with no initiator of its own is dropped; matched ones stay.
  assert.equal(isolate("x\u2069\u202ey"), "\u2068x\u202ey\u2069");
  assert.equal(isolate("\u2066a\u2069b"), "\u2068\u2066a\u2069b\u2069");
});

Deno.test("isolate() isolates each line of a text of several: a line break ends every isolate", () => {
  // The override after the break would otherwise reach past the closing PDI.
  assert.equal(isolate("Ana\n\u202e"), "\u2068Ana\u2069\n\u2068\u202e\u2069");
  assert.equal(isolate("a\r\nb\u2029c"), "\u2068a\u2069\r\n\u2068b\u2069\u2029\u2068c\u2069");
  assert.equal(isolate("x\u2066\ny"), "\u2068x\u2066\u2069\u2069\n\u2068y\u2069");
});

Deno.test("cutText() cuts by code points, ending in …", () => {
  assert.equal(cutText("😀😀😀", 2), "😀…");
  assert.equal(cutText("😀😀", 2), "😀😀");
});
