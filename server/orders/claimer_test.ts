import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import type { ClaimedOrder, ClaimOptions, SharedQueue } from "../store/shared_queue.ts";
import { Claimer } from "./claimer.ts";
import type { SharedAttempts } from "./shared_attempts.ts";

/** A queue whose claims wait until the test answers them. */
function pendingQueue() {
  const claims: { options: ClaimOptions; answer: (orders: ClaimedOrder[]) => void }[] = [];
  const store = {
    leaseMs: 60_000,
    onWork: () => ({ [Symbol.dispose]() {} }),
    announceWork() {},
    renew: () => Promise.resolve([]),
    claim(options: ClaimOptions) {
      const { promise, resolve } = Promise.withResolvers<ClaimedOrder[]>();
      claims.push({ options, answer: resolve });
      return promise;
    },
  } as unknown as SharedQueue;
  return { store, claims };
}

Deno.test("Claimer.reserve() promises no room that a claim in flight has asked for", async () => {
  const { store, claims } = pendingQueue();
  let held = 0;
  const attempts = {
    get held() {
      return held;
    },
    run() {
      held++;
    },
    leases: () => [],
    lost() {},
  } as unknown as SharedAttempts;
  const claimer = new Claimer({
    store,
    attempts,
    logger: new Logger({ level: "error" }),
    limit: 2,
  });
  claimer.start();
  try {
    while (claims.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    assert.equal(claims[0]!.options.limit, 2, "the claim asks for all the room");
    assert.equal(claimer.reserve(), false, "an insert cannot take what the claim may bring");
    claims[0]!.answer([]); // the queue was empty: the room is free again
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(claimer.reserve(), true);
    assert.equal(claimer.reserve(), true);
    assert.equal(claimer.reserve(), false, "two workers, two orders");
    claimer.unreserve();
    claimer.unreserve();
  } finally {
    const stopping = claimer.stop();
    for (const claim of claims) claim.answer([]);
    await stopping;
  }
});
