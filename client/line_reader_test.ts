import assert from "node:assert/strict";
import { type ByteReader, LineReader, LineTooLongError } from "./line_reader.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A source that hands out `chunks` one per read, in as many reads as the buffer needs. */
function chunks(...parts: string[]): ByteReader & { reads: number } {
  const queue = parts.map((part) => encoder.encode(part));
  return {
    reads: 0,
    read(buffer) {
      this.reads++;
      const chunk = queue.shift();
      if (chunk === undefined) return Promise.resolve(null);
      const n = Math.min(buffer.length, chunk.length);
      buffer.set(chunk.subarray(0, n));
      if (n < chunk.length) queue.unshift(chunk.subarray(n));
      return Promise.resolve(n);
    },
  };
}

/** Every line, and the lines of each read. */
async function readAll(reader: LineReader): Promise<string[][]> {
  const reads: string[][] = [];
  while (await reader.fill()) {
    const lines: string[] = [];
    for (let line = reader.next(); line !== null; line = reader.next()) {
      lines.push(decoder.decode(line));
    }
    reads.push(lines);
  }
  return reads;
}

Deno.test("LineReader splits on \\n, drops a \\r before it, and keeps empty lines", async () => {
  const reads = await readAll(new LineReader(chunks("a\nbb\r\n\n\r\nc")));
  assert.deepEqual(reads, [["a", "bb", "", ""]]);
});

Deno.test("LineReader joins a line split over reads, and hands out each read's lines together", async () => {
  const reads = await readAll(new LineReader(chunks('{"ok":', "true}\n{", '"n":2}\nx\ny\n')));
  assert.deepEqual(reads, [[], ['{"ok":true}'], ['{"n":2}', "x", "y"]]);
});

Deno.test("LineReader drops an unterminated last line at end of input", async () => {
  assert.deepEqual((await readAll(new LineReader(chunks("one\ntwo")))).flat(), ["one"]);
});

Deno.test("LineReader grows its buffer for a long line and keeps it after compacting", async () => {
  const long = "x".repeat(100_000);
  const source = chunks(`a\n${long.slice(0, 10)}`, `${long.slice(10)}\nb\n`);
  const lines = (await readAll(new LineReader(source, { bufferBytes: 16 }))).flat();
  assert.deepEqual(lines, ["a", long, "b"]);
});

Deno.test("LineReader accepts a line of exactly maxLineBytes, with or without \\r", async () => {
  const line = "y".repeat(32);
  const lines = await readAll(
    new LineReader(chunks(`${line}\r`, `\n${line}\n`), { maxLineBytes: 32, bufferBytes: 8 }),
  );
  assert.deepEqual(lines.flat(), [line, line]);
});

Deno.test("LineReader throws LineTooLongError for a complete line over the cap", async () => {
  const reader = new LineReader(chunks("ok\n", "z".repeat(33) + "\n"), { maxLineBytes: 32 });
  assert.equal(await reader.fill(), true);
  assert.equal(decoder.decode(reader.next()!), "ok");
  assert.equal(reader.next(), null);
  assert.equal(await reader.fill(), true);
  assert.throws(() => reader.next(), (error) => {
    assert.ok(error instanceof LineTooLongError);
    assert.equal(error.maxLineBytes, 32);
    assert.match(error.message, /longer than 32 bytes/);
    return true;
  });
});

Deno.test("LineReader stops an endless line at the cap without growing past it", async () => {
  const endless: ByteReader = {
    read(buffer) {
      buffer.fill(0x61);
      return Promise.resolve(buffer.length);
    },
  };
  const reader = new LineReader(endless, { maxLineBytes: 1000, bufferBytes: 64 });
  await assert.rejects(async () => {
    for (;;) {
      assert.equal(await reader.fill(), true);
      assert.equal(reader.next(), null);
    }
  }, LineTooLongError);
});

Deno.test("LineReader finds a line that arrives one byte per read", async () => {
  const parts = Array.from({ length: 1000 }, () => "q");
  const reads = await readAll(new LineReader(chunks(...parts, "\n"), { bufferBytes: 4 }));
  assert.deepEqual(reads.flat(), ["q".repeat(1000)]);
});

Deno.test("LineReader reads a ReadableStream of chunks", async () => {
  const stream = ReadableStream.from(["α\nβ", "\n", "γ\n"].map((text) => encoder.encode(text)));
  const lines = await readAll(new LineReader(stream, { bufferBytes: 2 }));
  assert.deepEqual(lines.flat(), ["α", "β", "γ"]);
});

Deno.test("LineReader refuses sizes below 1", () => {
  assert.throws(() => new LineReader(chunks(), { maxLineBytes: 0 }), RangeError);
  assert.throws(() => new LineReader(chunks(), { bufferBytes: 0 }), RangeError);
});
