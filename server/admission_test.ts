import assert from "node:assert/strict";
import { Admission } from "./admission.ts";
import { testWith } from "../tests/permissions.ts";

Deno.test("Admission.tryAcquire() takes slots up to capacity and never blocks", () => {
  const sem = Admission.create(2);
  assert.equal(sem.tryAcquire(), true);
  assert.equal(sem.tryAcquire(), true);
  assert.equal(sem.tryAcquire(), false);
  assert.equal(sem.free, 0);
  sem.release();
  assert.equal(sem.free, 1);
  assert.equal(sem.tryAcquire(2), false, "two slots are not free");
});

Deno.test("Admission.release() refuses to give back a slot nobody took", () => {
  const sem = Admission.create(1);
  assert.throws(() => sem.release(), RangeError);
  assert.equal(sem.used, 0);
});

Deno.test("Admission.forceAcquire() holds capacity beyond the limit at restart", () => {
  const sem = Admission.create(2);
  sem.forceAcquire(5);
  assert.equal(sem.used, 5);
  assert.equal(sem.free, 0);
  assert.equal(sem.tryAcquire(), false);
  sem.release(4);
  assert.equal(sem.tryAcquire(), true);
});

Deno.test("Admission.create() rejects a capacity below 1", () => {
  assert.throws(() => Admission.create(0), RangeError);
  assert.throws(() => Admission.create(1.5), RangeError);
});

testWith("read")(
  "Admission shared by 4 threads calling tryAcquire() at once grants exactly its capacity each time and gets every slot back",
  async () => {
    const capacity = 3;
    const parties = 4;
    const rounds = 1000;
    const sem = Admission.create(capacity);
    // [arrived, generation, successes of round 0, of round 1, ...]
    const probe = new SharedArrayBuffer((2 + rounds) * 4);
    const workers = Array.from(
      { length: parties },
      () =>
        new Worker(new URL("../tests/fixtures/admission_race_worker.ts", import.meta.url), {
          type: "module",
        }),
    );
    try {
      const taken = await Promise.all(
        workers.map((worker) =>
          new Promise<number>((resolve, reject) => {
            worker.onmessage = (e) => resolve(e.data);
            worker.onerror = (e) => {
              e.preventDefault();
              reject(new Error(`race worker failed: ${e.message}`));
            };
            worker.postMessage({ admission: sem.buffer, probe, rounds, parties });
          })
        ),
      );
      const granted = Array.from(new Int32Array(probe, 8));
      const wrong = granted.flatMap((n, round) => n === capacity ? [] : [`round ${round}: ${n}`]);
      assert.deepEqual(wrong, [], `${parties} callers at once, ${capacity} slots`);
      assert.equal(taken.reduce((a, b) => a + b, 0), capacity * rounds);
      assert.equal(sem.used, 0, "every slot returned");
      assert.equal(sem.free, capacity);
    } finally {
      for (const worker of workers) worker.terminate();
    }
  },
);
