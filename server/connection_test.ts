import assert from "node:assert/strict";
import { Connection, type Socket } from "./connection.ts";
import type { Dispatcher } from "./dispatch.ts";
import { Logger } from "./log.ts";
import { parseRequest } from "./protocol/parse_request.ts";
import type { Request } from "./protocol/messages.ts";
import type { Reply } from "./protocol/replies.ts";

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
  const pending: { op: string; resolve: (reply: Reply) => void }[] = [];
  const dispatcher: Pick<Dispatcher, "parse" | "run"> = {
    parse: (text) => parseRequest(text),
    run(request: Request) {
      started.push(request.op);
      const { promise, resolve } = Promise.withResolvers<Reply>();
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
  const input = `${ORDER}\n${ORDER}\n${ORDER}\n{"op":"STATS"}\n{"op":"PING"}\n${ORDER}\n`;
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
  assert.deepEqual(started, ["PEDIDO", "PEDIDO", "PEDIDO", "STATS", "PING"], "reads overlap reads");
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
  const input = '{"op":"ESTADO","id":1}\n{"op":"LISTAR"}\n{"op":"STATS"}\n';
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
      assert.deepEqual(started, ["ESTADO", "LISTAR", "STATS"], "together by default");
    } else {
      for (const expected of [["ESTADO"], ["ESTADO", "LISTAR"], ["ESTADO", "LISTAR", "STATS"]]) {
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
