import assert from "node:assert/strict";
import { runTask } from "./run_task.ts";

Deno.test("run_task: sum adds its numbers; an empty list is 0", () => {
  assert.equal(runTask({ name: "sum", args: [1, 2, 3.5] }), 6.5);
  assert.ok(Object.is(runTask({ name: "sum", args: [] }), 0));
});

Deno.test("run_task: sum whose running total overflows but whose sum does not gives that sum", () => {
  assert.equal(runTask({ name: "sum", args: [1e308, 1e308, -1e308] }), 1e308);
  assert.equal(runTask({ name: "sum", args: [-1e308, -1e308, 1e308, 5] }), -1e308 + 5);
  // A sum that really is too large stays infinite (TASK answers invalid_task).
  assert.equal(runTask({ name: "sum", args: [1e308, 1e308] }), Infinity);
});
