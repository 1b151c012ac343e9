import assert from "node:assert/strict";
import { Pacer } from "./pacer.ts";

Deno.test("Pacer.wait() waits out a slot further away than one timer can wait, until aborted", async () => {
  // One order every 10^10 ms (as --clientes 2300 --tasa 0.001): the second slot is months away.
  const pacer = new Pacer(1e-7);
  const stop = new AbortController();
  await pacer.wait(stop.signal); // the first slot is now
  let waited = false;
  const second = pacer.wait(stop.signal).then(() => waited = true);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(waited, false, "the second slot came after 50 ms");
  stop.abort();
  await second;
  assert.equal(waited, true);
});
