import assert from "node:assert/strict";
import { RequestFramer } from "./framing.ts";
import { INTERRUPT, MAX_SUBNEGOTIATION_BYTES, TelnetFilter } from "./telnet_commands.ts";

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(
    parts.flatMap((part) => typeof part === "string" ? [...new TextEncoder().encode(part)] : part),
  );

const IAC = 0xff;
const SE = 0xf0;
const SB = 0xfa;
const WILL = 0xfb;
const WONT = 0xfc;
const DO = 0xfd;
const DONT = 0xfe;
const IP = 0xf4;
const ECHO = 0x01;
const SGA = 0x03;
const TIMING_MARK = 0x06;
const NAWS = 0x1f;
/** What PuTTY sends first (IAC WILL NAWS): from then on the connection negotiates. */
const HELLO = [IAC, WILL, NAWS];

/**
 * What a filter makes of `chunks` fed one after the other, then the end of
 * input (unless `end` is false): the data as one byte array, with -1 where an interrupt stands.
 */
function filterAll(chunks: Uint8Array[], filter = new TelnetFilter(), end = true): number[] {
  const out: number[] = [];
  for (const chunk of chunks) {
    for (const piece of filter.push(chunk)) {
      if (piece === INTERRUPT) out.push(-1);
      else out.push(...piece);
    }
  }
  if (end) out.push(...(filter.end() ?? []));
  return out;
}

/** The same, and the answers due (taken at the end). */
function filterWithAnswers(chunks: Uint8Array[]): { data: number[]; answers: number[] } {
  const filter = new TelnetFilter();
  const data = filterAll(chunks, filter);
  return { data, answers: [...filter.takeAnswers() ?? []] };
}

const data = (...parts: (string | number[])[]) => [...bytes(...parts)];

Deno.test("TelnetFilter passes a chunk with no byte FF and no NUL on as it is", () => {
  const filter = new TelnetFilter();
  const chunk = bytes('{"op":"PING"}\r\n{"op":"STATS"}\n');
  const pieces = filter.push(chunk);
  assert.equal(pieces.length, 1);
  assert.equal(pieces[0], chunk, "the chunk itself, not a copy");
  assert.deepEqual(filter.push(new Uint8Array()), []);
  assert.equal(filter.answersDue, false);
  assert.equal(filter.takeAnswers(), null);
  assert.equal(filter.end(), null);
});

Deno.test("TelnetFilter removes every two-byte command, wherever it falls, once the client negotiates", () => {
  // NOP DM BRK AO AYT EC EL GA, a stray SE, and EOF SUSP ABORT EOR (RFC 1184, RFC 885).
  for (
    const command of [0xf1, 0xf2, 0xf3, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, SE, 0xec, 0xed, 0xee, 0xef]
  ) {
    const got = filterWithAnswers([
      bytes(HELLO, [IAC, command], '{"op":', [IAC, command], '"PING"}', [IAC, command], "\n", [
        IAC,
        command,
      ]),
    ]);
    assert.deepEqual(got.data, data('{"op":"PING"}\n'), `command ${command.toString(16)}`);
    assert.deepEqual(
      got.answers,
      [],
      `command ${command.toString(16)} is not answered (AYT neither)`,
    );
  }
});

