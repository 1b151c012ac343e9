/**
 * The limits of docs/protocol.md §1: idle time, connection count, and a peer
 * that never reads its replies.
 */
import assert from "node:assert/strict";
import { rawConnect, startInProcess, waitUntil } from "./test_util.ts";

Deno.test("an idle connection is closed after --idle-timeout-ms", async () => {
  await using daemon = await startInProcess({ idleTimeoutMs: 200 });
  await using conn = await rawConnect(daemon.port);
  await conn.write('{"op":"PING"}\n');
  assert.equal((await conn.readLine())?.pong, true);
  const started = Date.now();
  assert.equal(await conn.closedByPeer(10_000), true, "closed by the daemon");
  assert.ok(Date.now() - started >= 150, "not before the timeout");
});

Deno.test("a slowloris peer that never ends a line is cut by the idle timeout", async () => {
  await using daemon = await startInProcess({ idleTimeoutMs: 300 });
  await using conn = await rawConnect(daemon.port);
  const cut = conn.closedByPeer(10_000);
  for (let i = 0; i < 12; i++) {
    try {
      await conn.write("{");
    } catch {
      break; // already cut
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(await cut, true);
});

Deno.test("a request typed line by line, slower than the idle timeout in all, is answered", async () => {
  await using daemon = await startInProcess({ idleTimeoutMs: 400 });
  await using conn = await rawConnect(daemon.port);
  // 4 lines 250 ms apart: 750 ms from the first to the last, each within the timeout.
  for (const line of ["{\n", ' "op":\n', ' "PING"\n', "}\n"]) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    await conn.write(line);
  }
  assert.equal((await conn.readLine())?.pong, true);
});

Deno.test("whitespace lines between requests do not keep a connection alive", async () => {
  await using daemon = await startInProcess({ idleTimeoutMs: 300 });
  await using conn = await rawConnect(daemon.port);
  const cut = conn.closedByPeer(10_000);
  for (let i = 0; i < 12; i++) {
    try {
      await conn.write(" \r\n");
    } catch {
      break; // already cut
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(await cut, true);
});

Deno.test("a connection waiting on esperar is not idle", async () => {
  await using daemon = await startInProcess({
    idleTimeoutMs: 100,
    workers: 1,
    processMs: { min: 500, max: 500 },
  });
  await using conn = await rawConnect(daemon.port);
  await conn.write('{"cliente":"Ana","productos":["pan"],"direccion":"C 1"}\n');
  const id = (await conn.readLine())?.id;
  await conn.write(`{"op":"ESTADO","id":${id},"esperar":true}\n`);
  const reply = await conn.readLine(10_000);
  assert.equal((reply?.pedido as Record<string, unknown>).estado, "listo");
});

Deno.test("connections over --max-connections get busy and are closed; the others keep working", async () => {
  await using daemon = await startInProcess({ maxConnections: 3 });
  const open = [];
  for (let i = 0; i < 3; i++) open.push(await rawConnect(daemon.port));
  try {
    for (let i = 0; i < 3; i++) {
      await using extra = await rawConnect(daemon.port);
      const reply = await extra.readLine();
      assert.equal(reply?.error, "busy");
      assert.equal(await extra.readLine(), null, "closed after busy");
    }
    for (const conn of open) {
      await conn.write('{"op":"PING"}\n');
      assert.equal((await conn.readLine())?.pong, true);
    }
    open.pop()!.close();
    await waitUntil(() => daemon.server.connections === 2);
    await using again = await rawConnect(daemon.port);
    await again.write('{"op":"PING"}\n');
    assert.equal((await again.readLine())?.pong, true, "a freed place can be taken");
  } finally {
    for (const conn of open) conn.close();
  }
});

Deno.test("a client that closes a connection and opens another at once, at --max-connections, gets the place it freed, not busy", async () => {
  await using daemon = await startInProcess({ maxConnections: 2 });
  await using held = await rawConnect(daemon.port);
  const replies: unknown[] = [];
  for (let i = 0; i < 10; i++) {
    const first = await rawConnect(daemon.port);
    await first.write('{"op":"PING"}\n');
    assert.equal((await first.readLine())?.pong, true);
    first.close();
    await using next = await rawConnect(daemon.port);
    await next.write('{"op":"PING"}\n');
    const reply = await next.readLine();
    replies.push(reply?.pong ?? reply?.error);
    next.close();
    await waitUntil(() => daemon.server.connections === 1);
  }
  assert.deepEqual(replies, Array(10).fill(true));
  // Over the limit for good, a connection still gets busy.
  await using second = await rawConnect(daemon.port);
  await second.write('{"op":"PING"}\n');
  assert.equal((await second.readLine())?.pong, true);
  await using extra = await rawConnect(daemon.port);
  assert.equal((await extra.readLine())?.error, "busy");
  assert.equal(await extra.readLine(), null, "closed after busy");
  held.close();
});

Deno.test("a client over --max-connections that sends its request at once still reads busy, not a reset", async () => {
  await using daemon = await startInProcess({ maxConnections: 1 });
  await using held = await rawConnect(daemon.port);
  await held.write('{"op":"PING"}\n');
  assert.equal((await held.readLine())?.pong, true);
  const replies: string[] = [];
  for (let i = 0; i < 20; i++) {
    await using extra = await rawConnect(daemon.port);
    // As a client does: it writes as soon as it is connected, and reads later.
    await extra.write('{"op":"STATS"}\n'.repeat(50));
    await new Promise((resolve) => setTimeout(resolve, 30));
    let reply;
    try {
      reply = await extra.readLine();
    } catch (error) {
      reply = { error: String(error) };
    }
    replies.push(String(reply?.error));
  }
  assert.deepEqual(replies, Array(20).fill("busy"));
});

Deno.test("a peer that sends without reading cannot grow the daemon's buffers", async () => {
  await using daemon = await startInProcess();
  await using conn = await rawConnect(daemon.port);
  const ping = '{"op":"PING"}\n';
  const burst = new TextEncoder().encode(ping.repeat(20_000)); // ≈ 280 KB of requests → ≈ 460 KB of replies
  const bursts = 100; // ≈ 28 MB: far more than the kernel's buffers on both sides hold
  let written = 0;
  let peak = 0;
  const writing = (async () => {
    for (let i = 0; i < bursts; i++) {
      await conn.write(burst);
      written += burst.length;
    }
  })().catch(() => {});
  // The daemon stops reading once its unsent replies reach the cap, so our
  // writes stall in the kernel buffers instead of piling up in the daemon.
  // Wait until the writer has made no progress for a second (or gave up).
  let last = -1;
  let still = 0;
  for (const deadline = Date.now() + 30_000; still < 50 && Date.now() < deadline;) {
    peak = Math.max(peak, daemon.server.bufferedBytes);
    still = written === last ? still + 1 : 0;
    last = written;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(written < bursts * burst.length, `the writer was held back after ${written} bytes`);
  assert.ok(peak <= 512 * 1024, `buffered reply bytes stayed bounded: ${peak}`);
  conn.close();
  await writing;
  await waitUntil(() => daemon.server.connections === 0);
});
