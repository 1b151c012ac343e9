import assert from "node:assert/strict";
import { ClavesInFlight } from "./claves_in_flight.ts";

Deno.test("ClavesInFlight: settled() waits for every insert of the clave in flight, and says there was one", async () => {
  const claves = new ClavesInFlight();
  const first = Promise.withResolvers<string>();
  const tracked = claves.track("k", first.promise);
  let settled = false;
  const waiting = claves.settled("k").then((had) => {
    settled = true;
    return had;
  });
  await Promise.resolve();
  assert.equal(settled, false, "not while the insert is in flight");
  first.resolve("stored");
  assert.equal(await tracked, "stored", "the caller gets the insert's own outcome");
  assert.equal(await waiting, true);
  assert.equal(await claves.settled("k"), false, "nothing in flight any more");
});

Deno.test("ClavesInFlight: a failed insert settles too, and its rejection stays the caller's", async () => {
  const claves = new ClavesInFlight();
  const failing = claves.track("k", Promise.reject(new Error("disk full")));
  assert.equal(await claves.settled("k"), true);
  await assert.rejects(failing, /disk full/);
  assert.equal(await claves.settled("other"), false);
  assert.equal(
    await claves.track(null, Promise.resolve(1)),
    1,
    "an order without clave is not tracked",
  );
});
