import assert from "node:assert/strict";
import { Connection, type Socket } from "./connection.ts";
import type { Dispatcher } from "./dispatch.ts";
import { Logger } from "./log.ts";
import { LoopTurns } from "./loop_turns.ts";
import { parseRequest } from "./protocol/parse_request.ts";
import type { Request } from "./protocol/messages.ts";
import type { Reply } from "./protocol/replies.ts";
import { ReplyStream } from "./protocol/reply_stream.ts";
import { errorReply } from "./protocol/errors.ts";

/** A socket that delivers `input` as fast as it is read, then end of input, and keeps what is written. */
function fakeSocket(input: string): Socket & { written: () => string } {
  let rest = new TextEncoder().encode(input);
  const chunks: Uint8Array[] = [];
  return {
    read(buffer: Uint8Array) {
      if (rest.length === 0) return Promise.resolve(null);
      const n = Math.min(rest.length, buffer.length);
      buffer.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      return Promise.resolve(n);
    },
    write(bytes: Uint8Array) {
      chunks.push(bytes.slice());
      return Promise.resolve(bytes.length);
    },
    close() {},
    written: () => chunks.map((c) => new TextDecoder().decode(c)).join(""),
  };
}

/** A dispatcher whose replies the test resolves by hand, logging when each request starts. */
function manualDispatcher() {
  const started: string[] = [];
  const pending: { op: string; resolve: (reply: Reply | ReplyStream) => void }[] = [];
  const dispatcher: Pick<Dispatcher, "parse" | "run" | "refuseStopping"> = {
    parse: (text) => parseRequest(text),
    refuseStopping: () => errorReply("shutting_down"),
    run(request: Request) {
      started.push(request.op);
      const { promise, resolve } = Promise.withResolvers<Reply | ReplyStream>();
      pending.push({ op: request.op, resolve });
      return promise;
    },
  };
  return { dispatcher, started, pending };
}

const ORDER = '{"cliente":"Eva","productos":["pan"],"direccion":"C 1"}';

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("Connection runs a pipelined run of orders together and holds a read until they are answered", async () => {
  const input = `${ORDER}\n${ORDER}\n${ORDER}\n{"op":"PING"}\n{"op":"STATS"}\n${ORDER}\n`;
  const socket = fakeSocket(input);
  const { dispatcher, started, pending } = manualDispatcher();
  const connection = new Connection(socket, {
    maxRequestBytes: 65536,
    dispatcher,
    logger: new Logger({ write: () => {} }),
    peer: "test",
  });
  const served = connection.serve();
  await settle();
  assert.deepEqual(started, ["PEDIDO", "PEDIDO", "PEDIDO"], "the orders overlap; STATS waits");
  for (const { resolve } of pending.splice(0, 2)) resolve({ ok: true, pong: true });
  await settle();
  assert.deepEqual(started.length, 3, "STATS still waits for the third order");
  pending.shift()!.resolve({ ok: true, pong: true });
  await settle();
  assert.deepEqual(started, ["PEDIDO", "PEDIDO", "PEDIDO", "PING", "STATS"], "reads overlap reads");
  for (const { resolve } of pending.splice(0)) resolve({ ok: true, pong: true });
  await settle();
  assert.deepEqual(
    started.at(-1),
    "PEDIDO",
    "the order after the reads runs once they are answered",
  );
  pending.shift()!.resolve({ ok: true, pong: true });
  await served;
  assert.equal(socket.written().split("\n").length - 1, 6, "every request answered, in order");
});

Deno.test("Connection runs an exclusive request alone", async () => {
  const input = `${ORDER}\n{"op":"CANCELAR","id":1}\n${ORDER}\n`;
  const socket = fakeSocket(input);
  const { dispatcher, started, pending } = manualDispatcher();
  const connection = new Connection(socket, {
    maxRequestBytes: 65536,
    dispatcher,
    logger: new Logger({ write: () => {} }),
    peer: "test",
  });
  const served = connection.serve();
  for (const expected of [["PEDIDO"], ["PEDIDO", "CANCELAR"], ["PEDIDO", "CANCELAR", "PEDIDO"]]) {
    await settle();
    assert.deepEqual(started, expected);
    pending.shift()!.resolve({ ok: true, pong: true });
  }
  await served;
});

