import assert from "node:assert/strict";
import { LiveFeed } from "./live_feed.ts";

function wait(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("LiveFeed renders once per interval for any number of watchers", async () => {
  let renders = 0;
  const feed = new LiveFeed({ intervalMs: 20, render: () => Promise.resolve(`v${++renders}`) });
  const seen: string[][] = [[], [], []];
  const offs = seen.map((list) => feed.subscribe((html) => list.push(html)));
  await wait(110);
  offs.forEach((off) => off());
  assert.ok(renders >= 3 && renders <= 7, `${renders} renders in 110 ms`);
  assert.deepEqual(seen[0], seen[2]);
  assert.equal(seen[0]!.length, renders);
  const after = renders;
  await wait(60);
  assert.equal(renders, after, "no watcher, no rendering");
  assert.equal(feed.watchers, 0);
});

Deno.test("LiveFeed sends a snapshot only when it changed", async () => {
  let value = "a";
  const feed = new LiveFeed({ intervalMs: 5, render: () => Promise.resolve(value) });
  const seen: string[] = [];
  const off = feed.subscribe((html) => seen.push(html));
  await wait(30);
  value = "b";
  await wait(30);
  off();
  assert.deepEqual(seen, ["a", "b"]);
});

Deno.test("LiveFeed.close() stops the loop even with a render in flight", async () => {
  const gate = Promise.withResolvers<string>();
  let renders = 0;
  const feed = new LiveFeed({
    intervalMs: 5,
    render: () => {
      renders++;
      return gate.promise;
    },
  });
  const seen: string[] = [];
  feed.subscribe((html) => seen.push(html));
  feed.close();
  gate.resolve("late");
  await wait(20);
  assert.equal(renders, 1);
  assert.deepEqual(seen, []);
  assert.equal(feed.watchers, 0);
  feed.subscribe(() => {}); // refused after close: nothing starts
  await wait(20);
  assert.equal(renders, 1);
});
