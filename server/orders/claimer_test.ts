import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import type { ClaimedOrder, ClaimOptions, SharedQueue } from "../store/shared_queue.ts";
import { Claimer } from "./claimer.ts";
import type { SharedAttempts } from "./shared_attempts.ts";

/** A queue whose claims wait until the test answers them. */
function pendingQueue() {
  const claims: {
    options: ClaimOptions;
    answer: (orders: ClaimedOrder[]) => void;
    fail: (error: Error) => void;
  }[] = [];
  const store = {
    leaseMs: 60_000,
    onWork: () => ({ [Symbol.dispose]() {} }),
    announceWork() {},
    renew: () => Promise.resolve([]),
    claim(options: ClaimOptions) {
      const { promise, resolve, reject } = Promise.withResolvers<ClaimedOrder[]>();
      claims.push({ options, answer: resolve, fail: reject });
      return promise;
    },
  } as unknown as SharedQueue;
  /** Waits (10 s at most) until `n` claims were made; how many were. */
  const claimsMade = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while (claims.length < n && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    return claims.length;
  };
  return { store, claims, claimsMade };
}

/** Stops `claimer`, answering every claim still open (empty), as a database would. */
async function stopAnswering(
  claimer: Claimer,
  claims: { answer: (orders: ClaimedOrder[]) => void }[],
): Promise<void> {
  const stopping = claimer.stop();
  for (const claim of claims) claim.answer([]);
  await stopping;
}

/** A started claimer of `limit` orders whose attempts only count the orders run. */
function startCounting(store: SharedQueue, limit: number) {
  const attempts = {
    held: 0,
    run() {
      this.held++;
    },
    leases: () => [],
    lost() {},
  };
  const claimer = new Claimer({
    store,
    attempts: attempts as unknown as SharedAttempts,
    logger: new Logger({ level: "error" }),
    limit,
  });
  claimer.start();
  return { claimer, attempts };
}

Deno.test("Claimer.reserve() promises no room that a claim in flight has asked for", async () => {
  const { store, claims } = pendingQueue();
  const { claimer } = startCounting(store, 2);
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
    await stopAnswering(claimer, claims);
  }
});