Deno.test("Connection with serialReads starts each read once the one before is answered (PostgreSQL: a later read never sees an older state)", async () => {
  const input = '{"op":"ESTADO","id":1}\n{"op":"PING"}\n{"op":"STATS"}\n';
  for (const serialReads of [false, true]) {
    const socket = fakeSocket(input);
    const { dispatcher, started, pending } = manualDispatcher();
    const connection = new Connection(socket, {
      maxRequestBytes: 65536,
      dispatcher,
      logger: new Logger({ write: () => {} }),
      peer: "test",
      serialReads,
    });
    const served = connection.serve();
    await settle();
    if (!serialReads) {
      assert.deepEqual(started, ["ESTADO", "PING", "STATS"], "together by default");
    } else {
      for (const expected of [["ESTADO"], ["ESTADO", "PING"], ["ESTADO", "PING", "STATS"]]) {
        assert.deepEqual(started, expected);
        pending.shift()!.resolve({ ok: true, pong: true });
        await settle();
      }
    }
    for (const { resolve } of pending.splice(0)) resolve({ ok: true, pong: true });
    await served;
    assert.equal(socket.written().split("\n").length - 1, 3);
  }
});

Deno.test("Connection: a request already on its way in when the daemon stops gets shutting_down, not a silent close", async () => {
  // The request reaches the socket just after the stop begins, before it was read.
  const arrives = Promise.withResolvers<void>();
  let sent = false;
  const chunks: string[] = [];
  let closed = false;
  const socket: Socket = {
    async read(buffer: Uint8Array) {
      if (sent) return null;
      await arrives.promise;
      sent = true;
      const bytes = new TextEncoder().encode('{"op":"PING"}\n');
      buffer.set(bytes);
      return bytes.length;
    },
    write(bytes: Uint8Array) {
      chunks.push(new TextDecoder().decode(bytes));
      return Promise.resolve(bytes.length);
    },
    close() {
      closed = true;
    },
  };
  const connection = new Connection(socket, {
    maxRequestBytes: 65536,
    dispatcher: manualDispatcher().dispatcher,
    logger: new Logger({ write: () => {} }),
    peer: "test",
  });
  const served = connection.serve();
  await settle();
  connection.beginStop();
  arrives.resolve();
  await served;
  assert.equal(closed, true);
  assert.match(chunks.join(""), /^\{"ok":false,"error":"shutting_down"[^\n]*\n$/);
});

/** A stream of `pieces` whose next piece is made only when the test lets it; an Error piece is thrown. */
function manualStream(first: string) {
  const asked: PromiseWithResolvers<string | Error | null>[] = [];
  let ask = Promise.withResolvers<void>();
  async function* rest(): AsyncGenerator<string, void> {
    for (;;) {
      const next = Promise.withResolvers<string | Error | null>();
      asked.push(next);
      ask.resolve();
      const piece = await next.promise;
      if (piece === null) return;
      if (piece instanceof Error) throw piece;
      yield piece;
    }
  }
  return {
    stream: new ReplyStream(first, rest()),
    /** Resolves when the connection asks for the next piece, then gives it `piece`. */
    async give(piece: string | Error | null) {
      await ask.promise;
      ask = Promise.withResolvers<void>();
      asked.shift()!.resolve(piece);
    },
  };
}

Deno.test("Connection writes a reply in pieces, each asked for once the one before is written, and holds what is sent after it until the last", async () => {
  const socket = fakeSocket('{"op":"LISTAR"}\n{"op":"ESTADO","id":1}\n{"op":"CANCELAR","id":1}\n');
  const { dispatcher, started, pending } = manualDispatcher();
  const connection = new Connection(socket, {
    maxRequestBytes: 65536,
    dispatcher,
    logger: new Logger({ write: () => {} }),
    peer: "test",
  });
  const served = connection.serve();
  await settle();
  const { stream, give } = manualStream('{"ok":true,"pedidos":[{"id":3}');
  pending.shift()!.resolve(stream);
  await settle();
  assert.equal(socket.written(), '{"ok":true,"pedidos":[{"id":3}', "the first piece is out");
  assert.deepEqual(started, ["LISTAR"], "a read waits too: it would read before the later pieces");
  await give(',{"id":2}');
  await give(',{"id":1}]}\n');
  await settle();
  assert.deepEqual(started, ["LISTAR"], "still not: the stream has not ended");
  await give(null);
  await settle();
  assert.deepEqual(started, ["LISTAR", "ESTADO"], "runs once the last piece is written");
  pending.shift()!.resolve({ ok: true, pong: true });
  await settle();
  assert.deepEqual(started, ["LISTAR", "ESTADO", "CANCELAR"]);
  pending.shift()!.resolve({ ok: true, pong: true });
  await served;
  assert.deepEqual(socket.written().split("\n").slice(0, 3).map((line) => JSON.parse(line)), [
    { ok: true, pedidos: [{ id: 3 }, { id: 2 }, { id: 1 }] },
    { ok: true, pong: true },
    { ok: true, pong: true },
  ]);
});

Deno.test("Connection closes when a piece of a reply cannot be made: the line is cut short, nothing after it is answered", async () => {
  const socket = fakeSocket('{"op":"LISTAR"}\n{"op":"PING"}\n');
  const { dispatcher, pending } = manualDispatcher();
  const lines: string[] = [];
  const connection = new Connection(socket, {
    maxRequestBytes: 65536,
    dispatcher,
    logger: new Logger({ write: (line) => lines.push(line) }),
    peer: "test",
  });
  const served = connection.serve();
  await settle();
  const { stream, give } = manualStream('{"ok":true,"pedidos":[{"id":3}');
  pending.shift()!.resolve(stream);
  await give(new Error("the store went away"));
  await served;
  assert.equal(connection.closed, true);
  assert.equal(
    socket.written(),
    '{"ok":true,"pedidos":[{"id":3}',
    "no newline: no client takes it whole",
  );
  assert.match(lines.join("\n"), /the store went away/);
});

/**
 * A peer that sends `line` for ever and stops reading: every read is filled;
 * the first `readBytes` of replies are taken (as the kernel's buffers take
 * them), then every write waits until the test ends. Records each write's size.
 */
function floodingPeer(line: string, readBytes: number) {
  let taken = 0;
  const pattern = new TextEncoder().encode(line.repeat(Math.ceil(65536 / line.length) + 1));
  const writes: number[] = [];
  const { promise: ended, resolve: end } = Promise.withResolvers<void>();
  const socket: Socket = {
    read(buffer: Uint8Array) {
      // Start each read at a line's start, as a stream of whole lines.
      const n = buffer.length - (buffer.length % line.length);
      buffer.set(pattern.subarray(0, n));
      return Promise.resolve(n);
    },
    write(bytes: Uint8Array) {
      writes.push(bytes.length);
      if (taken < readBytes) {
        const n = Math.min(bytes.length, readBytes - taken);
        taken += n;
        return Promise.resolve(n);
      }
      return ended.then(() => {
        throw new Deno.errors.ConnectionReset("gone");
      });
    },
    close() {
      end();
    },
  };
  return { socket, writes };
}

Deno.test("Connection: a peer flooding tiny requests without reading holds few of them waiting, not a 64 KiB read's worth", async () => {
  // Before: each read grew to 64 KiB, framed at once into ~32000 requests of
  // 2 bytes, each an object waiting for its turn (~1.7 MB per such peer).
  const { socket } = floodingPeer("x\n", 4 * 1024 * 1024);
  const connection = new Connection(socket, {
    maxRequestBytes: 65536,
    dispatcher: {
      parse: (text) => parseRequest(text),
      run: () => ({ ok: true, pong: true }),
      refuseStopping: () => errorReply("shutting_down"),
    },
    logger: new Logger({ write: () => {} }),
    peer: "test",
  });
  const served = connection.serve();
  let most = 0;
  for (let i = 0; i < 20_000 && connection.unsentBytes < 262_144; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    most = Math.max(most, connection.pending);
  }
  assert.ok(connection.unsentBytes >= 262_144, "the peer filled its reply budget");
  // invalid_json replies are ~250 bytes: ~1000 held unsent, plus what one read framed.
  assert.ok(most < 4096, `requests held at most: ${most}`);
  connection.close();
  await served;
});

Deno.test("Connection: replies that become ready together are written a bounded batch at a time, not joined into one write", async () => {
  const waits = 128;
  const { socket, writes } = floodingPeer('{"op":"ESTADO","id":1,"esperar":true}\n', 100_000);
  const { dispatcher, pending } = manualDispatcher();
  const connection = new Connection(socket, {
    maxRequestBytes: 65536,
    dispatcher,
    logger: new Logger({ write: () => {} }),
    peer: "test",
  });
  const served = connection.serve();
  for (let i = 0; i < 50 && pending.length < waits; i++) await settle();
  assert.equal(pending.length, waits, "every wait open at once");
  // Every wait ends at once with a large order (the peer reads nothing).
  const productos = Array.from({ length: 100 }, () => "p".repeat(600));
  for (const { resolve } of pending.splice(0)) {
    resolve({ ok: true, pedido: { id: 1, productos } } as unknown as Reply);
  }
  await settle();
  const oneReply = JSON.stringify({ ok: true, pedido: { id: 1, productos } }).length + 1;
  assert.ok(writes.length > 0);
  // Before: one write of all 128 replies (7.7 MB), copied twice more to make it.
  assert.ok(Math.max(...writes) <= 65536 + oneReply, `largest write: ${Math.max(...writes)} bytes`);
  connection.close();
  await served;
});

Deno.test("Connection tells how long a write waited before its peer read some of it (a slow reader's pace)", async () => {
  const socket = fakeSocket('{"op":"PING"}\n');
  const slow: Socket = {
    read: (buffer) => socket.read(buffer),
    // Half of what is asked, 40 ms later: a peer reading slowly.
    write: async (bytes) => {
      await new Promise((resolve) => setTimeout(resolve, 40));
      return await socket.write(bytes.subarray(0, Math.ceil(bytes.length / 2)));
    },
    close: () => socket.close(),
  };
  const connection = new Connection(slow, {
    maxRequestBytes: 65536,
    dispatcher: {
      parse: (text) => parseRequest(text),
      run: () => ({ ok: true, pong: true }),
      refuseStopping: () => errorReply("shutting_down"),
    },
    logger: new Logger({ write: () => {} }),
    peer: "test",
  });
  assert.equal(connection.longestWriteWaitMs, 0);
  await connection.serve();
  assert.equal(socket.written(), '{"ok":true,"pong":true}\n', "the whole reply, in pieces");
  assert.ok(connection.longestWriteWaitMs >= 35, String(connection.longestWriteWaitMs));
});

Deno.test("Connection: many peers flooding at once share each turn of the event loop, so a turn stays short for everyone else", async () => {
  // 200 peers each pipelining PINGs. Before, each answered 64 requests a turn (12,800 before
  // the loop could read anyone else's), counted from zero again whenever a read resolved at
  // once: then a peer whose data was all there was answered to its end without a turn.
  let answered = 0;
  const dispatcher = {
    parse: (text: string) => parseRequest(text),
    run: () => {
      answered++;
      return { ok: true as const, pong: true as const };
    },
    refuseStopping: () => errorReply("shutting_down"),
  };
  const turns = new LoopTurns(); // this test's own: other tests' connections do not share it
  const connections = Array.from({ length: 200 }, () => {
    // Each reads 64 KiB of replies, then stops reading: a bounded flood, so that a
    // connection that never lets the loop turn ends its flood and fails, not hangs.
    const { socket } = floodingPeer('{"op":"PING"}\n', 65536);
    const connection = new Connection(socket, {
      maxRequestBytes: 65536,
      dispatcher,
      logger: new Logger({ write: () => {} }),
      peer: "test",
      turns,
    });
    return { connection, served: connection.serve() };
  });
  let most = 0;
  for (let turn = 0; turn < 200; turn++) {
    const before = answered;
    await new Promise((resolve) => setImmediate(resolve));
    most = Math.max(most, answered - before);
  }
  assert.ok(answered > 20_000, `the peers were answered: ${answered}`);
  assert.ok(most <= 4096, `requests answered in one turn of the event loop: at most ${most}`);
  for (const { connection } of connections) connection.close();
  await Promise.all(connections.map(({ served }) => served));
});

Deno.test("Connection: orders pipelined behind a stop's refusal, never answered, are counted as received all the same", async () => {
  // Short enough to come in the connection's first read (128 bytes): all of it is received.
  const order = '{"cliente":"A","productos":["p"],"direccion":"d"}';
  const socket = fakeSocket(`${order}\n${order}\n{"op":"PING"}\n`);
  const refused: string[] = [];
  const connection = new Connection(socket, {
    maxRequestBytes: 65536,
    dispatcher: {
      parse: (text) => parseRequest(text),
      run: () => ({ ok: true, pong: true }),
      refuseStopping: (request: Request) => {
        refused.push(request.op);
        return errorReply("shutting_down");
      },
    },
    logger: new Logger({ write: () => {} }),
    peer: "test",
  });
  connection.beginStop();
  await connection.serve();
  assert.equal(socket.written(), JSON.stringify(errorReply("shutting_down")) + "\n", "one reply");
  assert.deepEqual(refused, ["PEDIDO", "PEDIDO", "PING"], "every request read");
});
