import assert from "node:assert/strict";
import { writeStallLimit } from "./write_stall_limit.ts";

Deno.test("writeStallLimit: a peer never seen reading is cut at the idle timeout; one seen reading slowly gets four times its slowest pace, up to four idle timeouts", () => {
  assert.equal(writeStallLimit(2000, 0), 2000, "reads nothing: the idle timeout");
  assert.equal(writeStallLimit(2000, 100), 2000, "reads briskly: the idle timeout");
  assert.equal(writeStallLimit(2000, 1500), 6000, "seen reading every 1.5 s");
  assert.equal(writeStallLimit(2000, 5000), 8000, "pausing longer stretches it no further");
  assert.equal(writeStallLimit(300_000, 0), 300_000, "the default");
  assert.equal(writeStallLimit(300_000, 400_000), 1_200_000, "or four idle timeouts");
});
