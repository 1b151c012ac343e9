import assert from "node:assert/strict";
import { writeStallLimit } from "./write_stall_limit.ts";

Deno.test("writeStallLimit: a peer never seen reading is cut at the idle timeout; one seen reading slowly gets four times its slowest pace, bounded", () => {
  assert.equal(writeStallLimit(2000, 0), 2000, "reads nothing: the idle timeout");
  assert.equal(writeStallLimit(2000, 100), 2000, "reads briskly: the idle timeout");
  assert.equal(writeStallLimit(2000, 3000), 12_000, "seen reading every 3 s");
  assert.equal(writeStallLimit(2000, 3_600_000), 600_000, "at most 10 minutes");
  assert.equal(writeStallLimit(300_000, 0), 300_000, "the default");
  assert.equal(writeStallLimit(300_000, 400_000), 1_200_000, "or four idle timeouts");
});
