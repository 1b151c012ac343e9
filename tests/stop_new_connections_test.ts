/**
 * A stop (SIGINT/SIGTERM, `Server.shutdown()`) while orders drain: a new
 * connection is answered `shutting_down` and closed, not refused by the
 * kernel; the listeners close when the drain ends.
 */
import assert from "node:assert/strict";
import { errorReply } from "../server/protocol/errors.ts";
import { rawConnect, startInProcess, waitUntil, within } from "./test_util.ts";

const ORDER = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };

Deno.test("a stopping daemon answers a new connection with shutting_down and closes it, until the drain ends", async () => {
  await using daemon = await startInProcess({
    workers: 1,
    processMs: { min: 1500, max: 1500 },
    drainTimeoutMs: 10_000,
  });
  const client = await daemon.client();
  const accepted = await client.request(ORDER);
  assert.equal(accepted.ok, true);
  await waitUntil(async () => {
    const reply = await client.request({ op: "STATS" });
    return (reply.stats as { en_proceso: number }).en_proceso === 1;
  }, { what: "the order to run" });
  await using idle = await rawConnect(daemon.port);
  await idle.write('{"op":"PING"}\n');
  assert.equal((await idle.readLine())?.pong, true);

  const stopped = daemon.server.shutdown();
  assert.ok(await idle.closedByPeer(1000), "an idle connection is closed at once");
  for (const hostname of ["127.0.0.1", "::1"]) {
    // Before: ConnectionRefused, the listeners closed as the stop began.
    await using late = await rawConnect(daemon.port, hostname);
    assert.deepEqual(await late.readLine(1000), errorReply("shutting_down"), hostname);
    assert.ok(await late.closedByPeer(1000), `${hostname}: closed after the reply`);
  }

  const summary = await stopped;
  assert.equal(summary.listos, 1, "the running order finished in the drain");
  await assert.rejects(
    () => Deno.connect({ hostname: "127.0.0.1", port: daemon.port }),
    Deno.errors.ConnectionRefused,
    "the listeners are closed once the drain is over",
  );
});

