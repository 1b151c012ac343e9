import assert from "node:assert/strict";
import { type Frame, RequestFramer } from "./framing.ts";

const encoder = new TextEncoder();

function bytes(...parts: (string | number[])[]): Uint8Array {
  const arrays = parts.map((p) => typeof p === "string" ? encoder.encode(p) : Uint8Array.from(p));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function request(text: string): Frame {
  return { kind: "request", text };
}

/** Frames of `input` fed as the given chunks, then end(). */
function frameChunks(chunks: Uint8Array[], max?: number): Frame[] {
  const framer = new RequestFramer(max === undefined ? {} : { maxRequestBytes: max });
  const frames = chunks.flatMap((c) => framer.push(c));
  return [...frames, ...framer.end()];
}

function frameAll(input: Uint8Array | string, max?: number): Frame[] {
  return frameChunks([typeof input === "string" ? encoder.encode(input) : input], max);
}

/** A stream with one of each kind of request, several of them tricky. */
const MIXED = bytes(
  '{"op":"PING"}\n',
  "   \t \r\n\n",
  '{"op":"ESTADO","id":42}\r\n',
  '{\r\n  "cliente": "Zoë 🍕",\n  "productos": ["pan", {"nombre": "}{", "cantidad": 2}],\n',
  '  "direccion": "Calle \\"1\\" [a]"\n}\n',
  "[1,2]\n5\n}\n",
  '{"op":"PING"} tail\n',
  [0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a],
  '"abc\n',
  '{"a":"\\\\"}\n',
  '{"op":"STATS"}',
);

const MIXED_FRAMES: Frame[] = [
  request('{"op":"PING"}'),
  request('{"op":"ESTADO","id":42}'),
  request(
    '{\r\n  "cliente": "Zoë 🍕",\n  "productos": ["pan", {"nombre": "}{", "cantidad": 2}],\n' +
      '  "direccion": "Calle \\"1\\" [a]"\n}',
  ),
  request("[1,2]"),
  request("5"),
  request("}"),
  request('{"op":"PING"} tail'),
  { kind: "bad_utf8" },
  request('"abc'),
  request('{"a":"\\\\"}'),
  request('{"op":"STATS"}'),
];

Deno.test("RequestFramer.push() splits pipelined requests", () => {
  const framer = new RequestFramer();
  assert.deepEqual(framer.push(encoder.encode('{"op":"PING"}\n{"op":"STATS"}\n{"op"')), [
    request('{"op":"PING"}'),
    request('{"op":"STATS"}'),
  ]);
  assert.equal(framer.bufferedBytes, 5);
  assert.deepEqual(framer.push(encoder.encode(':"PING"}\n')), [request('{"op":"PING"}')]);
  assert.equal(framer.bufferedBytes, 0);
});

Deno.test("RequestFramer.push() frames a mixed stream as expected in one write", () => {
  assert.deepEqual(frameAll(MIXED), MIXED_FRAMES);
});

Deno.test("RequestFramer.push() gives the same frames for a split at every byte position", () => {
  for (let k = 0; k <= MIXED.length; k++) {
    const frames = frameChunks([MIXED.subarray(0, k), MIXED.subarray(k)]);
    assert.deepEqual(frames, MIXED_FRAMES, `split at byte ${k}`);
  }
});

Deno.test("RequestFramer.push() gives the same frames when fed one byte at a time", () => {
  const chunks = Array.from(MIXED, (b) => Uint8Array.of(b));
  assert.deepEqual(frameChunks(chunks), MIXED_FRAMES);
});

/**
 * A plain, whole-input reading of docs/protocol.md §1/§8, independent of the
 * framer's incremental scan: skip whitespace, scan to the first newline at
 * depth ≤ 0, cut one trailing \r, check the size, decode.
 */
function referenceFrames(input: Uint8Array, max: number): Frame[] {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const frames: Frame[] = [];
  let i = 0;
  while (true) {
    while (i < input.length && [0x20, 0x09, 0x0d, 0x0a].includes(input[i]!)) i++;
    if (i >= input.length) return frames;
    const start = i;
    let depth = 0;
    let inString = false;
    let escaped = false;
    for (; i < input.length; i++) {
      const c = String.fromCharCode(input[i]!);
      if (c === "\n") {
        escaped = false;
        if (depth <= 0) break;
      } else if (inString) {
        if (escaped) escaped = false;
        else if (c === "\\") escaped = true;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") depth--;
    }
    let body = input.subarray(start, i);
    if (body.at(-1) === 0x0d) body = body.subarray(0, -1);
    if (body.length > max) return [...frames, { kind: "too_large" }];
    try {
      frames.push(request(decoder.decode(body)));
    } catch {
      frames.push({ kind: "bad_utf8" });
    }
    i++;
  }
}

Deno.test("RequestFramer.push() takes a line of only a byte order mark for a blank line, and drops one before a request", () => {
  const bom = [0xef, 0xbb, 0xbf];
  assert.deepEqual(frameAll(bytes(bom, '\n{"op":"PING"}\n', bom, "  \r\n", bom)), [
    request('{"op":"PING"}'),
  ]);
  assert.deepEqual(frameAll(bytes(bom, '{"op":"PING"}\n')), [request('{"op":"PING"}')]);
  // Only at the start: a BOM after other text is part of the request.
  assert.deepEqual(frameAll(bytes("x", bom, "\n")), [request("x\ufeff")]);
});

Deno.test("RequestFramer.push(): a byte order mark before a request does not count toward the limit, however the bytes are cut", () => {
  const bom = [0xef, 0xbb, 0xbf];
  const exact = '{"op":"PING","x":"' + "a".repeat(40) + '"}';
  const max = exact.length;
  const input = bytes(bom, exact, "\r\n", bom, exact, "a\n");
  const expected = [request(exact), { kind: "too_large" } as Frame];
  assert.deepEqual(frameAll(input, max), expected);
  for (let at = 0; at <= input.length; at++) {
    assert.deepEqual(frameChunks([input.subarray(0, at), input.subarray(at)], max), expected);
  }
  // Whitespace before it does not count either; whitespace at its end does.
  assert.deepEqual(frameAll(bytes("  \t", exact, "\n"), max), [request(exact)]);
  assert.deepEqual(frameAll(bytes(exact, " \n"), max), [{ kind: "too_large" }]);
});

Deno.test("RequestFramer.push(): a request that begins with byte EF but no byte order mark gets no bytes beyond the limit, however the bytes are cut", () => {
  const max = 20;
  // U+FF5B "｛" is EF BD 9B; a lone EF is no character; EF BB then no BF is half a mark.
  for (const head of [[0xef, 0xbd, 0x9b], [0xef], [0xef, 0xbb]]) {
    const fits = "a".repeat(max - head.length);
    // Within the limit: text (invalid JSON) after "｛", undecodable bytes after the others.
    const within = head.length === 3 ? "request" : "bad_utf8";
    for (const [tail, expected] of [[fits, within], [fits + "a", "too_large"]] as const) {
      const stream = bytes(head, tail, "\n", '{"op":"PING"}\n');
      for (let at = 0; at <= stream.length; at++) {
        const frames = frameChunks([stream.subarray(0, at), stream.subarray(at)], max);
        assert.equal(frames[0]?.kind, expected, `${head} and ${tail.length} bytes, cut at ${at}`);
        // Within the limit the connection goes on; over it, nothing more is framed.
        assert.deepEqual(
          frames.slice(1),
          expected === "too_large" ? [] : [request('{"op":"PING"}')],
        );
      }
    }
  }
});

Deno.test("RequestFramer.push() matches a whole-input reference on random streams and chunks", () => {
  // A small seeded PRNG, so a failure can be replayed.
  let seed = 0x2545f491;
  function random(n: number): number {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  }
  const tokens: Uint8Array[] = [
    ...'{}[]"\\\n\r \ta5:,',
    "é",
    "🍕",
    "\r\n",
    '{"a":"b"}\n',
  ].map((t) => encoder.encode(t));
  tokens.push(Uint8Array.of(0xff), Uint8Array.of(0xe2, 0x82));
  for (let round = 0; round < 2000; round++) {
    const input = bytes(
      ...Array.from({ length: random(80) }, () => [...tokens[random(tokens.length)]!]),
    );
    const max = 1 + random(30);
    const expected = referenceFrames(input, max);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < input.length;) {
      const size = 1 + random(12);
      chunks.push(input.subarray(at, at + size));
      at += size;
    }
    const context = `input ${JSON.stringify([...input])}, max ${max}`;
    assert.deepEqual(frameAll(input, max), expected, context);
    assert.deepEqual(frameChunks(chunks, max), expected, context);
  }
});

Deno.test("RequestFramer.push() accepts CRLF line endings", () => {
  assert.deepEqual(frameAll('{"op":"PING"}\r\n{"op":"STATS"}\r\n'), [
    request('{"op":"PING"}'),
    request('{"op":"STATS"}'),
  ]);
  // Only one trailing \r is stripped; JSON.parse treats the rest as whitespace.
  assert.deepEqual(frameAll("5\r\r\n"), [request("5\r")]);
  // A \r inside a line is kept.
  assert.deepEqual(frameAll('{"a":"x\ry"}\n'), [request('{"a":"x\ry"}')]);
});

Deno.test("RequestFramer.push() treats a multi-line pretty-printed object as one request", () => {
  const pretty = JSON.stringify(
    { cliente: "Ana", productos: ["pan", { nombre: "agua" }] },
    null,
    2,
  );
  assert.ok(pretty.split("\n").length > 5);
  assert.deepEqual(frameAll(pretty + "\n" + '{"op":"PING"}\n'), [
    request(pretty),
    request('{"op":"PING"}'),
  ]);
  // Pasted into telnet: CRLF everywhere.
  const crlf = pretty.replaceAll("\n", "\r\n");
  assert.deepEqual(frameAll(crlf + "\r\n"), [request(crlf)]);
});

Deno.test("RequestFramer.push() ignores brackets inside strings", () => {
  assert.deepEqual(frameAll('{"a":"}{"}\n'), [request('{"a":"}{"}')]);
  assert.deepEqual(frameAll('{"a":"{{[["}\n'), [request('{"a":"{{[["}')]);
  // An escaped quote does not end the string.
  assert.deepEqual(frameAll('{"a":"\\"}"}\n'), [request('{"a":"\\"}"}')]);
  assert.deepEqual(frameAll('{"a":"\\""}\n'), [request('{"a":"\\""}')]);
  // An escaped backslash does not escape the closing quote.
  assert.deepEqual(frameAll('{"a":"\\\\"}\n'), [request('{"a":"\\\\"}')]);
  // A quote in a key counts too.
  assert.deepEqual(frameAll('{"{":1}\n'), [request('{"{":1}')]);
});

Deno.test("RequestFramer.push() keeps a string open across a raw newline inside an object", () => {
  // An address typed on two lines: the request ends where its quotes and braces
  // close (it is then invalid JSON, one reply), and the requests after it are
  // framed as sent, not swallowed into a string.
  assert.deepEqual(frameAll('{"direccion":"Calle\r\n1"}\r\n{"op":"PING"}\r\n{"op":"PING"}\n'), [
    request('{"direccion":"Calle\r\n1"}'),
    request('{"op":"PING"}'),
    request('{"op":"PING"}'),
  ]);
  // The same split across chunks at the newline.
  const framer = new RequestFramer();
  assert.deepEqual(framer.push(encoder.encode('{"cliente":"An')), []);
  assert.deepEqual(framer.push(encoder.encode('a\n{]}"}\n')), [request('{"cliente":"Ana\n{]}"}')]);
  // At depth 0 a newline ends the request, in a string or not.
  assert.deepEqual(frameAll('"abc\n"def"\n'), [request('"abc'), request('"def"')]);
  // A backslash before a newline does not carry over to the next line.
  assert.deepEqual(frameAll('"abc\\\n5\n'), [request('"abc\\'), request("5")]);
  assert.deepEqual(frameAll('{"a":"b\\\n"}\n'), [request('{"a":"b\\\n"}')]);
});

Deno.test("RequestFramer.push() yields nothing for whitespace-only lines", () => {
  assert.deepEqual(frameAll("\n\n   \n\t\t\n\r\n \r \n"), []);
  assert.deepEqual(frameAll('\n  \r\n{"op":"PING"}\n\n\t\n{"op":"STATS"}\n \n'), [
    request('{"op":"PING"}'),
    request('{"op":"STATS"}'),
  ]);
  const framer = new RequestFramer();
  assert.deepEqual(framer.push(encoder.encode("   \t  \r")), []);
  assert.equal(framer.bufferedBytes, 0);
});

Deno.test("RequestFramer.push() makes [1,2], 5 and a stray } one request each", () => {
  assert.deepEqual(frameAll("[1,2]\n5\n}\n]\n"), [
    request("[1,2]"),
    request("5"),
    request("}"),
    request("]"),
  ]);
  // Depth below zero still ends at the newline, and the next request starts at depth 0.
  assert.deepEqual(frameAll('}}}\n{\n"a":1}\n'), [request("}}}"), request('{\n"a":1}')]);
  // Unbalanced opening brackets keep the request open across lines.
  assert.deepEqual(frameAll("[1,\n2]\n"), [request("[1,\n2]")]);
});

Deno.test("RequestFramer.push() makes text after a complete object on the same line one request", () => {
  assert.deepEqual(frameAll('{"op":"PING"} {"op":"STATS"}\n'), [
    request('{"op":"PING"} {"op":"STATS"}'),
  ]);
  assert.deepEqual(frameAll('{"op":"PING"}xyz\n'), [request('{"op":"PING"}xyz')]);
});

Deno.test("RequestFramer.push() accepts exactly maxRequestBytes and rejects one more", () => {
  const max = 20;
  const exact = '{"a":"' + "x".repeat(max - 8) + '"}';
  assert.equal(exact.length, max);
  const over = '{"a":"' + "x".repeat(max - 7) + '"}';
  for (const eol of ["\n", "\r\n"]) {
    assert.deepEqual(
      frameAll(exact + eol, max),
      [request(exact)],
      `exact with ${JSON.stringify(eol)}`,
    );
    assert.deepEqual(
      frameAll(over + eol, max),
      [{ kind: "too_large" }],
      `over with ${JSON.stringify(eol)}`,
    );
  }
  // The size counts UTF-8 bytes: 10 two-byte characters are 20 bytes.
  assert.deepEqual(frameAll('"' + "é".repeat(9) + '"\n', max), [
    request('"' + "é".repeat(9) + '"'),
  ]);
  assert.deepEqual(frameAll('"' + "é".repeat(10) + '"\n', max), [{ kind: "too_large" }]);
  // Newlines inside a multi-line request count; the final one does not.
  assert.deepEqual(frameAll("[\n" + "1".repeat(max - 3) + "]\n", max), [
    request("[\n" + "1".repeat(max - 3) + "]"),
  ]);
  assert.deepEqual(frameAll("[\r\n" + "1".repeat(max - 3) + "]\n", max), [{ kind: "too_large" }]);
  // A \r that is not part of the final \r\n counts.
  assert.deepEqual(frameAll("1".repeat(max) + "\r\r\n", max), [{ kind: "too_large" }]);
  assert.deepEqual(frameAll("[" + "1".repeat(max - 1) + "\r\n]\n", max), [{ kind: "too_large" }]);
  // The same at the end of the stream.
  assert.deepEqual(frameAll("1".repeat(max) + "\r", max), [request("1".repeat(max))]);
  assert.deepEqual(frameAll("1".repeat(max + 1), max), [{ kind: "too_large" }]);
});

Deno.test("RequestFramer.push() applies the size limit the same at every split position", () => {
  const max = 10;
  const input = encoder.encode(
    "0123456789\r\n" + "\r\n  \n" + "[\n1234567]\n" + "0123456789\r\n" + "01234567890\r\n" +
      "ignored\n",
  );
  const expected = [
    request("0123456789"),
    request("[\n1234567]"),
    request("0123456789"),
    { kind: "too_large" },
  ] satisfies Frame[];
  assert.deepEqual(frameAll(input, max), expected);
  for (let k = 0; k <= input.length; k++) {
    const frames = frameChunks([input.subarray(0, k), input.subarray(k)], max);
    assert.deepEqual(frames, expected, `split at byte ${k}`);
  }
  assert.deepEqual(frameChunks(Array.from(input, (b) => Uint8Array.of(b)), max), expected);
});

Deno.test("RequestFramer.push() does not count leading whitespace lines in the size", () => {
  const max = 10;
  const body = "[\n" + "1".repeat(7) + "]";
  assert.equal(body.length, max);
  const input = "\n\n   \r\n\t\n" + body + "\r\n";
  assert.deepEqual(frameAll(input, max), [request(body)]);
  const framer = new RequestFramer({ maxRequestBytes: max });
  assert.deepEqual(framer.push(encoder.encode(" \n".repeat(1000))), []);
  assert.equal(framer.bufferedBytes, 0);
});

Deno.test("RequestFramer.push() detects too_large before a newline arrives", () => {
  const max = 65536;
  const framer = new RequestFramer();
  const chunk = encoder.encode('{"cliente":"' + "a".repeat(1000));
  let frames: Frame[] = [];
  let pushes = 0;
  while (frames.length === 0 && pushes < 1000) {
    frames = framer.push(chunk);
    pushes++;
    assert.ok(framer.bufferedBytes <= max + 2, `buffered ${framer.bufferedBytes} bytes`);
  }
  assert.deepEqual(frames, [{ kind: "too_large" }]);
  // Detected within the chunk that crossed the limit.
  assert.equal(pushes, Math.ceil((max + 1) / chunk.length));
  assert.equal(framer.bufferedBytes, 0);
});

Deno.test("RequestFramer.push() returns [] forever after too_large", () => {
  const framer = new RequestFramer({ maxRequestBytes: 8 });
  assert.deepEqual(framer.push(encoder.encode('{"a":1}\n123456789\n{"b":2}\n')), [
    request('{"a":1}'),
    { kind: "too_large" },
  ]);
  assert.deepEqual(framer.push(encoder.encode('{"c":3}\n')), []);
  assert.deepEqual(framer.push(encoder.encode("{")), []);
  assert.equal(framer.bufferedBytes, 0);
  assert.deepEqual(framer.end(), []);
});

Deno.test("RequestFramer.push() reports bad_utf8 and stays usable", () => {
  const cases: number[][] = [
    [0xff], // never valid
    [0x80], // a lone continuation byte
    [0xc3], // a truncated two-byte character
    [0xc0, 0xaf], // an overlong encoding of "/"
    [0xed, 0xa0, 0x80], // an encoded surrogate
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  ];
  for (const bad of cases) {
    const input = bytes('{"a":"', bad, '"}\n{"op":"PING"}\n');
    assert.deepEqual(frameAll(input), [{ kind: "bad_utf8" }, request('{"op":"PING"}')], `${bad}`);
  }
  // A bad request that spans chunks, then a good one that spans chunks.
  const framer = new RequestFramer();
  assert.deepEqual(framer.push(bytes('{"a":"', [0xe2, 0x82])), []);
  assert.deepEqual(framer.push(bytes('"}\n{"op":')), [{ kind: "bad_utf8" }]);
  assert.deepEqual(framer.push(bytes('"€"}\n')), [request('{"op":"€"}')]);
});

Deno.test("RequestFramer.end() returns a final request without a newline", () => {
  const framer = new RequestFramer();
  assert.deepEqual(framer.push(encoder.encode('{"op":"PING"}\n{"op":"STATS"}')), [
    request('{"op":"PING"}'),
  ]);
  assert.deepEqual(framer.end(), [request('{"op":"STATS"}')]);
  assert.equal(framer.bufferedBytes, 0);
  assert.deepEqual(framer.end(), []);
  // An incomplete object is still returned, for an invalid_json reply.
  assert.deepEqual(frameAll('{"op":\n"PING"'), [request('{"op":\n"PING"')]);
  // A final \r is dropped as if the \n had come.
  assert.deepEqual(frameAll("5\r"), [request("5")]);
  // Invalid UTF-8 at the end.
  assert.deepEqual(frameAll(bytes([0xff])), [{ kind: "bad_utf8" }]);
});

Deno.test("RequestFramer.end() returns nothing for trailing whitespace", () => {
  assert.deepEqual(frameAll('{"op":"PING"}\n  \t\r'), [request('{"op":"PING"}')]);
  assert.deepEqual(frameAll('{"op":"PING"}\n\n\r\n'), [request('{"op":"PING"}')]);
  assert.deepEqual(frameAll(""), []);
  assert.deepEqual(new RequestFramer().end(), []);
});

Deno.test("RequestFramer.push() decodes multi-byte characters split across chunks", () => {
  const text = '{"x":"ñ€🍕"}';
  const input = encoder.encode(text + "\n");
  for (let a = 0; a <= input.length; a++) {
    for (let b = a; b <= input.length; b++) {
      const frames = frameChunks([input.subarray(0, a), input.subarray(a, b), input.subarray(b)]);
      assert.deepEqual(frames, [request(text)], `split at ${a} and ${b}`);
    }
  }
});

Deno.test("RequestFramer.push() keeps no reference to a chunk after it returns", () => {
  const framer = new RequestFramer();
  const buffer = new Uint8Array(8);
  const frames: Frame[] = [];
  const input = encoder.encode('{"cliente":"Ana","n":[1,2,3]}\n{"op":"PING"}\n');
  for (let at = 0; at < input.length; at += buffer.length) {
    const part = input.subarray(at, at + buffer.length);
    buffer.set(part);
    frames.push(...framer.push(buffer.subarray(0, part.length)));
    buffer.fill(0x41); // the caller reuses its read buffer
  }
  assert.deepEqual(frames, [request('{"cliente":"Ana","n":[1,2,3]}'), request('{"op":"PING"}')]);
});

Deno.test("RequestFramer.bufferedBytes counts the request in progress", () => {
  const framer = new RequestFramer();
  assert.equal(framer.bufferedBytes, 0);
  framer.push(encoder.encode("\n  {"));
  assert.equal(framer.bufferedBytes, 1);
  framer.push(encoder.encode('"a":\n'));
  assert.equal(framer.bufferedBytes, 6);
  framer.push(encoder.encode("1}\n[2"));
  assert.equal(framer.bufferedBytes, 2);
});

Deno.test("RequestFramer() rejects a maxRequestBytes that is not a positive integer", () => {
  for (const maxRequestBytes of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => new RequestFramer({ maxRequestBytes }), RangeError);
  }
  assert.deepEqual(new RequestFramer({ maxRequestBytes: 1 }).push(encoder.encode("5\n55\n")), [
    request("5"),
    { kind: "too_large" },
  ]);
});