Deno.test("TelnetFilter leaves a client that does not negotiate its bytes: invalid UTF-8 stays invalid, no newline is swallowed", () => {
  const kept = [
    // Invalid UTF-8 in a request: not made valid by taking FF FE FD out.
    bytes('{"cliente":"Ana', [IAC, DONT, 0xfd], '","productos":["pan"],"direccion":"C 1"}\n'),
    // A line of junk: FF FE then the newline (option 10 is a line's end, not an option).
    bytes([IAC, DONT], "\n"),
    bytes([IAC, DONT, 0xfd], "\n"),
    // An option command inside a line is no telnet client's first bytes.
    bytes('{"a":"', [IAC, WILL, ECHO], '"}\n'),
    bytes('{"a":"x', [IAC, DONT], '"}\n'),
    // Subnegotiation and two-byte commands other than Ctrl-C: data until the client negotiates.
    bytes([IAC, SB, NAWS, 0], "\n"),
    bytes('{"a":"', [IAC, 0xf1, IAC, 0xf6], '"}\n'),
    // Half of Ctrl-C's IAC IP IAC DO TIMING-MARK, or some of it and then other bytes: data.
    bytes('{"cliente":"A', [IAC, DO, TIMING_MARK], 'na"}\n'),
    bytes([0x80, 0x81], "garbage", [IAC, IP], '{"op":"PING"}\n'),
    bytes([IAC, IP], "\n"),
    bytes('{"a":"', [IAC, IP, IAC], '"}\n'),
    bytes('{"a":"', [IAC, IP, IAC, DO], '"}\n'),
    bytes('{"a":"', [IAC, IP, IAC, DO, ECHO], '"}\n'),
    bytes('{"a":"', [IAC, IP, IAC, IAC, IP, IAC, WILL, TIMING_MARK], '"}\n'),
    bytes([IAC, IP]),
    bytes([IAC, IP, IAC, DO]),
  ];
  for (const stream of kept) {
    assert.deepEqual(filterAll([stream]), [...stream], String([...stream]));
    for (let at = 0; at <= stream.length; at++) {
      assert.deepEqual(filterAll([stream.subarray(0, at), stream.subarray(at)]), [...stream]);
    }
  }
  // Framed, the request with FF FE FD is invalid UTF-8, as before.
  const framer = new RequestFramer();
  const frames = [];
  for (const piece of new TelnetFilter().push(kept[0]!)) {
    if (piece !== INTERRUPT) frames.push(...framer.push(piece));
  }
  assert.deepEqual(frames, [{ kind: "bad_utf8" }]);
  // An option command at the start of a line (after a request, as telnet's on a
  // change of mode) makes a negotiating client of it: its commands go from then on.
  assert.deepEqual(
    filterAll([bytes('{"op":"PING"}\n', [IAC, DO, ECHO], '{"a":"', [IAC, 0xf1], '"}\n')]),
    data('{"op":"PING"}\n{"a":""}\n'),
  );
});

Deno.test("TelnetFilter: telnet's Ctrl-C (IAC IP IAC DO TIMING-MARK) stands as an interrupt where it was, cut anywhere", () => {
  const stream = bytes('{"op":"PI', [IAC, IP, IAC, DO, TIMING_MARK], "x\n");
  const expected = [...data('{"op":"PI'), -1, ...data("x\n")];
  assert.deepEqual(filterAll([stream]), expected);
  for (let at = 0; at <= stream.length; at++) {
    const filter = new TelnetFilter();
    assert.deepEqual(filterAll([stream.subarray(0, at), stream.subarray(at)], filter), expected);
    assert.deepEqual([...filter.takeAnswers() ?? []], [IAC, WONT, TIMING_MARK], `cut at ${at}`);
  }
  // Once the client negotiates, IAC IP alone is Ctrl-C too (and IAC DO TIMING-MARK alone is answered).
  const alone = filterWithAnswers([bytes(HELLO, "{", [IAC, IP], "}\n", [IAC, DO, TIMING_MARK])]);
  assert.deepEqual(alone.data, [...data("{"), -1, ...data("}\n")]);
  assert.deepEqual(alone.answers, [IAC, WONT, TIMING_MARK]);
  // Before, neither alone is answered.
  assert.deepEqual(filterWithAnswers([bytes("{", [IAC, DO, TIMING_MARK], "}\n")]).answers, []);
});

Deno.test("TelnetFilter removes option negotiation and answers only Ctrl-C's timing mark", () => {
  const got = filterWithAnswers([
    bytes([IAC, WILL, NAWS], "{", [IAC, DO, ECHO], "}", [IAC, WONT, SGA, IAC, DONT, SGA], "\n"),
  ]);
  assert.deepEqual(got.data, data("{}\n"));
  // No option request is answered (left unanswered, it stays off): a client
  // whose data holds FF FB–FE by chance gets nothing but JSON lines.
  assert.deepEqual(got.answers, []);
  // Ctrl-C's timing mark is answered so: WONT TIMING-MARK.
  assert.deepEqual(filterWithAnswers([bytes([IAC, IP, IAC, DO, TIMING_MARK])]).answers, [
    IAC,
    WONT,
    TIMING_MARK,
  ]);
});

