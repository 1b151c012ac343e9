import assert from "node:assert/strict";
import { LiveFeed, type Schedule } from "./live_feed.ts";

/**
 * A manual {@linkcode Schedule}: the feed's next tick waits here until the
 * test fires it, so nothing depends on how fast the machine is.
 */
class ManualTimer {
  #pending: { tick: () => Promise<void>; ms: number } | null = null;
  #waiting: PromiseWithResolvers<void> | null = null;

  readonly schedule: Schedule = (tick, ms) => {
    const entry = { tick, ms };
    this.#pending = entry;
    this.#waiting?.resolve();
    this.#waiting = null;
    return () => {
      if (this.#pending === entry) this.#pending = null;
    };
  };

  /** The delay of the tick waiting to be fired, or null when none is. */
  get pending(): number | null {
    return this.#pending?.ms ?? null;
  }

  /** Resolves once a tick is scheduled: the feed's current tick has handed out its snapshot. */
  scheduled(): Promise<void> {
    if (this.#pending !== null) return Promise.resolve();
    this.#waiting ??= Promise.withResolvers<void>();
    return this.#waiting.promise;
  }

  /** Runs the scheduled tick and waits until it has handed out its snapshot. */
  async fire(): Promise<void> {
    const entry = this.#pending;
    if (entry === null) throw new Error("No tick is scheduled");
    this.#pending = null;
    await entry.tick();
  }
}

Deno.test("LiveFeed renders once per interval for any number of watchers", async () => {
  const timer = new ManualTimer();
  let renders = 0;
  const feed = new LiveFeed({
    intervalMs: 20,
    schedule: timer.schedule,
    render: () => Promise.resolve(`v${++renders}`),
  });
  const seen: string[][] = [[], [], []];
  const offs = seen.map((list) => feed.subscribe((html) => list.push(html)));
  await timer.scheduled();
  assert.equal(renders, 1, "three watchers, one render");
  assert.equal(timer.pending, 20, "the next one an interval later");
  await timer.fire();
  await timer.fire();
  assert.equal(renders, 3);
  for (const list of seen) assert.deepEqual(list, ["v1", "v2", "v3"]);
  offs.forEach((off) => off());
  assert.equal(feed.watchers, 0);
  assert.equal(timer.pending, null, "no watcher, no next render");
  assert.equal(renders, 3);
});

Deno.test("LiveFeed sends a snapshot only when it changed", async () => {
  const timer = new ManualTimer();
  let value = "a";
  const feed = new LiveFeed({
    intervalMs: 5,
    schedule: timer.schedule,
    render: () => Promise.resolve(value),
  });
  const seen: string[] = [];
  const off = feed.subscribe((html) => seen.push(html));
  await timer.scheduled();
  await timer.fire();
  assert.deepEqual(seen, ["a"], "the same snapshot is not sent again");
  value = "b";
  await timer.fire();
  await timer.fire();
  off();
  assert.deepEqual(seen, ["a", "b"]);
});

Deno.test("LiveFeed.close() stops the loop even with a render in flight", async () => {
  const timer = new ManualTimer();
  const gate = Promise.withResolvers<string>();
  let renders = 0;
  const feed = new LiveFeed({
    intervalMs: 5,
    schedule: timer.schedule,
    render: () => {
      renders++;
      return gate.promise;
    },
  });
  const seen: string[] = [];
  feed.subscribe((html) => seen.push(html));
  assert.equal(renders, 1, "the first render starts at once");
  feed.close();
  gate.resolve("late");
  // The feed awaited `gate.promise` before this test did, so its tick has
  // finished by the time this await returns.
  await gate.promise;
  assert.deepEqual(seen, [], "a render finished after close() is not handed out");
  assert.equal(timer.pending, null, "and no next render is scheduled");
  assert.equal(feed.watchers, 0);
  feed.subscribe(() => {}); // refused after close: nothing starts
  assert.equal(renders, 1);
  assert.equal(timer.pending, null);
});

Deno.test("LiveFeed renders again at once for a watcher who comes back", async () => {
  const timer = new ManualTimer();
  let renders = 0;
  const feed = new LiveFeed({
    schedule: timer.schedule,
    render: () => {
      renders++;
      return Promise.resolve("same");
    },
  });
  const first: string[] = [];
  const off = feed.subscribe((html) => first.push(html));
  await timer.scheduled();
  assert.equal(timer.pending, 500, "the default interval");
  off();
  const again: string[] = [];
  feed.subscribe((html) => again.push(html));
  await timer.scheduled();
  assert.equal(renders, 2);
  assert.deepEqual(again, ["same"], "a snapshot at once, even if unchanged since the last watcher");
  feed.close();
  assert.equal(timer.pending, null);
});

Deno.test("LiveFeed survives a render that throws: that snapshot is skipped, the next comes on time", async () => {
  const timer = new ManualTimer();
  let renders = 0;
  const errors: unknown[] = [];
  const feed = new LiveFeed({
    intervalMs: 20,
    schedule: timer.schedule,
    render: () => {
      renders++;
      if (renders === 2) return Promise.reject(new TypeError("pedidos.map is not a function"));
      return Promise.resolve(`v${renders}`);
    },
    onError: (error: unknown) => errors.push(error),
  });
  const seen: string[] = [];
  const off = feed.subscribe((html) => seen.push(html));
  await timer.scheduled();
  await timer.fire(); // the render that throws
  assert.equal(timer.pending, 20, "the loop goes on");
  await timer.fire();
  assert.deepEqual(seen, ["v1", "v3"]);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /pedidos\.map/);
  off();
});

Deno.test("LiveFeed gives one who joins the watchers the last snapshot at once, unchanged since", async () => {
  const timer = new ManualTimer();
  const feed = new LiveFeed({
    intervalMs: 20,
    schedule: timer.schedule,
    render: () => Promise.resolve("same"),
  });
  const first: string[] = [];
  const offFirst = feed.subscribe((html) => first.push(html));
  await timer.scheduled();
  assert.deepEqual(first, ["same"]);
  // A second tab of the session, or the first one's stream reconnecting.
  const second: string[] = [];
  const offSecond = feed.subscribe((html) => second.push(html));
  await Promise.resolve();
  assert.deepEqual(second, ["same"], "without waiting for the data to change");
  await timer.fire();
  assert.deepEqual(second, ["same"], "and not again while it stays the same");
  assert.deepEqual(first, ["same"]);
  offFirst();
  offSecond();
});
