/**
 * The `client` subcommand as a person runs it, against a real daemon.
 */
import assert from "node:assert/strict";
import {
  ROOT,
  runMain,
  serverPermissions,
  startInProcess,
  tempDir,
  waitUntil,
} from "./test_util.ts";
import { testWith } from "./permissions.ts";
import { runClient } from "../client/cli.ts";
import { NO_SOURCES, runClientAt } from "../client/testing/cli_harness.ts";

testWith("read", "write", "run", "env")(
  "client places an order from flags, waits for it, and reads it back",
  async () => {
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

    // One order received, accepted and finished; nothing refused, failed or waiting.
    const stats = await runMain(dir.path, ["client", ...port, "stats"]);
    assert.equal(stats.code, 0, stats.stderr);
    const shown = Object.fromEntries(
      stats.stdout.trimEnd().split("\n").map((line) => line.split(/:\s+/, 2) as [string, string]),
    );
    assert.deepEqual(
      {
        recibidos: shown.recibidos,
        aceptados: shown.aceptados,
        rechazados: shown.rechazados,
        pendientes: shown.pendientes,
        en_proceso: shown.en_proceso,
        listos: shown.listos,
        errores: shown.errores,
        capacidad: shown.capacidad,
        libres: shown.libres,
        workers: shown.workers,
      },
      {
        recibidos: "1",
        aceptados: "1",
        rechazados: "0",
        pendientes: "0",
        en_proceso: "0",
        listos: "1",
        errores: "0",
        capacidad: "6",
        libres: "6",
        workers: "2",
      },
      stats.stdout,
    );
    assert.equal(shown.cancelados, "0", stats.stdout);
    assert.match(shown.duracion_ms ?? "", /^min \d+ · p50 \d+ · p95 \d+ · max \d+ · avg \d+$/);

    const task = await runMain(dir.path, ["client", ...port, "task", "sum", "1", "2", "3.5"]);
    assert.equal(task.code, 0);
    assert.match(task.stdout, /6\.5/);

    const ping = await runMain(dir.path, ["client", ...port, "ping"]);
    assert.equal(ping.code, 0);
    assert.match(ping.stdout, /pong/);
  },
);

testWith("read", "write", "run", "env")("client reads one JSON order from stdin", async () => {
  await using dir = await tempDir();
  await using daemon = await startInProcess();
  const result = await runMain(
    dir.path,
    ["client", "--host", "::1", "--port", String(daemon.port), "--json"],
    { stdin: '{"cliente":"Eva","productos":[{"nombre":"pan","cantidad":2}],"direccion":"C 2"}\n' },
  );
  assert.equal(result.code, 0, result.stderr);
  const placed = JSON.parse(result.stdout);
  assert.equal(placed.ok, true);
  assert.equal(typeof placed.id, "number");

  // What was stored is the order that was typed, read back by ESTADO and by LISTAR.
  const port = ["--host", "127.0.0.1", "--port", String(daemon.port), "--json"];
  const estado = await runMain(dir.path, [
    "client",
    ...port,
    "estado",
    String(placed.id),
    "--esperar",
  ]);
  assert.equal(estado.code, 0, estado.stderr);
  const { pedido } = JSON.parse(estado.stdout);
  assert.deepEqual(
    {
      id: pedido.id,
      cliente: pedido.cliente,
      productos: pedido.productos,
      direccion: pedido.direccion,
      clave: pedido.clave,
      estado: pedido.estado,
    },
    {
      id: placed.id,
      cliente: "Eva",
      productos: [{ nombre: "pan", cantidad: 2 }],
      direccion: "C 2",
      clave: null,
      estado: "listo",
    },
  );
  const listar = await runMain(dir.path, ["client", ...port, "listar", "--cliente", "Eva"]);
  assert.equal(listar.code, 0, listar.stderr);
  assert.deepEqual(JSON.parse(listar.stdout).pedidos, [pedido]);
});

testWith("read", "write", "run", "env")(
  "client exit status: 1 when refused, 2 on bad usage, 3 when it cannot connect",
  async () => {
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
  },
);

testWith("read", "write", "run", "env")(
  "client --esperar with a request from stdin that is not an order is bad usage (exit 2), saying why",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startInProcess();
    const result = await runMain(
      dir.path,
      ["client", "--host", "127.0.0.1", "--port", String(daemon.port), "--esperar"],
      { stdin: '{"op":"STATS"}\n' },
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /Cannot use --esperar: the request on stdin is not an order/);
    assert.equal(daemon.server.connections, 0, "refused before it connected");
  },
);

/** Runs `main.ts ARGS…` with its stdout's reader gone before it writes (`… | true`). */
async function runWithStdoutClosed(
  dir: string,
  args: string[],
): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...serverPermissions(dir), `${ROOT}main.ts`, ...args],
    cwd: dir,
    signal: AbortSignal.timeout(60_000),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  await child.stdout.cancel();
  const [stderr, status] = await Promise.all([new Response(child.stderr).text(), child.status]);
  return { code: status.code, stderr };
}