Deno.test("a stopping daemon with nothing to drain closes its listeners promptly", async () => {
  await using daemon = await startInProcess();
  const started = performance.now();
  await daemon.server.shutdown();
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  await assert.rejects(
    () => Deno.connect({ hostname: "127.0.0.1", port: daemon.port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("a stopping daemon answers shutting_down to a request pipelined behind a wait, and stores nothing for it", async () => {
  await using daemon = await startInProcess({
    workers: 1,
    processMs: { min: 1000, max: 1000 },
    drainTimeoutMs: 10_000,
  });
  const client = await daemon.client();
  const { id } = await client.request(ORDER);
  await using conn = await rawConnect(daemon.port);
  // The PEDIDO waits behind the ESTADO esperar (§8) when the stop begins.
  await conn.write(
    `{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":20000}\n` +
      `${JSON.stringify(ORDER)}\n{"op":"PING"}\n`,
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  const stopped = daemon.server.shutdown();
  const waited = await conn.readLine(15_000);
  assert.equal(
    (waited?.pedido as Record<string, unknown>).estado,
    "listo",
    "the drain ends the wait",
  );
  assert.deepEqual(await conn.readLine(), errorReply("shutting_down"), "the PEDIDO held back");
  assert.ok(await conn.closedByPeer(1000), "closed after that reply, as any shutting_down");
  const summary = await stopped;
  assert.equal(summary.aceptados, 1, "only the order taken before the stop");
  assert.equal(summary.pendientes, 0);
});

Deno.test("a stopping daemon answers shutting_down to a request sent as its last reply arrived, rather than closing on it", async () => {
  await using daemon = await startInProcess({
    workers: 1,
    processMs: { min: 300, max: 300 },
    drainTimeoutMs: 10_000,
  });
  const client = await daemon.client();
  const { id } = await client.request(ORDER);
  await using conn = await rawConnect(daemon.port);
  await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":20000}\n`);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const stopped = daemon.server.shutdown();
  const waited = await conn.readLine(15_000);
  assert.equal((waited?.pedido as Record<string, unknown>).estado, "listo");
  // A client that sends its next request as soon as it has its reply, as any one-at-a-time client.
  await conn.write(`${JSON.stringify(ORDER)}\n`);
  assert.deepEqual(
    await conn.readLine(),
    errorReply("shutting_down"),
    "told why, not left without a reply",
  );
  assert.ok(await conn.closedByPeer(1000), "closed after that reply");
  const summary = await stopped;
  assert.equal(summary.aceptados, 1, "the order sent during the stop was not taken");
});

Deno.test("a stopping daemon answers shutting_down to a request it had partly received, and closes it when the drain ends if it never ends", async () => {
  await using daemon = await startInProcess({
    workers: 1,
    processMs: { min: 800, max: 800 },
    drainTimeoutMs: 10_000,
  });
  const client = await daemon.client();
  assert.equal((await client.request(ORDER)).ok, true);
  await waitUntil(async () => {
    const reply = await client.request({ op: "STATS" });
    return (reply.stats as { en_proceso: number }).en_proceso === 1;
  }, { what: "the order to run" });
  // A pretty-printed order being pasted, and a line still being typed, as the stop begins.
  await using pasting = await rawConnect(daemon.port);
  await pasting.write('{\n  "cliente": "Eva",\n');
  await using typing = await rawConnect(daemon.port);
  await typing.write('{"op":"PI');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const stopped = daemon.server.shutdown();
  await new Promise((resolve) => setTimeout(resolve, 200));
  await pasting.write('  "productos": ["pan"],\n  "direccion": "Calle 2"\n}\n');
  assert.deepEqual(
    await pasting.readLine(1000),
    errorReply("shutting_down"),
    "told why, not cut off mid-paste",
  );
  assert.ok(await pasting.closedByPeer(1000), "closed after that reply");
  // Never finished: closed when the drain is over, not kept open past it.
  const summary = await within(stopped, 5000, "the stop");
  assert.ok(await typing.closedByPeer(1000), "closed at the end of the drain");
  assert.equal(summary.listos, 1);
  assert.equal(summary.aceptados, 1, "the order pasted during the stop was not taken");
});

Deno.test("a stopping daemon ends a pipelining connection with shutting_down, not a silent close", async () => {
  await using daemon = await startInProcess({
    workers: 2,
    maxPedidos: 10_000,
    processMs: { min: 200, max: 200 },
    drainTimeoutMs: 10_000,
  });
  await using conn = await rawConnect(daemon.port);
  const order = `${JSON.stringify(ORDER)}\n`;
  await conn.write(order.repeat(8)); // 8 in flight, one more sent for each reply
  let stopped: ReturnType<typeof daemon.server.shutdown> | null = null;
  const replies: string[] = [];
  for (;;) {
    const reply = await conn.readLine(15_000);
    if (reply === null) break;
    replies.push(reply.ok === true ? "ok" : String(reply.error));
    if (replies.length === 40) stopped = daemon.server.shutdown();
    if (reply.ok === true) await conn.write(order).catch(() => {});
  }
  await stopped;
  assert.ok(replies.length > 40, "the stop came while it was sending");
  assert.equal(replies.at(-1), "shutting_down", `the last reply says why: ${replies.slice(-5)}`);
  assert.ok(replies.slice(0, -1).every((r) => r === "ok"), "every reply before it, ok");
});

Deno.test("a stopping daemon answers shutting_down, not busy, to a connection waiting for a place over --max-connections", async () => {
  // The grace is long, so the extra connection is still waiting for a place when the stop begins.
  await using daemon = await startInProcess({ maxConnections: 1 }, { busyGraceMs: 30_000 });
  await using held = await rawConnect(daemon.port);
  await held.write('{"op":"PING"}\n');
  assert.equal((await held.readLine())?.pong, true);
  await using extra = await rawConnect(daemon.port);
  await new Promise((resolve) => setTimeout(resolve, 200)); // accepted, waiting for a place
  const stopped = daemon.server.shutdown();
  assert.deepEqual(await extra.readLine(1000), errorReply("shutting_down"));
  assert.ok(await extra.closedByPeer(1000), "closed after the reply");
  await stopped;
});
