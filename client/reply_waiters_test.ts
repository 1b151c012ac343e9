import assert from "node:assert/strict";
import { ReplyWaiters } from "./reply_waiters.ts";

Deno.test("ReplyWaiters settles waiters first in, first out", async () => {
  const waiters = new ReplyWaiters<number>();
  const first = waiters.add();
  const second = waiters.add();
  const third = waiters.add();
  assert.equal(waiters.size, 3);
  assert.equal(waiters.resolveOldest(1), true);
  assert.equal(waiters.rejectOldest(new Error("two")), true);
  assert.equal(waiters.resolveOldest(3), true);
  assert.equal(waiters.resolveOldest(4), false, "nobody waits");
  assert.equal(await first, 1);
  await assert.rejects(second, /two/);
  assert.equal(await third, 3);
  assert.equal(waiters.size, 0);
});

Deno.test("ReplyWaiters keeps the place of a waiter whose signal aborts, and drops its reply", async () => {
  const waiters = new ReplyWaiters<string>();
  const controller = new AbortController();
  const abandoned = waiters.add(controller.signal);
  const next = waiters.add();
  controller.abort(new Error("gave up"));
  await assert.rejects(abandoned, /gave up/);
  assert.equal(waiters.size, 2);
  waiters.resolveOldest("for the one who left");
  waiters.resolveOldest("for next");
  assert.equal(await next, "for next");
});

Deno.test("ReplyWaiters.rejectAll() rejects everyone and empties the queue", async () => {
  const waiters = new ReplyWaiters<string>();
  const all = Promise.allSettled(Array.from({ length: 3000 }, () => waiters.add()));
  for (let i = 0; i < 2000; i++) waiters.resolveOldest(`r${i}`);
  waiters.rejectAll(new Error("closed"));
  assert.equal(waiters.size, 0);
  const results = await all;
  assert.deepEqual(results[1999], { status: "fulfilled", value: "r1999" });
  assert.equal(results.filter((r) => r.status === "rejected").length, 1000);
  assert.match(String((results[2999] as PromiseRejectedResult).reason), /closed/);
});
