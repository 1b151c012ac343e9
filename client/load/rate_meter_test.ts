import assert from "node:assert/strict";
import { perSecond, RateMeter } from "./rate_meter.ts";

Deno.test("RateMeter.sample() is the rate over about the last window", () => {
  const meter = new RateMeter(1000);
  assert.equal(meter.sample(0, 0), 0);
  assert.equal(meter.sample(500, 50), 100);
  assert.equal(meter.sample(1000, 100), 100);
  // The first samples leave the window: only the last second counts.
  assert.equal(meter.sample(2000, 1100), 1000);
  assert.equal(meter.sample(3000, 1100), 0);
});

Deno.test("perSecond() is 0 for an empty interval", () => {
  assert.equal(perSecond(10, 0), 0);
  assert.equal(perSecond(10, 2), 5);
});