Deno.test("Claimer.reserve() between a claim's answer and the claimed orders' start promises no room they fill", async () => {
  const { store, claims } = pendingQueue();
  const { claimer, attempts } = startCounting(store, 1);
  try {
    while (claims.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    claims[0]!.answer([{ id: 1, attempt: 1 } as ClaimedOrder]);
    // An insert asks for room in every microtask turn until the claimed order runs.
    const promised: boolean[] = [];
    while (attempts.held === 0 && promised.length < 100) {
      promised.push(claimer.reserve());
      await Promise.resolve();
    }
    assert.equal(attempts.held, 1, "the claimed order ran");
    assert.deepEqual(
      promised.filter((p) => p),
      [],
      "one worker: no insert may take a second order",
    );
  } finally {
    await stopAnswering(claimer, claims);
  }
});

Deno.test("Claimer.pokeIn() claims when a retry backoff ends, not at the next slow poll; stop() clears it", async () => {
  const { store, claims } = pendingQueue();
  const attempts = {
    held: 0,
    run() {},
    leases: () => [],
    lost() {},
  } as unknown as SharedAttempts;
  const claimer = new Claimer({
    store,
    attempts,
    logger: new Logger({ level: "error" }),
    limit: 2,
    pollMs: 600_000,
  });
  claimer.start();
  try {
    while (claims.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    claims[0]!.answer([]); // nothing claimable yet: the claimer sleeps for its long poll
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(claims.length, 1);
    claimer.pokeIn(30);
    const deadline = Date.now() + 10_000;
    while (claims.length === 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(claims.length, 2, "claimed again when the backoff ended");
    claims[1]!.answer([]);
    claimer.pokeIn(60_000); // pending at stop: cleared (the test's sanitizers check)
  } finally {
    await stopAnswering(claimer, claims);
  }
});

Deno.test("Claimer with maxBatch claims the next batch while the orders of the last are still held", async () => {
  const { store, claims, claimsMade } = pendingQueue();
  const attempts = {
    held: 0,
    run() {
      this.held++;
    },
    leases: () => [],
    lost() {},
  };
  const claimer = new Claimer({
    store,
    attempts: attempts as unknown as SharedAttempts,
    logger: new Logger({ level: "error" }),
    limit: 4,
    minBatch: 2,
    maxBatch: 2,
    pollMs: 600_000,
  });
  const orders = (from: number) =>
    [from, from + 1].map((id) => ({ id, attempt: 1 }) as ClaimedOrder);
  claimer.start();
  try {
    assert.equal(await claimsMade(1), 1);
    assert.equal(claims[0]!.options.limit, 2, "half the room");
    claims[0]!.answer(orders(1));
    assert.equal(await claimsMade(2), 2, "a full batch: the next one at once, orders still held");
    assert.equal(attempts.held, 2);
    assert.equal(claims[1]!.options.limit, 2);
    claims[1]!.answer(orders(3));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(claims.length, 2, "no room left: no claim until an order leaves");
    attempts.held -= 2; // two orders left this daemon
    claimer.roomMade();
    assert.equal(await claimsMade(3), 3, "room for a batch: claimed while two are still held");
    assert.equal(claims[2]!.options.limit, 2);
    claims[2]!.answer([]);
  } finally {
    await stopAnswering(claimer, claims);
  }
});

Deno.test("Claimer.stopClaiming(waitMs) stops waiting for a claim that goes unanswered; the orders it brings later are still handed over, to be given back", async () => {
  const { store, claims } = pendingQueue();
  const { claimer, attempts } = startCounting(store, 2);
  while (claims.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  // Unanswered (the database gone silent): the stop goes on after waitMs.
  await claimer.stopClaiming(20);
  await claimer.stop(20);
  assert.equal(claims.length, 1, "no claim after the stop");
  // Answered late: the attempts get the orders (their stopped pool gives them back).
  claims[0]!.answer([{ id: 1, attempt: 1 } as ClaimedOrder]);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(attempts.held, 1);
  assert.equal(claims.length, 1, "and none after it");
});

Deno.test("Claimer: after a claim fails (it may have committed, its answer lost), it looks for the orders leased here, and no insert takes its own until it has", async () => {
  const { store, claims, claimsMade } = pendingQueue();
  const ran: ClaimedOrder[] = [];
  const attempts = {
    held: 0,
    run(order: ClaimedOrder) {
      ran.push(order);
    },
    leases: () => [],
    lost() {},
  };
  const claimer = new Claimer({
    store,
    attempts: attempts as unknown as SharedAttempts,
    logger: new Logger({ level: "error" }),
    limit: 3,
    maxBatch: 1, // a claim in flight leaves room for inserts to take their orders
    pollMs: 10,
    recoverAfterMs: 100,
  });
  claimer.start();
  try {
    assert.equal(await claimsMade(1), 1);
    assert.equal(claims[0]!.options.recover, false, "nothing failed yet");
    claims[0]!.answer([]);
    // An insert in flight takes its order, then a claim fails.
    assert.equal(await claimsMade(2), 2);
    assert.equal(claimer.reserve(), true);
    claims[1]!.fail(new Error("write CONNECTION_CLOSED"));
    assert.equal(await claimsMade(3), 3);
    assert.equal(claims[2]!.options.recover, false, "not while an insert may be taking its own");
    assert.equal(claimer.reserve(), false, "no insert takes its order until the look");
    claimer.unreserve();
    claims[2]!.answer([]);
    assert.equal(await claimsMade(4), 4);
    assert.equal(claims[3]!.options.recover, true, "the look for orders leased here");
    const lost = { id: 7, attempt: 1, recovered: true } as ClaimedOrder;
    claims[3]!.answer([lost]);
    assert.equal(await claimsMade(5), 5);
    assert.deepEqual(ran, [lost], "the order the lost answer left here runs");
    assert.equal(claims[4]!.options.recover, true, "a full look: there may be more");
    claims[4]!.answer([]);
    assert.equal(await claimsMade(6), 6);
    assert.equal(claims[5]!.options.recover, true, "looked for again: what failed may commit late");
    // Looked for until the failed claim can no longer commit.
    await new Promise((resolve) => setTimeout(resolve, 120));
    claims[5]!.answer([]);
    assert.equal(await claimsMade(7), 7);
    assert.equal(claims[6]!.options.recover, false, "done looking");
    assert.equal(claimer.reserve(), true, "inserts take their orders again");
    claimer.unreserve();
  } finally {
    await stopAnswering(claimer, claims);
  }
});

Deno.test("Claimer: an insert that was to take its order and failed is looked for as a failed claim is", async () => {
  const { store, claims, claimsMade } = pendingQueue();
  const claimer = new Claimer({
    store,
    attempts: { held: 0, run() {}, leases: () => [], lost() {} } as unknown as SharedAttempts,
    logger: new Logger({ level: "error" }),
    limit: 3,
    maxBatch: 1,
    pollMs: 600_000,
  });
  claimer.start();
  try {
    assert.equal(await claimsMade(1), 1);
    claims[0]!.answer([]);
    assert.equal(claimer.reserve(), true);
    claimer.unreserve(true); // its insert failed: it may have committed, the order taken here
    assert.equal(await claimsMade(2), 2, "claimed again at once");
    assert.equal(claims[1]!.options.recover, true);
    assert.equal(claimer.reserve(), false);
  } finally {
    await stopAnswering(claimer, claims);
  }
});

Deno.test("Claimer tries a lease renewal that failed (a deadlock) again at once, not a third of the lease later", async () => {
  const { store, claims } = pendingQueue();
  const renewals: number[] = [];
  (store as { renew: unknown }).renew = (leases: { id: number }[]) => {
    renewals.push(leases.length);
    if (renewals.length === 1) return Promise.reject(new Error("deadlock detected"));
    return Promise.resolve(leases.map((lease) => lease.id));
  };
  const lost: number[] = [];
  const attempts = {
    held: 1,
    run() {},
    leases: () => [{ id: 7, attempt: 1 }],
    lost: (leases: { id: number }[]) => lost.push(...leases.map((lease) => lease.id)),
  };
  const claimer = new Claimer({
    store, // leaseMs 60 s: the next scheduled renewal is 20 s away
    attempts: attempts as unknown as SharedAttempts,
    logger: new Logger({ level: "error" }),
    limit: 1,
  });
  claimer.start();
  try {
    claimer.poke("emptied"); // renews now
    const deadline = Date.now() + 5_000;
    while (renewals.length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(renewals.length, 2, "tried again within moments");
    assert.deepEqual(lost, [], "the lease was kept");
  } finally {
    await stopAnswering(claimer, claims);
  }
});
