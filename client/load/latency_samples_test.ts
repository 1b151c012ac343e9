import assert from "node:assert/strict";
import { LatencySamples, percentile, round } from "./latency_samples.ts";

Deno.test("percentile() is the nearest rank", () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentile(values, 50), 50);
  assert.equal(percentile(values, 95), 95);
  assert.equal(percentile(values, 99), 99);
  assert.equal(percentile(values, 100), 100);
  assert.equal(percentile(values, 0), 1);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([10, 20, 30], 50), 20);
});

Deno.test("percentile() of nothing is null, and a percent outside 0..100 throws", () => {
  assert.equal(percentile([], 50), null);
  assert.throws(() => percentile([1], 101), RangeError);
  assert.throws(() => percentile([1], NaN), RangeError);
});

Deno.test("LatencySamples.summary() sorts, grows past its first buffer and rounds", () => {
  const samples = new LatencySamples();
  assert.deepEqual(samples.summary(), { p50: null, p95: null, p99: null, max: null });
  for (let i = 5000; i >= 1; i--) samples.add(i / 1000); // 0.001..5 ms, in reverse
  assert.equal(samples.count, 5000);
  assert.deepEqual(samples.summary(), { p50: 2.5, p95: 4.75, p99: 4.95, max: 5 });
  assert.deepEqual(samples.summary(0), { p50: 3, p95: 5, p99: 5, max: 5 });
});

Deno.test("round() rounds to the given decimals", () => {
  assert.equal(round(1.23456, 2), 1.23);
  assert.equal(round(2.5, 0), 3);
});
