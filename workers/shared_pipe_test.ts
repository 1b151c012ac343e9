import assert from "node:assert/strict";
import { FrameReader, FrameWriter, SharedPipe } from "./shared_pipe.ts";

function pair(capacity: number) {
  const buffer = SharedPipe.create(capacity);
  const writer = new FrameWriter(new SharedPipe(buffer));
  const reader = new FrameReader<unknown>(new SharedPipe(buffer));
  return { writer, reader };
}

Deno.test("messages through a shared pipe arrive whole and in order, across the ring's end", () => {
  const { writer, reader } = pair(64);
  const got: unknown[] = [];
  for (let i = 0; i < 100; i++) {
    assert.ok(writer.send({ i, text: "é".repeat(i % 7) }), `message ${i} fits`);
    got.push(...reader.drain());
  }
  assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => ({ i, text: "é".repeat(i % 7) })));
});

Deno.test("a message larger than the whole pipe goes in pieces as the reader makes room", () => {
  const { writer, reader } = pair(32);
  const big = { ops: Array.from({ length: 50 }, (_, i) => ({ op: "insert", i })) };
  assert.equal(writer.send(big), false, "it does not fit at once");
  assert.equal(writer.send({ after: true }), false, "and what follows waits behind it");
  const got: unknown[] = [];
  for (let turns = 0; turns < 1000 && got.length < 2; turns++) {
    got.push(...reader.drain());
    writer.flush();
  }
  assert.deepEqual(got, [big, { after: true }]);
  assert.equal(writer.waiting, false);
});

Deno.test("a stopped pipe says so at both ends", () => {
  const buffer = SharedPipe.create(16);
  const a = new SharedPipe(buffer);
  const b = new SharedPipe(buffer);
  assert.equal(b.stopped, false);
  a.stop();
  assert.equal(b.stopped, true);
});
