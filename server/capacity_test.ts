import assert from "node:assert/strict";
import { Capacity } from "./capacity.ts";

Deno.test("Capacity.tryTake() gives permits up to the capacity, then none; a released permit makes room", () => {
  const capacity = Capacity.create(2);
  const a = capacity.tryTake();
  const b = capacity.tryTake();
  assert.ok(a && b);
  assert.equal(capacity.tryTake(), null);
  assert.equal(capacity.free, 0);
  a.release();
  assert.equal(a.released, true);
  assert.equal(capacity.free, 1);
  assert.ok(capacity.tryTake());
});

Deno.test("Permit.release() gives back one slot however often it is called, and with using", () => {
  const capacity = Capacity.create(3);
  const permit = capacity.tryTake()!;
  permit.release();
  permit.release();
  assert.equal(capacity.used, 0, "a second release frees nothing more");
  {
    using _held = capacity.tryTake()!;
    assert.equal(capacity.used, 1);
  }
  assert.equal(capacity.used, 0, "disposed at the end of its block");
});

Deno.test("Capacity.takeBeyond() holds slots past the capacity until enough are given back", () => {
  const capacity = Capacity.create(2);
  const recovered = capacity.takeBeyond(3);
  assert.equal(recovered.length, 3);
  assert.equal(capacity.used, 3);
  assert.equal(capacity.free, 0);
  assert.equal(capacity.tryTake(), null);
  recovered[0]!.release();
  assert.equal(capacity.tryTake(), null, "still at capacity");
  recovered[1]!.release();
  assert.ok(capacity.tryTake(), "room once below capacity");
  assert.deepEqual(capacity.takeBeyond(0), []);
});
