import assert from "node:assert/strict";
import { DeadNodeWatch, nodeLockKey } from "./node_sentinel.ts";

Deno.test("DeadNodeWatch confirms a daemon found dead at every look for the grace, and forgets one found alive in between", () => {
  const watch = new DeadNodeWatch(5000, 2500);
  assert.deepEqual(watch.confirm(["a", "b"], 0), []);
  assert.deepEqual(watch.confirm(["a", "b"], 1000), []);
  // b's lock is back (its connection was only reset): it starts over.
  assert.deepEqual(watch.confirm(["a"], 2000), []);
  assert.deepEqual(watch.confirm(["a", "b"], 3000), []);
  assert.deepEqual(watch.confirm(["a", "b"], 4000), []);
  assert.deepEqual(watch.confirm(["a", "b"], 5000), ["a"]);
  assert.deepEqual(watch.confirm(["a", "b"], 7000), ["a"]);
  assert.deepEqual(watch.confirm(["a", "b"], 8000), ["a", "b"]);
});

Deno.test("DeadNodeWatch starts over after a gap between looks (the database out of reach meanwhile)", () => {
  const watch = new DeadNodeWatch(5000, 2500);
  watch.confirm(["a"], 0);
  watch.confirm(["a"], 1000);
  // No look for 9 s: what a found says nothing of those seconds.
  assert.deepEqual(watch.confirm(["a"], 10_000), []);
  assert.deepEqual(watch.confirm(["a"], 12_000), []);
  assert.deepEqual(watch.confirm(["a"], 14_000), []);
  assert.deepEqual(watch.confirm(["a"], 15_000), ["a"]);
});

Deno.test("nodeLockKey() is a positive 31-bit key, the same for the same daemon, different for others", () => {
  const keys = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const id = crypto.randomUUID();
    const key = nodeLockKey(id);
    assert.equal(key, nodeLockKey(id));
    assert.ok(Number.isInteger(key) && key >= 1 && key <= 0x7fffffff, String(key));
    keys.add(key);
  }
  assert.ok(keys.size >= 999, `${keys.size} keys for 1000 daemons`);
});
