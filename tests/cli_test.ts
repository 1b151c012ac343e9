/**
 * The `client` subcommand as a person runs it, against a real daemon.
 */
import assert from "node:assert/strict";
import { runMain, startInProcess, tempDir } from "./test_util.ts";

Deno.test("client places an order from flags, waits for it, and reads it back", async () => {
  await using dir = await tempDir();
  await using daemon = await startInProcess({ processMs: { min: 50, max: 50 } });
  const port = ["--host", "127.0.0.1", "--port", String(daemon.port)];
  const placed = await runMain(dir.path, [
    "client",
    ...port,
    "--cliente",
    "Ana",
    "--producto",
    "pan",
    "--producto",
    "agua",
    "--direccion",
    "Calle 1",
    "--esperar",
  ]);
  assert.equal(placed.code, 0, placed.stderr);
  assert.match(placed.stdout, /Pedido 1/);
  assert.match(placed.stdout, /listo/);

  const json = await runMain(dir.path, ["client", ...port, "estado", "1", "--json"]);
  assert.equal(json.code, 0);
  const reply = JSON.parse(json.stdout);
  assert.deepEqual(reply.pedido.productos, ["pan", "agua"]);
  assert.equal(reply.pedido.estado, "listo");

  const list = await runMain(dir.path, ["client", ...port, "listar"]);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /Ana/);

  const stats = await runMain(dir.path, ["client", ...port, "stats"]);
  assert.equal(stats.code, 0);
  assert.match(stats.stdout, /1/);

  const task = await runMain(dir.path, ["client", ...port, "task", "sum", "1", "2", "3.5"]);
  assert.equal(task.code, 0);
  assert.match(task.stdout, /6\.5/);

  const ping = await runMain(dir.path, ["client", ...port, "ping"]);
  assert.equal(ping.code, 0);
  assert.match(ping.stdout, /pong/);
});

Deno.test("client reads one JSON order from stdin", async () => {
  await using dir = await tempDir();
  await using daemon = await startInProcess();
  const result = await runMain(
    dir.path,
    ["client", "--host", "::1", "--port", String(daemon.port), "--json"],
    { stdin: '{"cliente":"Eva","productos":[{"nombre":"pan","cantidad":2}],"direccion":"C 2"}\n' },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).ok, true);
});

Deno.test("client exit status: 1 when refused, 2 on bad usage, 3 when it cannot connect", async () => {
  await using dir = await tempDir();
  await using daemon = await startInProcess();
  const port = ["--host", "127.0.0.1", "--port", String(daemon.port)];
  const refused = await runMain(dir.path, ["client", ...port, "estado", "424242"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout + refused.stderr, /not_found|no existe/i);

  const usage = await runMain(dir.path, ["client", ...port, "--nope"]);
  assert.equal(usage.code, 2);

  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const down = await runMain(dir.path, [
    "client",
    "--host",
    "127.0.0.1",
    "--port",
    String(closedPort),
    "ping",
  ]);
  assert.equal(down.code, 3);
  assert.match(down.stderr, new RegExp(String(closedPort)));
});
