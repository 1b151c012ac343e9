import assert from "node:assert/strict";
import { ClientError, formatAddress, isRetriable, PedidosClient } from "./client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a fake server does with one request line: the reply lines to write, and whether to close after. */
type Handler = (line: string, index: number) => { replies: string[]; close?: boolean };

interface FakeServer extends AsyncDisposable {
  port: number;
  /** Every request line received, over all connections. */
  lines: string[];
}

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** An NDJSON server on loopback, port 0; closing after a reply half-closes and drains, so the reply is not lost to a reset. */
function fakeServer(handler: Handler, hostname = "127.0.0.1"): FakeServer {
  const listener = Deno.listen({ hostname, port: 0 });
  const lines: string[] = [];
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();

  async function serve(conn: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    let pending = "";
    let closing = false;
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        if (closing) continue; // drain until the client closes
        pending += decoder.decode(buffer.subarray(0, n), { stream: true });
        let newline;
        while (!closing && (newline = pending.indexOf("\n")) !== -1) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          lines.push(line);
          const { replies, close = false } = handler(line, lines.length - 1);
          for (const reply of replies) await writeAll(conn, reply);
          if (close) {
            closing = true;
            await conn.closeWrite();
          }
        }
      }
    } catch {
      // the test closed the connection
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  }

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        const task = serve(conn);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch {
      // listener closed
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    lines,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await Promise.all(tasks);
    },
  };
}

/** Replies `{"ok":true,"echo":REQUEST}` to every line. */
const echo: Handler = (line) => ({
  replies: [`${JSON.stringify({ ok: true, echo: JSON.parse(line) })}\n`],
});

