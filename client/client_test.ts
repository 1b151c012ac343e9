import assert from "node:assert/strict";
import { ClientError, formatAddress, isRetriable, PedidosClient } from "./client.ts";
import { fakeLineServer, type Script } from "./testing/fake_line_server.ts";
import { unusedPort } from "./testing/unused_port.ts";
import { SAMPLE_PEDIDO } from "./testing/cli_harness.ts";

/**
 * Replies `{"ok":true,"echo":REQUEST}` to every line. The requests are of
 * an operation the client does not know (`ECO`), whose reply it checks for
 * no field: these tests are about lines, not replies.
 */
const echo: Script = (line) => JSON.stringify({ ok: true, echo: JSON.parse(line) });

Deno.test("PedidosClient.request() matches 100 pipelined requests to their replies in order", async () => {
  await using server = fakeLineServer(echo);
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const replies = Array.from({ length: 100 }, (_, i) => client.request({ op: "ECO", i }));
  assert.equal(client.pending, 100);
  const results = await Promise.all(replies);
  results.forEach((reply, i) => assert.deepEqual(reply, { ok: true, echo: { op: "ECO", i } }));
  assert.equal(client.pending, 0);
  assert.deepEqual(server.lines.map((line) => JSON.parse(line).i), [...Array(100).keys()]);
});

Deno.test("PedidosClient works over IPv6 loopback", async () => {
  await using server = fakeLineServer(echo, { hostname: "::1" });
  await using client = await PedidosClient.connect({ hostname: "::1", port: server.port });
  assert.deepEqual(await client.request({ op: "ECO" }), { ok: true, echo: { op: "ECO" } });
});

