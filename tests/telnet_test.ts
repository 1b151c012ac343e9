/**
 * A person at a `telnet` prompt (§1: requests typed or pasted): what the
 * keys they press send, as the real `telnet` client sends it.
 */

import assert from "node:assert/strict";
import { rawConnect, startInProcess } from "./test_util.ts";
import { testWith } from "./permissions.ts";

/** Reads until `done` says the bytes so far are enough (or the peer closes). */
async function readUntil(
  conn: Deno.Conn,
  done: (got: Uint8Array) => boolean,
): Promise<Uint8Array> {
  let got = new Uint8Array();
  const buffer = new Uint8Array(4096);
  while (!done(got)) {
    const n = await conn.read(buffer);
    if (n === null) break;
    const next = new Uint8Array(got.length + n);
    next.set(got);
    next.set(buffer.subarray(0, n), got.length);
    got = next;
  }
  return got;
}

const lines = (got: Uint8Array) => new TextDecoder().decode(got.filter((b) => b !== 0xff));

testWith()(
  "telnet's Ctrl-C drops the line being typed and its timing mark is answered: the next request's reply shows",
  async () => {
    await using daemon = await startInProcess({});
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: daemon.port });
    try {
      const encode = (text: string) => new TextEncoder().encode(text);
      // Half an order typed, then Ctrl-C: IAC IP, IAC DO TIMING-MARK, as telnet sends them.
      await conn.write(encode('{"cliente":"Ana","productos":["pa'));
      await conn.write(new Uint8Array([0xff, 0xf4, 0xff, 0xfd, 0x06]));
      // IAC WONT TIMING-MARK: telnet shows what comes after it.
      const mark = await readUntil(conn, (got) => got.length >= 3);
      assert.deepEqual([...mark], [0xff, 0xfc, 0x06]);
      await conn.write(encode('{"op":"PING"}\n{"op":"STATS"}\n'));
      const got = await readUntil(conn, (bytes) => lines(bytes).split("\n").length > 2);
      const [ping, stats] = lines(got).split("\n").slice(0, 2).map((line) => JSON.parse(line));
      assert.equal(
        ping.pong,
        true,
        "the half-typed order was dropped, not joined to the next line",
      );
      assert.equal(stats.stats.recibidos, 0, "no order was received");
    } finally {
      conn.close();
    }
  },
);

testWith()(
  "telnet's Ctrl-C split over several reads (a byte at a time) is still Ctrl-C: its timing mark is answered",
  async () => {
    await using daemon = await startInProcess({});
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: daemon.port });
    try {
      const encode = (text: string) => new TextEncoder().encode(text);
      await conn.write(encode('{"op":"ST'));
      for (const byte of [0xff, 0xf4, 0xff, 0xfd, 0x06]) {
        await conn.write(new Uint8Array([byte]));
        // Each byte its own read: a slow link, or a client that writes a byte at a time.
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      const mark = await readUntil(conn, (got) => got.length >= 3);
      assert.deepEqual([...mark], [0xff, 0xfc, 0x06]);
      await conn.write(encode('{"op":"PING"}\r\n'));
      const got = await readUntil(conn, (bytes) => lines(bytes).includes("\n"));
      assert.equal(
        JSON.parse(lines(got).split("\n")[0]!).pong,
        true,
        "the half-typed request was dropped",
      );
    } finally {
      conn.close();
    }
  },
);

/**
 * Telnet's answers (`IAC` and two bytes) taken out of what the daemon
 * wrote, each checked to stand between two reply lines; and the lines.
 */
function splitAnswers(got: Uint8Array): { answers: number[][]; lines: string[] } {
  const answers: number[][] = [];
  const text: number[] = [];
  for (let i = 0; i < got.length;) {
    if (got[i] === 0xff) {
      assert.ok(text.length === 0 || text.at(-1) === 0x0a, "an answer between two reply lines");
      answers.push([...got.subarray(i, i + 3)]);
      i += 3;
    } else {
      text.push(got[i++]!);
    }
  }
  const lines = new TextDecoder().decode(Uint8Array.from(text)).split("\n").slice(0, -1);
  return { answers, lines };
}

