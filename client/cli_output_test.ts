/**
 * `runClient()` against a scripted server: what people see for each reply.
 */
import assert from "node:assert/strict";
import { runClientAt as run, SAMPLE_PEDIDO as PEDIDO } from "./testing/cli_harness.ts";
import { fakeLineServer } from "./testing/fake_line_server.ts";

Deno.test("runClient() listar prints a table with the ids", async () => {
  const pedidos = [
    { ...PEDIDO, id: 1007, cliente: "Carla" },
    { ...PEDIDO, id: 8, estado: "en proceso", fecha_fin: null, duracion_ms: null },
  ];
  await using daemon = fakeLineServer(() => JSON.stringify({ ok: true, pedidos }));
  const { status, stdout } = await run(daemon.port, [
    "listar",
    "--estado",
    "en_proceso",
    "--limit",
    "5",
    "--antes-de",
    "2000",
  ]);
  assert.equal(status, 0);
  assert.deepEqual(JSON.parse(daemon.lines[0] ?? ""), {
    op: "LISTAR",
    estado: "en proceso",
    limit: 5,
    antes_de: 2000,
  });
  const rows = stdout.trimEnd().split("\n");
  assert.match(
    rows[0] ?? "",
    /^\s*ID\s+ESTADO\s+CLIENTE\s+PRODUCTOS\s+RECIBIDO\s+DURACIÓN\s+RESULTADO$/,
  );
  assert.match(
    rows[1] ?? "",
    /^1007\s+listo\s+Carla\s+pan, agua ×2\s+2026-11-23T13:16:00\.123Z\s+1\.98 s\s+—$/,
  );
  assert.match(rows[2] ?? "", /^\s+8\s+en proceso\s+Ana\s+/);
  assert.equal(rows[1]?.indexOf("listo"), rows[2]?.indexOf("en proceso"));
});

Deno.test('runClient() listar prints "(sin pedidos)" when empty', async () => {
  await using daemon = fakeLineServer(() => '{"ok":true,"pedidos":[]}');
  const { status, stdout } = await run(daemon.port, ["listar"]);
  assert.deepEqual([status, stdout], [0, "(sin pedidos)\n"]);
});

Deno.test("runClient() estado prints aligned key: value lines", async () => {
  await using daemon = fakeLineServer(() => JSON.stringify({ ok: true, pedido: PEDIDO }));
  const { status, stdout } = await run(daemon.port, ["estado", "42"]);
  assert.equal(status, 0);
  assert.deepEqual(JSON.parse(daemon.lines[0] ?? ""), { op: "ESTADO", id: 42 });
  const lines = stdout.trimEnd().split("\n");
  assert.ok(lines.includes("estado:         listo"), stdout);
  assert.ok(lines.includes("productos:      pan, agua ×2"), stdout);
  assert.ok(lines.includes("duracion:       1.98 s"), stdout);
  assert.ok(lines.includes("clave:          —"), stdout);
  const column = lines.map((line) => line.search(/(?<=:\s+)\S/));
  assert.ok(column.every((at) => at === column[0]), stdout);
});

Deno.test("runClient() estado --esperar shows a wait that timed out, and exits 0 (the reply is ok)", async () => {
  await using daemon = fakeLineServer(() =>
    JSON.stringify({ ok: true, pedido: { ...PEDIDO, estado: "en proceso" }, timeout: true })
  );
  const { status, stdout } = await run(daemon.port, [
    "estado",
    "42",
    "--esperar",
    "--timeout-ms",
    "10",
  ]);
  assert.equal(status, 0);
  assert.deepEqual(JSON.parse(daemon.lines[0] ?? ""), {
    op: "ESTADO",
    id: 42,
    esperar: true,
    timeout_ms: 10,
  });
  assert.match(stdout, /espera:\s+⌛/);
});

Deno.test("runClient() stats prints the counters", async () => {
  const stats = {
    recibidos: 120,
    aceptados: 100,
    cancelados: 3,
    duracion_ms: { min: 1002, p50: 1980, p95: null, max: 2999, avg: 1996 },
    uptime_s: 61,
  };
  await using daemon = fakeLineServer(() => JSON.stringify({ ok: true, stats }));
  const { status, stdout } = await run(daemon.port, ["stats"]);
  assert.equal(status, 0);
  assert.match(stdout, /^recibidos:\s+120$/m);
  assert.match(stdout, /^cancelados:\s+3$/m);
  assert.match(stdout, /^duracion_ms:\s+min 1002 · p50 1980 · p95 — · max 2999 · avg 1996$/m);
  assert.match(stdout, /^uptime_s:\s+61 s$/m);
  assert.match(stdout, /^rechazados:\s+—$/m, "a counter the daemon did not send");
  const keys = stdout.trimEnd().split("\n").map((line) => line.split(":")[0]);
  assert.deepEqual(keys, [
    "recibidos",
    "aceptados",
    "rechazados",
    "pendientes",
    "en_proceso",
    "listos",
    "errores",
    "cancelados",
    "capacidad",
    "libres",
    "workers",
    "conexiones",
    "duracion_ms",
    "uptime_s",
  ]);
});

Deno.test("runClient() task sends the task and prints the result", async () => {
  await using daemon = fakeLineServer((line) => {
    const { task }: { task: { name: string; args?: number[]; s?: string } } = JSON.parse(line).data;
    const result = task.name === "sum"
      ? (task.args ?? []).reduce((a, b) => a + b, 0)
      : task.s?.toUpperCase();
    return JSON.stringify({ ok: true, result });
  });
  const sum = await run(daemon.port, ["task", "sum", "1", "2", "3.5", "-1"]);
  assert.deepEqual([sum.status, sum.stdout], [0, "5.5\n"]);
  const upper = await run(daemon.port, ["task", "upper", "hola", "mundo"]);
  assert.deepEqual([upper.status, upper.stdout], [0, "HOLA MUNDO\n"]);
  assert.deepEqual(daemon.lines.map((line) => JSON.parse(line)), [
    { op: "TASK", data: { task: { name: "sum", args: [1, 2, 3.5, -1] } } },
    { op: "TASK", data: { task: { name: "upper", s: "hola mundo" } } },
  ]);
});
