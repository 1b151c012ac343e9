import assert from "node:assert/strict";
import { sinceText } from "./since_text.ts";

Deno.test("sinceText() says how long in the largest units that fit, not in raw seconds", () => {
  assert.equal(sinceText(0), "0 s");
  assert.equal(sinceText(59), "59 s");
  assert.equal(sinceText(60), "1 min");
  assert.equal(sinceText(3599), "59 min");
  assert.equal(sinceText(93784), "1 d 2 h");
  assert.equal(sinceText(3 * 3600 + 5 * 60 + 9), "3 h 5 min");
  assert.equal(sinceText(undefined as unknown as number), "—");
});