Deno.test("PedidosClient delivers a reply sent before the server closes and rejects the rest", async () => {
  await using server = fakeLineServer(() => ({
    reply: '{"ok":false,"error":"too_large","mensaje":"❌ Solicitud demasiado grande."}',
    close: true,
  }));
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const [first, second, third] = await Promise.allSettled([
    client.request({ op: "ECO", n: 1 }),
    client.request({ op: "ECO", n: 2 }),
    client.request({ op: "ECO", n: 3 }),
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

Deno.test("PedidosClient answers the next request with a refusal the daemon sent as it accepted (busy, shutting_down), once", async () => {
  for (const error of ["busy", "shutting_down"]) {
    const line = `{"ok":false,"error":"${error}","mensaje":"❌ No."}`;
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const serving = (async () => {
      const conn = await listener.accept();
      await conn.write(new TextEncoder().encode(`${line}\n`));
      conn.close();
    })();
    try {
      const client = await PedidosClient.connect({
        hostname: "127.0.0.1",
        port: (listener.addr as Deno.NetAddr).port,
      });
      await serving;
      // The refusal and the close have arrived before anything was asked.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const { reply, raw } = await client.exchange('{"op":"PING"}');
      assert.deepEqual([reply.ok, raw], [false, line], error);
      await assert.rejects(
        client.request({ op: "PING" }),
        (e) => e instanceof ClientError && e.code === "connection_closed",
        "the connection is closed after it",
      );
      await client.close();
    } finally {
      listener.close();
    }
  }
});

Deno.test("PedidosClient still takes any other line sent before a request as a protocol error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.write(new TextEncoder().encode('{"ok":true,"pong":true}\n'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    conn.close();
  })();
  try {
    const client = await PedidosClient.connect({
      hostname: "127.0.0.1",
      port: (listener.addr as Deno.NetAddr).port,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(
      client.request({ op: "PING" }),
      (e) => e instanceof ClientError && e.code === "protocol",
    );
    await client.close();
  } finally {
    await serving;
    listener.close();
  }
});

Deno.test("PedidosClient.connect() to a closed port fails with connect_failed", async () => {
  const port = unusedPort();
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
  await using server = fakeLineServer(() => null); // never replies
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
  await using server = fakeLineServer(echo, { hostname: "127.0.0.1" });
  // nothing listens on [::1] at this port
  await using client = await PedidosClient.connectAny(["::1", "127.0.0.1"], server.port);
  assert.deepEqual(await client.request({ op: "ECO" }), { ok: true, echo: { op: "ECO" } });
});

Deno.test("PedidosClient.connectAny() names every address when none connects", async () => {
  const port = unusedPort();
  await assert.rejects(
    PedidosClient.connectAny(["127.0.0.1", "::1"], port),
    (error) =>
      error instanceof ClientError && error.code === "connect_failed" &&
      error.message.includes(`127.0.0.1:${port}`) && error.message.includes(`[::1]:${port}`),
  );
});

Deno.test("PedidosClient.exchange() keeps the raw reply line and adds the newline", async () => {
  await using server = fakeLineServer(() => '{"ok": true,  "pong": true}\r\n');
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  assert.deepEqual(await client.exchange('{"op":"PING"}'), {
    reply: { ok: true, pong: true },
    raw: '{"ok": true,  "pong": true}',
  });
  assert.deepEqual((await client.exchange('{ "op": "PING" }')).reply, { ok: true, pong: true });
  assert.deepEqual(server.lines, ['{"op":"PING"}', '{ "op": "PING" }']);
});

Deno.test("PedidosClient.request() rejects a reply that is not a JSON object with ok and goes on", async () => {
  await using server = fakeLineServer((_, { index }) => index === 0 ? "hello" : '{"ok":true}');
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const bad = client.request({ op: "ECO", n: 0 });
  const good = client.request({ op: "ECO", n: 1 });
  await assert.rejects(bad, { name: "ClientError", code: "protocol" });
  assert.deepEqual(await good, { ok: true });
});

Deno.test("PedidosClient.request() with an aborted signal drops its reply and keeps the order", async () => {
  await using server = fakeLineServer(echo);
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const controller = new AbortController();
  const abandoned = client.request({ op: "ECO", n: 1 }, { signal: controller.signal });
  controller.abort(new Error("gave up"));
  await assert.rejects(abandoned, /gave up/);
  assert.deepEqual(await client.request({ op: "ECO", n: 2 }), {
    ok: true,
    echo: { op: "ECO", n: 2 },
  });
  await assert.rejects(
    client.request({ op: "ECO", n: 3 }, { signal: controller.signal }),
    /gave up/,
  );
});

Deno.test("PedidosClient splits replies that arrive in pieces or together", async () => {
  const big = "x".repeat(200_000);
  await using server = fakeLineServer((_, { index }) =>
    index === 0 ? `{"ok":true,"big":"${big}"}\n{"ok":true,"n":2}\n` : null
  );
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const [first, second] = await Promise.all([
    client.request({ op: "ECO" }),
    client.request({ op: "ECO" }),
  ]);
  assert.equal(first.big, big);
  assert.deepEqual(second, { ok: true, n: 2 });
});

Deno.test("PedidosClient.call() sends the envelope and resolves with the operation's reply", async () => {
  await using server = fakeLineServer((line) =>
    JSON.parse(line).id === 7
      ? JSON.stringify({ ok: true, pedido: { ...SAMPLE_PEDIDO, id: 7, estado: "cancelado" } })
      : '{"ok":false,"error":"not_found","mensaje":"❌ Pedido no encontrado."}'
  );
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  const found = await client.call("ESTADO", { id: 7 });
  assert.equal(found.ok && found.pedido.estado, "cancelado");
  const missing = await client.call("ESTADO", { id: 8 });
  assert.equal(!missing.ok && missing.error, "not_found");
  assert.deepEqual(server.lines, ['{"op":"ESTADO","id":7}', '{"op":"ESTADO","id":8}']);
});

Deno.test("PedidosClient fails with protocol when a reply is longer than maxReplyBytes", async () => {
  await using server = fakeLineServer(() => JSON.stringify({ ok: true, big: "x".repeat(5000) }));
  await using client = await PedidosClient.connect({
    hostname: "127.0.0.1",
    port: server.port,
    maxReplyBytes: 1000,
  });
  await assert.rejects(client.request({ op: "PING" }), {
    name: "ClientError",
    code: "protocol",
    message: "Reply longer than 1000 bytes",
  });
  await assert.rejects(client.request({ op: "PING" }), { code: "protocol" });
});

Deno.test("PedidosClient fails with protocol on a reply nobody asked for", async () => {
  await using server = fakeLineServer(() => '{"ok":true,"pong":true}\n{"ok":true,"pong":true}');
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  assert.deepEqual(await client.request({ op: "PING" }), { ok: true, pong: true });
  await assert.rejects(client.request({ op: "PING" }), {
    code: "protocol",
    message: "Unexpected reply: no request waiting",
  });
});

Deno.test("isRetriable() is true for connection failures and capacity replies", () => {
  assert.equal(isRetriable(new ClientError("connection_closed", "x")), true);
  assert.equal(isRetriable(new ClientError("protocol", "x")), false);
  assert.equal(isRetriable({ ok: false, error: "queue_full" }), true);
  assert.equal(isRetriable({ ok: false, error: "invalid_order" }), false);
  assert.equal(isRetriable({ ok: true }), false);
  assert.equal(formatAddress("::1", 1), "[::1]:1");
});

Deno.test("PedidosClient.request() and call() reject a reply without the fields its operation's answer has", async () => {
  await using server = fakeLineServer((line) =>
    JSON.parse(line).op === "LISTAR" ? '{"ok":true,"pedidos":{}}' : '{"ok":true}'
  );
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
  await assert.rejects(client.call("LISTAR"), { code: "protocol", message: /"pedidos"/ });
  await assert.rejects(client.request({ cliente: "Ana" }), { code: "protocol", message: /"id"/ });
  await assert.rejects(client.request({ op: "PING" }), { code: "protocol", message: /"pong"/ });
  // The connection goes on: the reply was read, only its shape was wrong.
  assert.deepEqual((await client.exchange('{"op":"PING"}')).reply, { ok: true });
});

Deno.test("PedidosClient reads the daemon's too_large to a request of many megabytes, though the daemon closed while it was still sending", async () => {
  // As the daemon does: it reads up to its limit, answers too_large and
  // closes with the rest unread, so the client's sending fails (a reset).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(65_536);
    for (let read = 0; read < 65_536;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      read += n;
    }
    await conn.write(
      new TextEncoder().encode(
        '{"ok":false,"error":"too_large","mensaje":"❌ Solicitud demasiado grande."}\n',
      ),
    );
    conn.close();
  })();
  try {
    await using client = await PedidosClient.connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
    });
    const line = JSON.stringify({ op: "PEDIDO", cliente: "a".repeat(48_000_000) });
    const { reply } = await client.exchange(line);
    assert.equal(reply.ok === false && reply.error, "too_large");
  } finally {
    await served;
    listener.close();
  }
});
