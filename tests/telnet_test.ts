/**
 * A person at a `telnet` prompt (§1: requests typed or pasted): what the
 * keys they press send, as the real `telnet` client sends it.
 */

import assert from "node:assert/strict";
import { startInProcess } from "./test_util.ts";
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
