import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { nextBatchSize, Pruner } from "./pruner.ts";

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

Deno.test("Pruner: a batch slower than batchTargetMs makes the next smaller, and the pause after it lasts as long as it took", async () => {
  const calls: { limit: number; at: number }[] = [];
  let left = 2000;
  let inFlight: Promise<unknown> = Promise.resolve();
  const store = {
    prune(_before: string, limit: number): Promise<number> {
      calls.push({ limit, at: performance.now() });
      // A batch that takes 60 ms, as on a large, cold file under load.
      const batch = new Promise<number>((resolve) =>
        setTimeout(() => {
          const n = Math.min(left, limit);
          left -= n;
          resolve(n);
        }, 60)
      );
      inFlight = batch;
      return batch;
    },
  };
  await using pruner = Pruner.start({
    store,
    retainS: 3600,
    logger,
    batchSize: 500,
    batchTargetMs: 10,
    pauseMs: 0,
    intervalMs: 3_600_000,
    now: () => NOW,
  });
  while (calls.length < 3) await new Promise((resolve) => setTimeout(resolve, 20));
  await pruner.close();
  await inFlight;
  const [first, second, third] = calls;
  assert.equal(first!.limit, 500);
  // 60 ms or more for 500 orders: at most 10 ms' worth next.
  assert.ok(second!.limit <= 500 * 10 / 60, `second batch ${second!.limit}`);
  assert.ok(third!.limit <= second!.limit, `third batch ${third!.limit}`);
  // The store is left alone at least half the time.
  assert.ok(second!.at - first!.at >= 2 * 60 - 1, `${second!.at - first!.at} ms between batches`);
});

Deno.test("nextBatchSize: about targetMs' worth, at most twice the last, between 20 (or max) and max", () => {
  assert.equal(nextBatchSize(500, 100, 10, 500), 50);
  assert.equal(nextBatchSize(500, 1000, 10, 500), 20, "never below 20");
  assert.equal(nextBatchSize(5, 1000, 10, 10), 10, "nor below max when max is smaller");
  assert.equal(nextBatchSize(50, 1, 10, 500), 100, "grows at most twice a batch");
  assert.equal(nextBatchSize(400, 1, 10, 500), 500, "never past max");
  assert.equal(nextBatchSize(100, 0, 10, 500), 200, "a batch that took no time grows it");
});