Deno.test("TelnetFilter owes the timing mark's answer once until it is taken: a flood does not grow it", () => {
  const filter = new TelnetFilter();
  const flood: number[] = [];
  for (let round = 0; round < 10; round++) {
    for (let option = 0; option < 256; option++) flood.push(IAC, DO, option, IAC, WILL, option);
  }
  assert.deepEqual(filterAll([Uint8Array.from(flood)], filter), []);
  assert.equal(filter.answersDue, true);
  assert.deepEqual([...filter.takeAnswers()!], [IAC, WONT, TIMING_MARK], "one answer, once");
  assert.equal(filter.answersDue, false);
  assert.equal(filter.takeAnswers(), null);
  // Taken, a timing mark is answered again; another request is not.
  filter.push(bytes([IAC, DO, ECHO, IAC, DO, TIMING_MARK]));
  assert.deepEqual([...filter.takeAnswers()!], [IAC, WONT, TIMING_MARK]);
});

Deno.test("TelnetFilter removes a subnegotiation, escaped IACs and all", () => {
  const got = filterWithAnswers([
    bytes(
      HELLO,
      '{"op"',
      [IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE],
      ':"PING"}\n',
      [IAC, SB, NAWS, 0, IAC, IAC, 0, 24, IAC, SE], // width 255: FF escaped
      "\n",
    ),
  ]);
  assert.deepEqual(got.data, data('{"op":"PING"}\n\n'));
  assert.deepEqual(got.answers, []);
  // An IAC and a command within it ends it (no IAC SE came): the command is taken as such.
  assert.deepEqual(filterAll([bytes(HELLO, [IAC, SB, NAWS, 0, 80, IAC, IP], "{}\n")]), [
    -1,
    ...data("{}\n"),
  ]);
});

Deno.test(`TelnetFilter gives up a subnegotiation that never ends after ${MAX_SUBNEGOTIATION_BYTES} bytes, holding none`, () => {
  const filter = new TelnetFilter();
  // Within the limit (its option byte counts), everything is skipped, however it is cut.
  const skipped = filterAll(
    [bytes(HELLO, [IAC, SB, NAWS]), new Uint8Array(MAX_SUBNEGOTIATION_BYTES - 2)],
    filter,
    false,
  );
  assert.deepEqual(skipped, []);
  // Past it, what follows is data again (the framing answers it).
  assert.deepEqual(
    filterAll([bytes("ab"), bytes('{"op":"PING"}\n')], filter),
    data('b{"op":"PING"}\n'),
  );
  // A million bytes of it: the pieces passed on are views of the chunks, nothing is kept.
  const huge = new TelnetFilter();
  huge.push(bytes(HELLO, [IAC, SB, 24]));
  const after = huge.push(new Uint8Array(1_000_000).fill(0x41));
  assert.equal(after.length, 1);
  assert.equal((after[0] as Uint8Array).length, 1_000_000 - (MAX_SUBNEGOTIATION_BYTES - 1));
});

Deno.test("TelnetFilter leaves IAC IAC (data byte FF) and an IAC before no command to the framing", () => {
  for (const junk of [[IAC, IAC], [IAC, 0x7b], [IAC, 0x00], [IAC, 0xeb]]) {
    const stream = bytes('{"a":"', junk, '"}\n');
    assert.deepEqual(filterAll([stream]), [...stream], String(junk));
    // Cut between the two bytes, the same.
    assert.deepEqual(filterAll([stream.subarray(0, 7), stream.subarray(7)]), [...stream]);
  }
  // IAC IAC, then Ctrl-C: an escaped FF, then the interrupt.
  assert.deepEqual(filterAll([bytes([IAC, IAC, IAC, IP, IAC, DO, TIMING_MARK])]), [IAC, IAC, -1]);
  // Framed, it is invalid UTF-8 as before.
  const framer = new RequestFramer();
  const frames = [];
  for (const piece of new TelnetFilter().push(bytes('{"a":"', [IAC, IAC], '"}\n'))) {
    if (piece !== INTERRUPT) frames.push(...framer.push(piece));
  }
  assert.deepEqual(frames, [{ kind: "bad_utf8" }]);
});