testWith()(
  "a telnet client that negotiates options gets its requests answered, and nothing but reply lines",
  async () => {
    await using daemon = await startInProcess({});
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: daemon.port });
    try {
      const encode = (text: string) => new TextEncoder().encode(text);
      // What PuTTY or Windows telnet send on connecting: IAC WILL NAWS, the
      // window size (IAC SB NAWS 0 80 0 24 IAC SE), IAC DO ECHO.
      await conn.write(new Uint8Array([0xff, 0xfb, 0x1f]));
      await conn.write(new Uint8Array([0xff, 0xfa, 0x1f, 0, 80, 0, 24, 0xff, 0xf0]));
      await conn.write(new Uint8Array([0xff, 0xfd, 0x01]));
      await conn.write(encode('{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"}\r\n'));
      // A command inside a request is removed too (IAC NOP, IAC WONT LINEMODE).
      await conn.write(encode('{"op":'));
      await conn.write(new Uint8Array([0xff, 0xf1, 0xff, 0xfc, 0x22]));
      await conn.write(encode('"PING"}\r\n'));
      const got = await readUntil(conn, (bytes) => splitAnswers(bytes).lines.length >= 2);
      const { answers, lines } = splitAnswers(got);
      const [order, ping] = lines.map((line) => JSON.parse(line));
      assert.equal(order.ok, true, JSON.stringify(order));
      assert.equal(order.estado, "pendiente");
      assert.equal(ping.pong, true, JSON.stringify(ping));
      // Option requests are not answered (they stay off): a JSON reader of
      // the replies never meets a byte that is not part of a reply line.
      assert.deepEqual(answers, []);
      assert.equal(got.length, new TextEncoder().encode(lines.join("\n") + "\n").length);
    } finally {
      conn.close();
    }
  },
);

testWith()(
  "a request typed in telnet's character mode, its line ended by CR NUL, gets its reply",
  async () => {
    await using daemon = await startInProcess({});
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: daemon.port });
    try {
      const encode = (text: string) => new TextEncoder().encode(text);
      await conn.write(encode('{"op":"PING"}'));
      // CR and NUL each its own read.
      for (const byte of [0x0d, 0x00]) {
        await conn.write(new Uint8Array([byte]));
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      await conn.write(encode('{"op":"STATS"}\r\0'));
      const got = await readUntil(conn, (bytes) => lines(bytes).split("\n").length > 2);
      const [ping, stats] = lines(got).split("\n").slice(0, 2).map((line) => JSON.parse(line));
      assert.equal(ping.pong, true, JSON.stringify(ping));
      assert.equal(stats.ok, true, JSON.stringify(stats));
      assert.equal(typeof stats.stats.recibidos, "number");
    } finally {
      conn.close();
    }
  },
);

testWith()(
  "a client that is not telnet keeps its FF bytes: invalid UTF-8 is invalid_json, no line swallowed, nothing but replies",
  async () => {
    await using daemon = await startInProcess({});
    await using conn = await rawConnect(daemon.port);
    const encode = (text: string) => new TextEncoder().encode(text);
    const join = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));
    // FF FE FD in a name (IAC DONT 253 to a telnet reader), FF FE then a newline,
    // FF FB 01 inside a request: each is invalid UTF-8, each line gets its reply.
    await conn.write(join(
      encode('{"cliente":"Ana'),
      Uint8Array.of(0xff, 0xfe, 0xfd),
      encode('","productos":["pan"],"direccion":"C 1"}\n'),
      Uint8Array.of(0xff, 0xfe),
      encode("\n"),
      encode('{"op":"PING","x":"'),
      Uint8Array.of(0xff, 0xfb, 0x01),
      encode('"}\n'),
      // Telnet's Ctrl-C in halves: IAC DO TIMING-MARK in a name (no 'Ana' made
      // of it, and no answer before the reply), IAC IP after junk (the junk is
      // not dropped), IAC IP alone on a line (the line is not swallowed).
      encode('{"cliente":"A'),
      Uint8Array.of(0xff, 0xfd, 0x06),
      encode('na","productos":["pan"],"direccion":"C 1"}\n'),
      Uint8Array.of(0x80, 0x81),
      encode("garbage"),
      Uint8Array.of(0xff, 0xf4),
      encode('{"op":"PING"}\n'),
      Uint8Array.of(0xff, 0xf4),
      encode('\n{"op":"PING"}\n'),
    ));
    const replies = [];
    for (let i = 0; i < 7; i++) replies.push(await conn.readLine());
    assert.deepEqual(
      replies.map((reply) => reply?.error ?? (reply?.pong ? "pong" : JSON.stringify(reply))),
      [
        "invalid_json",
        "invalid_json",
        "invalid_json",
        "invalid_json",
        "invalid_json",
        "invalid_json",
        "pong",
      ],
    );
  },
);
