import assert from "node:assert/strict";
import { DurationHistogram } from "./duration_histogram.ts";

Deno.test("DurationHistogram.summary() is all null before the first value", () => {
  assert.deepEqual(new DurationHistogram().summary(), {
    min: null,
    p50: null,
    p95: null,
    max: null,
    avg: null,
  });
});

Deno.test("DurationHistogram gives exact percentiles below one second", () => {
  const h = new DurationHistogram();
  for (let ms = 1; ms <= 100; ms++) h.record(ms);
  assert.deepEqual(h.summary(), { min: 1, p50: 50, p95: 95, max: 100, avg: 51 });
});

Deno.test("DurationHistogram stays within 1/64 above one second", () => {
  const h = new DurationHistogram();
  const values = Array.from({ length: 1000 }, (_, i) => 1000 + i * 7);
  for (const v of values) h.record(v);
  const sorted = [...values].sort((a, b) => a - b);
  for (const p of [50, 95, 99]) {
    const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
    const got = h.percentile(p)!;
    assert.ok(Math.abs(got - exact) <= exact / 64 + 1, `p${p}: ${got} vs ${exact}`);
  }
  assert.equal(h.summary().min, 1000);
  assert.equal(h.summary().max, 1000 + 999 * 7);
});
