import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { Pruner } from "./pruner.ts";

const logger = new Logger({ level: "error" });
const NOW = Date.parse("2026-01-10T00:00:00.000Z");

/** A store with `rows` prunable orders, recording each call. */
function fakeStore(rows: number) {
  const calls: { before: string; limit: number }[] = [];
  let left = rows;
  return {
    calls,
    prune(before: string, limit: number): Promise<number> {
      calls.push({ before, limit });
      const n = Math.min(left, limit);
      left -= n;
      return Promise.resolve(n);
    },
  };
}

Deno.test("Pruner.pass() deletes in batches of batchSize until a batch comes back short", async () => {
  const store = fakeStore(23);
  await using pruner = Pruner.start({
    store,
    retainS: 3600,
    logger,
    batchSize: 10,
    pauseMs: 0,
    intervalMs: 3_600_000,
    now: () => NOW,
  });
  // The first pass starts at once; this one joins it or runs after it.
  await pruner.pass();
  const firstPass = store.calls.slice(0, 3);
  assert.deepEqual(firstPass.map((c) => c.limit), [10, 10, 10]);
  assert.ok(firstPass.every((c) => c.before === "2026-01-09T23:00:00.000Z"), "retainS before now");
  const stats = pruner.stats;
  assert.equal(stats.deleted, 23);
  assert.ok(stats.batches >= 3);
  assert.equal(stats.failures, 0);
});

Deno.test("Pruner counts a failing store and tries again at the next pass", async () => {
  let fail = true;
  const store = {
    prune: () => fail ? Promise.reject(new Error("database is locked")) : Promise.resolve(0),
  };
  await using pruner = Pruner.start({ store, retainS: 60, logger, intervalMs: 3_600_000 });
  await pruner.pass();
  assert.ok(pruner.stats.failures >= 1);
  fail = false;
  await pruner.pass();
  assert.ok(pruner.stats.passes >= 1);
});

Deno.test("Pruner logs a store that stays down once, not once a pass", async () => {
  const lines: string[] = [];
  const logger = new Logger({ level: "warn", write: (line) => lines.push(line) });
  const store = { prune: () => Promise.reject(new Error("the database is unavailable")) };
  await using pruner = Pruner.start({ store, retainS: 1, logger, intervalMs: 3_600_000 });
  for (let i = 0; i < 5; i++) await pruner.pass();
  assert.equal(pruner.stats.failures >= 5, true);
  assert.equal(lines.filter((line) => line.includes("retention.prune_failed")).length, 1);
});

Deno.test("Pruner.close() returns while a batch still hangs in the store, and no batch follows it", async () => {
  let release = () => {};
  const calls: number[] = [];
  const store = {
    prune: (_before: string, limit: number) => {
      calls.push(limit);
      return new Promise<number>((resolve) => release = () => resolve(limit));
    },
  };
  const pruner = Pruner.start({ store, retainS: 60, logger, batchSize: 1, pauseMs: 0 });
  while (calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  let closed = false;
  const closing = pruner.close().then(() => closed = true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const closedWhileHanging = closed;
  release();
  await closing;
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(closedWhileHanging, true, "close() waited for the store");
  assert.equal(calls.length, 1, "a batch after close()");
});

Deno.test("Pruner.close() stops between batches and no pass runs after it", async () => {
  const store = fakeStore(1_000_000);
  const pruner = Pruner.start({ store, retainS: 60, logger, batchSize: 1, pauseMs: 5 });
  while (store.calls.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
  await pruner.close();
  const calls = store.calls.length;
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(store.calls.length, calls);
});

Deno.test("Pruner refuses a retention under one second", () => {
  assert.throws(() => Pruner.start({ store: fakeStore(0), retainS: 0, logger }), RangeError);
});
