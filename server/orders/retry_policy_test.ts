import assert from "node:assert/strict";
import { backoff, JITTER, MAX_BACKOFF_MS, RetryPolicy } from "./retry_policy.ts";

Deno.test("RetryPolicy.delayAfter() doubles the wait after each failed attempt, then gives up", () => {
  const policy = new RetryPolicy({ maxAttempts: 4, baseMs: 1000, random: () => 0.5 });
  assert.deepEqual([1, 2, 3, 4].map((n) => policy.delayAfter(n)), [1000, 2000, 4000, null]);
});

Deno.test("RetryPolicy.delayAfter() stays within ±25 % jitter, and every wait beats any earlier one", () => {
  const low = new RetryPolicy({ maxAttempts: 10, baseMs: 100, random: () => 0 });
  const high = new RetryPolicy({ maxAttempts: 10, baseMs: 100, random: () => 0.999999 });
  for (let n = 1; n < 9; n++) {
    const nominal = 100 * 2 ** (n - 1);
    assert.equal(low.delayAfter(n), nominal * (1 - JITTER));
    assert.ok(high.delayAfter(n)! <= nominal * (1 + JITTER));
    assert.ok(low.delayAfter(n + 1)! > high.delayAfter(n)!, `attempt ${n + 1} waits longer`);
  }
});

Deno.test("RetryPolicy.delayAfter() is capped at 10 minutes and never retries with maxAttempts 1", () => {
  const policy = new RetryPolicy({ maxAttempts: 100, baseMs: 1000, random: () => 0.99 });
  const late = policy.delayAfter(40)!;
  assert.ok(late <= MAX_BACKOFF_MS && late >= MAX_BACKOFF_MS * (1 - JITTER), String(late));
  assert.equal(new RetryPolicy({ maxAttempts: 1 }).delayAfter(1), null);
  assert.equal(new RetryPolicy({ maxAttempts: 3, baseMs: 0 }).delayAfter(1), 0);
});

Deno.test("RetryPolicy refuses maxAttempts below 1 and negative waits", () => {
  assert.throws(() => new RetryPolicy({ maxAttempts: 0 }), RangeError);
  assert.throws(() => new RetryPolicy({ baseMs: -1 }), RangeError);
});

Deno.test("backoff() resolves false at once when its signal aborts, and leaves no timer", async () => {
  const controller = new AbortController();
  const waiting = backoff(60_000, controller.signal);
  controller.abort();
  assert.equal(await waiting, false);
  assert.equal(await backoff(60_000, controller.signal), false, "already aborted");
  assert.equal(await backoff(0, new AbortController().signal), true);
});

Deno.test("RetryPolicy with a base longer than ten minutes waits at least the base's lower bound, never the ten-minute cap", () => {
  const hour = 3_600_000;
  for (const random of [0, 0.5, 0.999]) {
    const policy = new RetryPolicy({ maxAttempts: 4, baseMs: hour, random: () => random });
    const waits = [1, 2, 3].map((n) => policy.delayAfter(n)!);
    for (const wait of waits) {
      assert.ok(wait >= hour * 0.75, `${wait} ms: shorter than the base allows`);
      assert.ok(wait <= hour * 1.25, `${wait} ms: longer than the base's longest`);
    }
  }
});

Deno.test("RetryPolicy.endsAfterCut: an attempt cut short ends the order only when it was one past maxAttempts", () => {
  const policy = new RetryPolicy({ maxAttempts: 2, baseMs: 10 });
  assert.deepEqual([1, 2, 3, 4].map((n) => policy.endsAfterCut(n)), [false, false, true, true]);
});