function freePort(hostname = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("PedidosClient.request() matches 100 pipelined requests to their replies in order", async () => {
  await using server = fakeServer(echo);
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const replies = Array.from({ length: 100 }, (_, i) => client.request({ op: "PING", i }));
  assert.equal(client.pending, 100);
  const results = await Promise.all(replies);
  results.forEach((reply, i) => assert.deepEqual(reply, { ok: true, echo: { op: "PING", i } }));
  assert.equal(client.pending, 0);
  assert.deepEqual(server.lines.map((line) => JSON.parse(line).i), [...Array(100).keys()]);
});

Deno.test("PedidosClient works over IPv6 loopback", async () => {
  await using server = fakeServer(echo, "::1");
  await using client = await PedidosClient.connect({ hostname: "::1", port: server.port });
  assert.deepEqual(await client.request({ op: "PING" }), { ok: true, echo: { op: "PING" } });
});

Deno.test("PedidosClient delivers a reply sent before the server closes and rejects the rest", async () => {
  await using server = fakeServer(() => ({
    replies: ['{"ok":false,"error":"too_large","mensaje":"❌ Solicitud demasiado grande."}\n'],
    close: true,
  }));
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const [first, second, third] = await Promise.allSettled([
    client.request({ n: 1 }),
    client.request({ n: 2 }),
    client.request({ n: 3 }),
  ]);
  assert.deepEqual(first, {
    status: "fulfilled",
    value: { ok: false, error: "too_large", mensaje: "❌ Solicitud demasiado grande." },
  });
  for (const result of [second, third]) {
    assert.equal(result?.status, "rejected");
    const { reason } = result as PromiseRejectedResult;
    assert.ok(reason instanceof ClientError);
    assert.equal(reason.code, "connection_closed");
  }
  assert.equal(client.pending, 0);
  await assert.rejects(client.request({ n: 4 }), {
    name: "ClientError",
    code: "connection_closed",
  });
});

Deno.test("PedidosClient.connect() to a closed port fails with connect_failed", async () => {
  const port = freePort();
  await assert.rejects(
    PedidosClient.connect({ hostname: "127.0.0.1", port }),
    (error) =>
      error instanceof ClientError && error.code === "connect_failed" &&
      error.message.includes(`127.0.0.1:${port}`),
  );
});

Deno.test("PedidosClient.connect() rejects with the signal's reason when aborted", async () => {
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  await assert.rejects(PedidosClient.connect({ port: 1, signal: controller.signal }), /stop/);
});

Deno.test("PedidosClient.close() is idempotent and rejects pending requests", async () => {
  await using server = fakeServer(() => ({ replies: [] })); // never replies
  const client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const waiting = client.request({ op: "PING" });
  const rejected = assert.rejects(waiting, { name: "ClientError", code: "connection_closed" });
  await Promise.all([client.close(), client.close()]);
  await client.close();
  await client[Symbol.asyncDispose]();
  await rejected;
  assert.equal(client.pending, 0);
  await assert.rejects(client.request({ op: "PING" }), { code: "connection_closed" });
});

Deno.test("PedidosClient.connectAny() skips a dead host", async () => {
  await using server = fakeServer(echo, "127.0.0.1");
  // nothing listens on [::1] at this port
  await using client = await PedidosClient.connectAny(["::1", "127.0.0.1"], server.port);
  assert.deepEqual(await client.request({ op: "PING" }), { ok: true, echo: { op: "PING" } });
});

Deno.test("PedidosClient.connectAny() names every address when none connects", async () => {
  const port = freePort();
  await assert.rejects(
    PedidosClient.connectAny(["127.0.0.1", "::1"], port),
    (error) =>
      error instanceof ClientError && error.code === "connect_failed" &&
      error.message.includes(`127.0.0.1:${port}`) && error.message.includes(`[::1]:${port}`),
  );
});

Deno.test("PedidosClient.exchange() keeps the raw reply line and sendRaw() adds the newline", async () => {
  await using server = fakeServer(() => ({ replies: ['{"ok": true,  "pong": true}\r\n'] }));
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  assert.deepEqual(await client.exchange('{"op":"PING"}'), {
    reply: { ok: true, pong: true },
    raw: '{"ok": true,  "pong": true}',
  });
  assert.deepEqual(await client.sendRaw('{ "op": "PING" }'), { ok: true, pong: true });
  assert.deepEqual(server.lines, ['{"op":"PING"}', '{ "op": "PING" }']);
});

Deno.test("PedidosClient.request() rejects a reply that is not a JSON object with ok and goes on", async () => {
  await using server = fakeServer((_, i) => ({
    replies: [i === 0 ? "hello\n" : '{"ok":true}\n'],
  }));
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const bad = client.request({ n: 0 });
  const good = client.request({ n: 1 });
  await assert.rejects(bad, { name: "ClientError", code: "protocol" });
  assert.deepEqual(await good, { ok: true });
});

Deno.test("PedidosClient.request() with an aborted signal drops its reply and keeps the order", async () => {
  await using server = fakeServer(echo);
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const controller = new AbortController();
  const abandoned = client.request({ n: 1 }, { signal: controller.signal });
  controller.abort(new Error("gave up"));
  await assert.rejects(abandoned, /gave up/);
  assert.deepEqual(await client.request({ n: 2 }), { ok: true, echo: { n: 2 } });
  await assert.rejects(client.request({ n: 3 }, { signal: controller.signal }), /gave up/);
});

Deno.test("PedidosClient splits replies that arrive in pieces or together", async () => {
  const big = "x".repeat(200_000);
  await using server = fakeServer((_, i) => ({
    replies: i === 0 ? [`{"ok":true,"big":"${big}"}\n{"ok":true,"n":2}\n`] : [],
  }));
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const [first, second] = await Promise.all([client.request({}), client.request({})]);
  assert.equal(first.big, big);
  assert.deepEqual(second, { ok: true, n: 2 });
});

Deno.test("isRetriable() is true for connection failures and capacity replies", () => {
  assert.equal(isRetriable(new ClientError("connection_closed", "x")), true);
  assert.equal(isRetriable(new ClientError("protocol", "x")), false);
  assert.equal(isRetriable({ ok: false, error: "queue_full" }), true);
  assert.equal(isRetriable({ ok: false, error: "invalid_order" }), false);
  assert.equal(isRetriable({ ok: true }), false);
  assert.equal(formatAddress("::1", 1), "[::1]:1");
});
