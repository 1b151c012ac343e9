import assert from "node:assert/strict";
import { Pacer } from "./pacer.ts";

Deno.test("Pacer.wait() waits out a slot further away than one timer can wait, until aborted", async () => {
  // One order every 10^10 ms (as --clientes 2300 --tasa 0.001): the second slot is months away.
  const pacer = new Pacer(1e-7);
  const stop = new AbortController();
  assert.equal(await pacer.wait(stop.signal), true); // the first slot is now
  let waited = false;
  const second = pacer.wait(stop.signal).then(() => waited = true);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(waited, false, "the second slot came after 50 ms");
  stop.abort();
  await second;
  assert.equal(waited, true);
});

Deno.test("Pacer hands out no slot at or after the end of --duracion: --tasa 1 --duracion 3 sends 3 orders, not 4", () => {
  for (
    const [perSecond, seconds, slots] of [[1, 3, 3], [0.5, 2, 1], [20, 3, 60], [3, 1, 3]] as const
  ) {
    const start = performance.now();
    const pacer = new Pacer(perSecond, { start, until: start + seconds * 1000 });
    let handedOut = 0;
    while (handedOut <= slots && pacer.reserve() !== null) handedOut++;
    assert.equal(handedOut, slots, `--tasa ${perSecond} --duracion ${seconds}`);
    // The pace of those orders ends with the run, not before its last interval.
    assert.equal(pacer.end, start + seconds * 1000);
  }
});

Deno.test("Pacer.end is when the next order would go out: 10 orders at 2/s take 5 s, not 4.5", () => {
  const start = performance.now();
  const pacer = new Pacer(2, { start });
  for (let i = 0; i < 10; i++) assert.notEqual(pacer.reserve(), null);
  // Reserved at once, the slots are 0.5 s apart from the first: the 11th would be at 5 s.
  assert.ok(pacer.end >= start + 5000, `${pacer.end - start} ms`);
});
