/**
 * Stopping the web gateway while a client holds a request open: a POST
 * whose body never ends (Content-Length 100, 3 bytes sent) kept `Deno.serve`
 * and so the gateway from ever stopping, a second SIGTERM too. Now a stop
 * waits for open requests only its grace (5 s), and a second SIGTERM ends
 * the wait at once.
 */
import assert from "node:assert/strict";
import { DEFAULT_GRACE_MS, LastingHttpServer } from "../server/lasting_http_server.ts";
import { ROOT, taskPermissions, within } from "./test_util.ts";
import { testWith } from "./permissions.ts";

const encoder = new TextEncoder();

/**
 * Connects to `port` and sends a form POST's head and 3 bytes of its 100:
 * the body never ends. Resolves once the server reads that body (it
 * answers `Expect: 100-continue` then).
 */
async function holdBody(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    "POST /login HTTP/1.1\r\nHost: x\r\nOrigin: http://x\r\n" +
      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n" +
      "Expect: 100-continue\r\n\r\n",
  ));
  const buffer = new Uint8Array(256);
  const n = await within(conn.read(buffer), 10_000, "100 Continue");
  assert.match(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), /^HTTP\/1\.1 100 Continue/);
  await conn.write(encoder.encode("usu"));
  return conn;
}

/** A LastingHttpServer whose handler reads the whole body; what it abandoned on close. */
function bodyServer(graceMs?: number) {
  const abandoned: number[] = [];
  const server = LastingHttpServer.start({
    hostname: "127.0.0.1",
    port: 0,
    handler: async (request) => new Response(await request.text().catch(() => "")),
    onAcceptFailed: () => {},
    onAbandon: (waitedMs) => abandoned.push(waitedMs),
    ...(graceMs === undefined ? {} : { graceMs }),
  });
  return { server, abandoned };
}

Deno.test("LastingHttpServer.close() waits for a request body that never ends only its grace, then abandons it", async () => {
  const { server, abandoned } = bodyServer(200);
  const { port } = server.addr;
  const conn = await holdBody(port);
  try {
    await within(server.close(), 5000, "close() with a body that never ends");
    assert.equal(abandoned.length, 1, "it says it gave up");
    assert.ok(abandoned[0]! >= 150, `it waited its grace first (${abandoned[0]} ms)`);
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }), "no longer listening");
  } finally {
    conn.close();
  }
  await within(server.finished, 5000, "the abandoned connection ends when its client leaves");
});

Deno.test("LastingHttpServer.close({ graceMs: 0 }) cuts short a close waiting out a long grace", async () => {
  const { server, abandoned } = bodyServer(60_000);
  const conn = await holdBody(server.addr.port);
  try {
    const first = server.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(abandoned, [], "still within its minute");
    await within(server.close({ graceMs: 0 }), 2000, "close({ graceMs: 0 })");
    await within(first, 2000, "the first close()");
    assert.equal(abandoned.length, 1);
  } finally {
    conn.close();
  }
  await within(server.finished, 5000, "finished");
});

/** Starts `pedidos web` (no daemon: the sign-in form needs none) and reads its port. */
async function startGateway() {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...taskPermissions("web"),
      `${ROOT}main.ts`,
      "web",
      "--host",
      "127.0.0.1",
      "--port",
      "1",
      "--web-host",
      "127.0.0.1",
      "--web-port",
      "0",
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let ready: RegExpExecArray | null = null;
  while ((ready = /web listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)) === null) {
    const { done, value } = await within(lines.read(), 15_000, "the ready line");
    if (done) break;
    out += value;
  }
  const rest = (async () => {
    while (!(await lines.read()).done) { /* drained */ }
  })();
  return { child, port: Number(ready?.[1]), stderr, rest, out };
}

/** Resolves once nothing listens on `port` any more (the gateway took its stop). */
async function notListening(port: number): Promise<void> {
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

testWith("read", "run", "env")(
  "pedidos web stops with a client holding a POST body open: after its grace, or at once on a second SIGTERM",
  async () => {
    const graced = await startGateway();
    const forced = await startGateway();
    const held: Deno.TcpConn[] = [];
    try {
      assert.ok(graced.port > 0 && forced.port > 0, `${graced.out}${forced.out}`);
      held.push(await holdBody(graced.port), await holdBody(forced.port));
      graced.child.kill("SIGTERM");
      forced.child.kill("SIGTERM");
      await within(notListening(forced.port), 5000, "the first SIGTERM taken");
      forced.child.kill("SIGTERM");
      const [gracedStatus, forcedStatus] = await within(
        Promise.all([graced.child.status, forced.child.status]),
        15_000,
        "both gateways stopped",
      );
      const gracedErr = await graced.stderr;
      const forcedErr = await forced.stderr;
      assert.equal(gracedStatus.code, 0, gracedErr);
      assert.equal(forcedStatus.code, 0, forcedErr);
      const waited = (err: string) =>
        Number(/WARN web\.stop_abandoned_requests waited_ms=(\d+)/.exec(err)?.[1]);
      assert.ok(waited(gracedErr) >= DEFAULT_GRACE_MS - 100, gracedErr);
      assert.ok(waited(forcedErr) < DEFAULT_GRACE_MS - 1000, forcedErr);
    } finally {
      for (const conn of held) conn.close();
      for (const { child } of [graced, forced]) {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited
        }
      }
      // Awaited also when the test failed: the next test must not see them end.
      await Promise.all([graced, forced].map(async (g) => {
        await g.child.status;
        await g.stderr;
        await g.rest;
      }));
    }
  },
);
