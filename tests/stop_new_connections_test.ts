/**
 * A stop (SIGINT/SIGTERM, `Server.shutdown()`) while orders drain: a new
 * connection is answered `shutting_down` and closed, not refused by the
 * kernel; the listeners close when the drain ends.
 */
import assert from "node:assert/strict";
import { errorReply } from "../server/protocol/errors.ts";
import { rawConnect, startInProcess, waitUntil } from "./test_util.ts";

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