Deno.test("TelnetFilter takes CR NUL (telnet in character mode) as a line's end, cut or not", () => {
  assert.deepEqual(filterAll([bytes('{"op":"PING"}\r', [0], '{"op":"STATS"}\r', [0])]), [
    ...data('{"op":"PING"}\r\n{"op":"STATS"}\r\n'),
  ]);
  assert.deepEqual(filterAll([bytes('{"op":"PING"}\r'), bytes([0])]), data('{"op":"PING"}\r\n'));
  // A command between them changes nothing: they are next to each other in the data.
  assert.deepEqual(filterAll([bytes(HELLO, "{}\r", [IAC, 0xf1, 0])]), data("{}\r\n"));
  // A NUL after anything else is left to the framing (never valid JSON).
  assert.deepEqual(filterAll([bytes("{", [0], "}\n", [0])]), data("{", [0], "}\n", [0]));
  assert.deepEqual(filterAll([bytes("{}\r"), bytes("\r", [0])]), data("{}\r\r\n"));
  // Framed, each line is one request.
  const framer = new RequestFramer();
  const frames = [];
  for (const piece of new TelnetFilter().push(bytes('{"op":"PING"}\r', [0]))) {
    if (piece !== INTERRUPT) frames.push(...framer.push(piece));
  }
  assert.deepEqual(frames, [{ kind: "request", text: '{"op":"PING"}' }]);
});

Deno.test("TelnetFilter: a stream of every kind cut at every byte offset, and a byte at a time, filters the same", () => {
  const stream = bytes(
    [IAC, WILL, NAWS, IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE, IAC, DO, ECHO],
    '{"op":"PING"}\r',
    [0],
    '{"op":',
    [IAC, 0xf1, IAC, WONT, SGA],
    '"ST',
    [IAC, IP, IAC, DO, TIMING_MARK],
    '{"a":"',
    [IAC, IAC, IAC, 0x41],
    '"}\r\n',
    [IAC, SB, 24, IAC, IAC, 1, IAC, IP], // an SB ended by a command
    "{}\r",
    [IAC, 0xf6, 0],
  );
  const whole = filterWithAnswers([stream]);
  assert.deepEqual(whole.data, [
    ...data('{"op":"PING"}\r\n{"op":"ST'),
    -1,
    ...data('{"a":"', [IAC, IAC, IAC, 0x41], '"}\r\n'),
    -1,
    ...data("{}\r\n"),
  ]);
  assert.deepEqual(whole.answers, [IAC, WONT, TIMING_MARK], "the timing mark's answer only");
  for (let at = 0; at <= stream.length; at++) {
    for (let to = at; to <= stream.length; to++) {
      const cut = filterWithAnswers([
        stream.subarray(0, at),
        stream.subarray(at, to),
        stream.subarray(to),
      ]);
      assert.deepEqual(cut, whole, `cut at ${at} and ${to}`);
    }
  }
  const byByte = filterWithAnswers([...stream].map((b) => Uint8Array.of(b)));
  assert.deepEqual(byByte, whole, "a byte at a time");
});

Deno.test("TelnetFilter.end() gives back a command cut by the end of input, as data; drops a subnegotiation", () => {
  assert.deepEqual(filterAll([bytes("{}", [IAC])]), data("{}", [IAC]));
  assert.deepEqual(filterAll([bytes("{}", [IAC, DO])]), data("{}", [IAC, DO]));
  assert.deepEqual(filterAll([bytes(HELLO, "{}", [IAC, SB, NAWS, 0])]), data("{}"));
  const filter = new TelnetFilter();
  filter.push(bytes([IAC]));
  filter.end();
  assert.deepEqual(filterAll([bytes("{}\n")], filter), data("{}\n"), "afresh after end()");
});

Deno.test("RequestFramer.dropPartial() abandons the request being typed, not those framed before", () => {
  const framer = new RequestFramer();
  assert.deepEqual(framer.push(bytes('{"op":"PING"}\n{"cliente":')), [
    { kind: "request", text: '{"op":"PING"}' },
  ]);
  framer.dropPartial();
  assert.equal(framer.bufferedBytes, 0);
  assert.deepEqual(framer.push(bytes('{"op":"STATS"}\n')), [
    { kind: "request", text: '{"op":"STATS"}' },
  ]);
});
