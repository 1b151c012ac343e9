import assert from "node:assert/strict";
import { reserveConnection } from "./reserve_connection.ts";

/** A fake connection that counts its releases. */
function connection(name: string) {
  return {
    name,
    released: 0,
    release() {
      this.released++;
    },
  };
}

Deno.test("reserveConnection() answers with the first connection when the pool answers at once", async () => {
  let asked = 0;
  const conn = connection("a");
  const reservation = reserveConnection(() => {
    asked++;
    return Promise.resolve(conn);
  }, 50);
  assert.equal(await reservation.promise, conn);
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.equal(asked, 1, "asked once: no retry after an answer");
  assert.equal(conn.released, 0);
});

Deno.test("reserveConnection() asks again when a reservation is lost, and gives back one that comes late", async () => {
  const late = Promise.withResolvers<ReturnType<typeof connection>>();
  const second = connection("second");
  const answers = [late.promise, Promise.resolve(second)];
  let asked = 0;
  const reservation = reserveConnection(() => answers[asked++]!, 20);
  assert.equal(await reservation.promise, second, "the second request's connection");
  assert.equal(asked, 2);
  const first = connection("first");
  late.resolve(first);
  await late.promise;
  await Promise.resolve();
  assert.equal(first.released, 1, "the connection that came after is handed back");
  assert.equal(second.released, 0);
});

Deno.test("reserveConnection() fails with the pool's error, and stops asking once cancelled", async () => {
  const failing = reserveConnection(() => Promise.reject(new Error("connection refused")), 20);
  await assert.rejects(failing.promise, /connection refused/);

  const never = new Promise<ReturnType<typeof connection>>(() => {});
  let asked = 0;
  const cancelled = reserveConnection(() => {
    asked++;
    return never;
  }, 20);
  cancelled.cancel();
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(asked, 1, "no request after cancel");
});
