import assert from "node:assert/strict";
import { MetricsServer } from "./metrics_server.ts";

Deno.test("MetricsServer answers 503 while the daemon is starting, then the metrics", async () => {
  let ready = false;
  await using server = MetricsServer.start({
    port: 0,
    render: () => "pedidos_libres 6\n",
    ready: () => ready,
  });
  const url = `http://127.0.0.1:${server.addr.port}/metrics`;
  const starting = await fetch(url);
  assert.equal(starting.status, 503);
  assert.equal(starting.headers.get("retry-after"), "1");
  await starting.body?.cancel();
  ready = true;
  const up = await fetch(url);
  assert.equal(up.status, 200);
  assert.equal(await up.text(), "pedidos_libres 6\n");
});

/** Sends `request` on a new connection and reads until the server closes it. */
async function exchange(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    if (request !== "") await conn.write(new TextEncoder().encode(request));
    return await readToEnd(conn);
  } finally {
    conn.close();
  }
}

async function readToEnd(conn: Deno.Conn): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return text + decoder.decode();
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
}

Deno.test("MetricsServer answers HTTP/1.0, a query string, an absolute target and a bare-LF head, then closes", async () => {
  await using server = MetricsServer.start({ port: 0, render: () => "pedidos_libres 6\n" });
  const { port } = server.addr;
  for (
    const request of [
      "GET /metrics HTTP/1.0\r\n\r\n",
      "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
      `GET http://127.0.0.1:${port}/metrics HTTP/1.1\r\nHost: a\r\n\r\n`,
      "GET /metrics HTTP/1.1\nHost: a\n\n",
    ]
  ) {
    const reply = await exchange(port, request);
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/, request);
    assert.match(reply, /\r\nconnection: close\r\n/);
    assert.match(reply, /\r\ncontent-type: text\/plain; version=0\.0\.4; charset=utf-8\r\n/);
    assert.ok(reply.endsWith("\r\n\r\npedidos_libres 6\n"), reply);
  }
  const head = await exchange(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n[^]*content-length: 17\r\n[^]*\r\n\r\n$/);
});

Deno.test("MetricsServer answers junk 400, an endless head 431, other paths 404, other methods 405", async () => {
  await using server = MetricsServer.start({ port: 0, render: () => "pedidos_libres 6\n" });
  const { port } = server.addr;
  assert.match(await exchange(port, "hello\r\n\r\n"), /^HTTP\/1\.1 400 /);
  assert.match(await exchange(port, "GET /metrics HTTP/2\r\n\r\n"), /^HTTP\/1\.1 400 /);
  assert.match(await exchange(port, "\xff\xfe /metrics HTTP/1.1\r\n\r\n"), /^HTTP\/1\.1 400 /);
  const endless = `GET /metrics HTTP/1.1\r\n${"X-A: b\r\n".repeat(2000)}`;
  assert.match(await exchange(port, endless), /^HTTP\/1\.1 431 /);
  for (const path of ["/", "/metrics/", "//metrics", "/metrics/x"]) {
    assert.match(await exchange(port, `GET ${path} HTTP/1.1\r\n\r\n`), /^HTTP\/1\.1 404 /, path);
  }
  const post = await exchange(port, "POST /metrics HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
  assert.match(post, /^HTTP\/1\.1 405 [^]*\r\nallow: GET, HEAD\r\n/);
  // A HEAD on another path: its 404 without a body, which a client would read as the next reply.
  const head = await exchange(port, "HEAD /nope HTTP/1.1\r\n\r\n");
  assert.match(head, /^HTTP\/1\.1 404 [^]*content-length: 10\r\n[^]*\r\n\r\n$/);
});

Deno.test("MetricsServer closes a connection that sends no request within its timeout", async () => {
  await using server = MetricsServer.start({
    port: 0,
    render: () => "pedidos_libres 6\n",
    timeoutMs: 200,
  });
  // Silent, and a head that never ends: both closed without an answer.
  assert.equal(await exchange(server.addr.port, ""), "");
  assert.equal(await exchange(server.addr.port, "GET /metrics HTTP/1.1\r\nHost: a\r\n"), "");
});

Deno.test("MetricsServer: connections that send nothing cannot keep a scrape out; more than maxConnections answering get 503", async () => {
  let answering = Promise.withResolvers<void>();
  let slow = false;
  await using server = MetricsServer.start({
    port: 0,
    render: async () => {
      if (slow) await answering.promise;
      return "pedidos_libres 6\n";
    },
    maxConnections: 2,
  });
  const { port } = server.addr;
  const held = [
    await Deno.connect({ hostname: "127.0.0.1", port }),
    await Deno.connect({ hostname: "127.0.0.1", port }),
  ];
  try {
    // Both places taken by connections that have sent nothing: a scrape takes the oldest's place.
    assert.match(await exchange(port, "GET /metrics HTTP/1.1\r\n\r\n"), /^HTTP\/1\.1 200 /);
    assert.match(
      await readToEnd(held[0]!),
      /^HTTP\/1\.1 503 [^]*\r\nretry-after: 1\r\n/,
      "the oldest silent connection was told 503 and closed",
    );
    await held[1]!.write(new TextEncoder().encode("GET /metrics HTTP/1.1\r\n\r\n"));
    assert.match(await readToEnd(held[1]!), /^HTTP\/1\.1 200 OK\r\n[^]*pedidos_libres 6\n$/);
    // Two scrapes being answered hold both places: a third is refused.
    slow = true;
    const first = exchange(port, "GET /metrics HTTP/1.1\r\n\r\n");
    const second = exchange(port, "GET /metrics HTTP/1.1\r\n\r\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await exchange(port, "GET /metrics HTTP/1.1\r\n\r\n");
    assert.match(refused, /^HTTP\/1\.1 503 [^]*\r\nretry-after: 1\r\n/);
    slow = false;
    answering.resolve();
    answering = Promise.withResolvers<void>();
    assert.match(await first, /^HTTP\/1\.1 200 /);
    assert.match(await second, /^HTTP\/1\.1 200 /);
  } finally {
    for (const conn of held) conn.close();
  }
});

Deno.test("MetricsServer: a scraper whose place is taken before its request is read gets 503, not a connection closed unanswered", async () => {
  await using server = MetricsServer.start({
    port: 0,
    render: () => "pedidos_libres 6\n",
    maxConnections: 2,
  });
  const { port } = server.addr;
  // Three scrapers connect at once (a burst is accepted faster than their
  // requests are read); the third takes the first one's place.
  const conns = [];
  for (let i = 0; i < 3; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  try {
    assert.match(await readToEnd(conns[0]!), /^HTTP\/1\.1 503 [^]*\r\nretry-after: 1\r\n/);
    for (const conn of conns.slice(1)) {
      await conn.write(new TextEncoder().encode("GET /metrics HTTP/1.1\r\n\r\n"));
      assert.match(await readToEnd(conn), /^HTTP\/1\.1 200 OK\r\n[^]*pedidos_libres 6\n$/);
    }
  } finally {
    for (const conn of conns) conn.close();
  }
});
