import assert from "node:assert/strict";
import { OneAtATime } from "./one_at_a_time.ts";

Deno.test("calls for one key run one after the other, in the order made, even when one fails", async () => {
  const turns = new OneAtATime<number>();
  const seen: string[] = [];
  const first = Promise.withResolvers<void>();
  const a = turns.run(1, async () => {
    seen.push("a starts");
    await first.promise;
    seen.push("a ends");
    throw new Error("a failed");
  });
  const b = turns.run(1, () => {
    seen.push("b");
    return Promise.resolve("b");
  });
  await Promise.resolve();
  assert.deepEqual(seen, ["a starts"]);
  first.resolve();
  await assert.rejects(a, /a failed/);
  assert.equal(await b, "b");
  assert.deepEqual(seen, ["a starts", "a ends", "b"]);
  assert.equal(turns.size, 0, "nothing kept once every call settled");
});

Deno.test("calls for other keys are not held by a call in flight", async () => {
  const turns = new OneAtATime<number>();
  const held = Promise.withResolvers<void>();
  const a = turns.run(1, () => held.promise);
  assert.equal(await turns.run(2, () => Promise.resolve("other")), "other");
  held.resolve();
  await a;
});