testWith("read", "write", "run", "env")(
  "client and load whose output cannot be written (> /dev/full) say so on stderr and exit 1, with no stack trace",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startInProcess({ processMs: { min: 0, max: 0 } });
    const at = ["--host", "127.0.0.1", "--port", String(daemon.port)];
    for (
      const args of [["client", ...at, "ping"], [
        "load",
        ...at,
        "--clientes",
        "1",
        "--pedidos",
        "1",
      ]]
    ) {
      const words = [
        Deno.execPath(),
        "run",
        ...serverPermissions(dir.path),
        `${ROOT}main.ts`,
        ...args,
      ];
      const child = await new Deno.Command("sh", {
        args: ["-c", `exec "$@" >/dev/full`, "sh", ...words],
        cwd: dir.path,
        signal: AbortSignal.timeout(60_000),
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      const stderr = new TextDecoder().decode(child.stderr);
      assert.equal(child.code, 1, stderr);
      assert.match(
        stderr,
        new RegExp(`^pedidos ${args[0]}: Cannot write the output: No space left`),
      );
      assert.doesNotMatch(stderr, /Uncaught| {4}at /);
    }
  },
);

testWith("read", "write", "run", "env")(
  "load whose stdout reader is gone (load | true) ends with its own status, not a BrokenPipe stack trace",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startInProcess({ processMs: { min: 0, max: 0 } });
    const help = await runWithStdoutClosed(dir.path, ["load", "--help"]);
    assert.equal(help.stderr, "");
    assert.equal(help.code, 0);
    const run = await runWithStdoutClosed(dir.path, [
      "load",
      "--host",
      "127.0.0.1",
      "--port",
      String(daemon.port),
      "--clientes",
      "1",
      "--pedidos",
      "1",
      "--json",
    ]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
  },
);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  testWith("read", "write", "run", "env")(
    `client --esperar stopped by ${signal} says the order was received and goes on, and exits 130`,
    async () => {
      await using dir = await tempDir();
      await using daemon = await startInProcess({ processMs: { min: 60_000, max: 60_000 } });
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...serverPermissions(dir.path), `${ROOT}main.ts`, "client", "--host"]
          .concat(["127.0.0.1", "--port", String(daemon.port), "--cliente", "Ana"])
          .concat(["--producto", "pan", "--direccion", "Calle 1", "--esperar"]),
        cwd: dir.path,
        signal: AbortSignal.timeout(60_000),
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      const decoder = new TextDecoder();
      let stdout = "";
      const reader = child.stdout.getReader();
      while (!stdout.includes("⏳")) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += decoder.decode(value, { stream: true });
      }
      child.kill(signal);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += decoder.decode(value, { stream: true });
      }
      await child.stderr.cancel();
      const { code } = await child.status;
      assert.equal(code, 130, stdout);
      assert.match(stdout, /Pedido 1 recibido/);
      assert.match(stdout, /Espera interrumpida\. El pedido 1 fue recibido y sigue su curso/);
    },
  );
}

Deno.test("client --esperar on a daemon that stops says the daemon is stopping and the order is kept, and exits 1", async () => {
  // Orders take a minute; the drain gives them a tenth of a second.
  await using daemon = await startInProcess({
    processMs: { min: 60_000, max: 60_000 },
    drainTimeoutMs: 100,
  });
  let stdout = "";
  let stderr = "";
  let stop: Promise<unknown> | null = null;
  const status = await runClient(
    ["--host", "127.0.0.1", "--port", String(daemon.port), "--cliente", "Ana"]
      .concat(["--producto", "pan", "--direccion", "Calle 1", "--esperar"]),
    {
      stdout: (text) => {
        stdout += text;
        // SIGTERM once the daemon holds the wait.
        if (text.startsWith("⏳")) {
          stop = waitUntil(() => daemon.server.waits > 0, { what: "the wait" })
            .then(() => daemon.server.shutdown());
        }
      },
      stderr: (text) => stderr += text,
      sources: NO_SOURCES,
      signal: new AbortController().signal,
    },
  );
  await stop;
  assert.equal(status, 1, stdout + stderr);
  assert.match(stdout, /✅ Pedido 1 recibido \(pendiente\)\n⏳ Esperando el pedido 1…\n$/);
  assert.doesNotMatch(stderr, /se agotó/);
  assert.match(
    stderr,
    /^⏹️ El servidor se está deteniendo y terminó la espera antes de tiempo: el pedido 1 sigue (pendiente|en proceso)\. Fue recibido y se conserva/,
  );
});

Deno.test("client leaves the values of a request to the daemon: an unknown task, a bad argument, a state that is none and id 0 are its refusals (exit 1), not bad usage", async () => {
  await using daemon = await startInProcess({ processMs: { min: 0, max: 0 } });
  const cases: [string[], string][] = [
    [["task", "div", "6", "3"], "unknown_task"],
    [["task", "sum", "1", "dos"], "invalid_task"],
    [["task", "upper"], "invalid_task"],
    [["listar", "--estado", "raro"], "invalid_request"],
    [["estado", "0"], "not_found"],
    [["cancelar", "0"], "not_found"],
    [["reintentar", "0"], "not_found"],
  ];
  for (const [args, code] of cases) {
    const shown = await runClientAt(daemon.port, args);
    assert.equal(shown.status, 1, `${args.join(" ")}: ${shown.stdout}${shown.stderr}`);
    assert.match(shown.stderr, new RegExp(`\\(${code}[,)]`), args.join(" "));
    const json = await runClientAt(daemon.port, [...args, "--json"]);
    assert.equal(json.status, 1, args.join(" "));
    assert.equal(JSON.parse(json.stdout).error, code, args.join(" "));
  }
  // What the client knows it still reads for the daemon: a state in any case, with _ for the space.
  const listed = await runClientAt(daemon.port, ["listar", "--estado", "EN_PROCESO", "--json"]);
  assert.equal(listed.status, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout), { ok: true, pedidos: [] });
  const sum = await runClientAt(daemon.port, ["task", "sum", "1", "2", "3.5", "--json"]);
  assert.equal(sum.stdout, '{"ok":true,"result":6.5}\n');
});
