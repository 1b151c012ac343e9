import assert from "node:assert/strict";
import { Deadline, withDeadline } from "./deadline.ts";

/** Blocks this thread for `ms`, as a pause of the whole process would. */
function standStill(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

/** A loopback echo; `ask()` resolves with the echo of one write. */
async function echo() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await accepting;
  const serving = server.readable.pipeTo(server.writable).catch(() => {});
  return {
    async ask(): Promise<number> {
      const buffer = new Uint8Array(16);
      const reading = client.read(buffer);
      await client.write(new Uint8Array([1, 2, 3]));
      return (await reading) ?? 0;
    },
    async [Symbol.asyncDispose]() {
      client.close();
      listener.close();
      await serving;
    },
  };
}

Deno.test("withDeadline() answered while the process stood still past it takes the answer, not the deadline", async () => {
  await using peer = await echo();
  const answered = withDeadline(peer.ask(), 100, "read");
  // The answer arrives within a millisecond, but nothing runs for 400 ms: when the
  // timer fires, 300 ms late, the answer waits in the socket.
  standStill(400);
  assert.equal(await answered, 3);
});

Deno.test("a Deadline that fired late still expires when no answer comes", async () => {
  const deadline = new Deadline(50, "commit");
  const never = new Promise<never>(() => {});
  const racing = deadline.race(never);
  standStill(400);
  const began = performance.now();
  await assert.rejects(racing, /no answer from the database within the deadline/);
  assert.ok(performance.now() - began < 2000, "a short grace, then it expires");
  deadline.clear();
});

Deno.test("withDeadline() on time rejects at its deadline", async () => {
  await assert.rejects(
    withDeadline(new Promise(() => {}), 30, "reserve a connection"),
    /Cannot reserve a connection: no answer from the database within 30 ms/,
  );
});
