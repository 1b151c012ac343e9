import assert from "node:assert/strict";
import { ConfigError, type ConfigSources } from "../server/config/settings.ts";
import { runClient } from "./cli.ts";
import { CLIENT_USAGE, parseClientArgs } from "./cli_args.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** No environment, no env file: the tests see only their flags. */
const NOTHING: ConfigSources = { getEnv: () => undefined, readFile: () => null };

/** Answers each request line with `reply(request)`: a raw line, or null to close without a reply. */
type Reply = (request: Record<string, unknown>, line: string) => string | null;

interface FakeDaemon extends AsyncDisposable {
  port: number;
  lines: string[];
}

/** A line-based fake daemon on 127.0.0.1, port 0. */
function fakeDaemon(reply: Reply): FakeDaemon {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const lines: string[] = [];
  const tasks = new Set<Promise<void>>();

  async function serve(conn: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(16 * 1024);
    let pending = "";
    try {
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        pending += decoder.decode(buffer.subarray(0, n), { stream: true });
        for (let i = pending.indexOf("\n"); i !== -1; i = pending.indexOf("\n")) {
          const line = pending.slice(0, i);
          pending = pending.slice(i + 1);
          lines.push(line);
          const text = reply(JSON.parse(line), line);
          if (text === null) return;
          const bytes = encoder.encode(`${text}\n`);
          for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
        }
      }
    } catch {
      // client went away
    } finally {
      conn.close();
    }
  }

  const accepting = (async () => {
    for await (const conn of listener) {
      const task = serve(conn);
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  })().catch(() => {});

  return {
    port: (listener.addr as Deno.NetAddr).port,
    lines,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      await Promise.all(tasks);
    },
  };
}

/** Runs the client against `port` with captured output. */
async function run(port: number, args: string[], stdin?: string) {
  let stdout = "";
  let stderr = "";
  const status = await runClient(["--host", "127.0.0.1", "--port", String(port), ...args], {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    sources: NOTHING,
    ...(stdin === undefined ? {} : { stdin: ReadableStream.from([encoder.encode(stdin)]) }),
  });
  return { status, stdout, stderr };
}

const PEDIDO = {
  id: 42,
  clave: null,
  cliente: "Ana",
  productos: ["pan", { nombre: "agua", cantidad: 2 }],
  direccion: "Calle 1",
  estado: "listo",
  fecha_recibido: "2026-11-23T13:16:00.123Z",
  fecha_inicio: "2026-11-23T13:16:00.200Z",
  fecha_fin: "2026-11-23T13:16:02.180Z",
  worker: 2,
  intentos: 1,
  detalle_error: null,
  duracion_ms: 1980,
};

const accepted = () =>
  '{"ok":true,"id":42,"estado":"pendiente","mensaje":"✅ Pedido 42 recibido."}';

Deno.test("runClient() sends an order built from flags", async () => {
  await using daemon = fakeDaemon(accepted);
  const { status, stdout } = await run(daemon.port, [
    "--cliente",
    "Ana",
    "--producto",
    "pan",
    "--producto",
    "agua",
    "--direccion",
    "Calle 1",
    "--clave",
    "K1",
  ]);
  assert.equal(status, 0);
  assert.deepEqual(daemon.lines.map((line) => JSON.parse(line)), [
    { cliente: "Ana", productos: ["pan", "agua"], direccion: "Calle 1", clave: "K1" },
  ]);
  assert.equal(stdout, "✅ Pedido 42 recibido (pendiente)\n");
});

Deno.test("runClient() with --esperar waits for the order and prints its final state", async () => {
  await using daemon = fakeDaemon((request) =>
    request.op === "ESTADO" ? JSON.stringify({ ok: true, pedido: PEDIDO }) : accepted()
  );
  const { status, stdout } = await run(daemon.port, [
    "--cliente",
    "Ana",
    "--producto",
    "pan",
    "--direccion",
    "Calle 1",
    "--esperar",
  ]);
  assert.equal(status, 0);
  assert.deepEqual(JSON.parse(daemon.lines[1] ?? ""), { op: "ESTADO", id: 42, esperar: true });
  assert.match(stdout, /Pedido 42 recibido \(pendiente\)/);
  assert.match(stdout, /✅ Pedido 42 listo en 1\.98 s \(worker 2\)/);
});

Deno.test("runClient() reads one JSON request from stdin and sends it as-is", async () => {
  await using daemon = fakeDaemon(accepted);
  const order = '{"cliente":"Bea","productos":["sal"],"direccion":"Calle 2"}';
  const { status, stdout } = await run(daemon.port, [], `\n  ${order}  \n\n`);
  assert.equal(status, 0);
  assert.deepEqual(daemon.lines, [order]);
  assert.match(stdout, /Pedido 42 recibido/);
});

Deno.test("runClient() with --json prints the raw reply line", async () => {
  const raw = '{"ok":true,   "pong":true, "extra" : [1,2]}';
  await using daemon = fakeDaemon(() => raw);
  const { status, stdout } = await run(daemon.port, ["ping", "--json"]);
  assert.equal(status, 0);
  assert.equal(stdout, `${raw}\n`);
});

Deno.test("runClient() exits 0 on ok and prints pong", async () => {
  await using daemon = fakeDaemon(() => '{"ok":true,"pong":true}');
  const { status, stdout } = await run(daemon.port, ["ping"]);
  assert.deepEqual([status, stdout], [0, "pong\n"]);
  assert.deepEqual(daemon.lines, ['{"op":"PING"}']);
});

Deno.test("runClient() exits 1 when the daemon refuses, printing mensaje and code", async () => {
  await using daemon = fakeDaemon(() =>
    '{"ok":false,"error":"queue_full","mensaje":"❌ Límite de pedidos alcanzado. Intente más tarde."}'
  );
  const { status, stdout, stderr } = await run(daemon.port, [
    "--cliente",
    "Ana",
    "--producto",
    "pan",
    "--direccion",
    "Calle 1",
  ]);
  assert.equal(status, 1);
  assert.equal(stdout, "");
  assert.equal(stderr, "❌ Límite de pedidos alcanzado. Intente más tarde. (queue_full)\n");
});

Deno.test("runClient() exits 2 on bad usage and prints the message and usage", async () => {
  for (
    const args of [
      ["--port", "abc", "ping"],
      ["--nope"],
      ["frobnicate"],
      ["task", "sum", "1", "x"],
      ["estado"],
      ["--cliente", "Ana"],
      ["listar", "--producto", "pan"],
    ]
  ) {
    let stderr = "";
    const status = await runClient(args, {
      stdout: () => assert.fail("nothing on stdout"),
      stderr: (text) => stderr += text,
      sources: NOTHING,
    });
    assert.equal(status, 2, args.join(" "));
    assert.ok(stderr.endsWith(CLIENT_USAGE), args.join(" "));
    assert.ok(stderr.length > CLIENT_USAGE.length + 10, args.join(" "));
  }
});

Deno.test("runClient() exits 2 when stdin is empty", async () => {
  const { status, stderr } = await run(1, [], "  \n");
  assert.equal(status, 2);
  assert.match(stderr, /Nothing to send/);
});

Deno.test("runClient() exits 3 when it cannot connect, naming host:port", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const { status, stderr } = await run(port, ["ping"]);
  assert.equal(status, 3);
  assert.ok(stderr.includes(`127.0.0.1:${port}`), stderr);
});

Deno.test("runClient() exits 3 when the connection closes before the reply", async () => {
  await using daemon = fakeDaemon(() => null);
  const { status, stderr } = await run(daemon.port, ["stats"]);
  assert.equal(status, 3);
  assert.match(stderr, /conexión/);
});

Deno.test("runClient() listar prints a table with the ids", async () => {
  const pedidos = [
    { ...PEDIDO, id: 1007, cliente: "Carla" },
    { ...PEDIDO, id: 8, estado: "en proceso", fecha_fin: null, duracion_ms: null },
  ];
  await using daemon = fakeDaemon(() => JSON.stringify({ ok: true, pedidos }));
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
  assert.match(rows[0] ?? "", /^\s*ID\s+ESTADO\s+CLIENTE\s+PRODUCTOS\s+RECIBIDO\s+DURACIÓN$/);
  assert.match(
    rows[1] ?? "",
    /^1007\s+listo\s+Carla\s+pan, agua ×2\s+2026-11-23T13:16:00\.123Z\s+1\.98 s$/,
  );
  assert.match(rows[2] ?? "", /^\s+8\s+en proceso\s+Ana\s+/);
  assert.equal(rows[1]?.indexOf("listo"), rows[2]?.indexOf("en proceso"));
});

Deno.test('runClient() listar prints "(sin pedidos)" when empty', async () => {
  await using daemon = fakeDaemon(() => '{"ok":true,"pedidos":[]}');
  const { status, stdout } = await run(daemon.port, ["listar"]);
  assert.deepEqual([status, stdout], [0, "(sin pedidos)\n"]);
});

Deno.test("runClient() estado prints aligned key: value lines", async () => {
  await using daemon = fakeDaemon(() => JSON.stringify({ ok: true, pedido: PEDIDO }));
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

Deno.test("runClient() estado --esperar exits 1 when the wait times out", async () => {
  await using daemon = fakeDaemon(() =>
    JSON.stringify({ ok: true, pedido: { ...PEDIDO, estado: "en proceso" }, timeout: true })
  );
  const { status, stdout } = await run(daemon.port, [
    "estado",
    "42",
    "--esperar",
    "--timeout-ms",
    "10",
  ]);
  assert.equal(status, 1);
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
    duracion_ms: { min: 1002, p50: 1980, p95: null, max: 2999, avg: 1996 },
    uptime_s: 61,
  };
  await using daemon = fakeDaemon(() => JSON.stringify({ ok: true, stats }));
  const { status, stdout } = await run(daemon.port, ["stats"]);
  assert.equal(status, 0);
  assert.match(stdout, /^recibidos:\s+120$/m);
  assert.match(stdout, /^duracion_ms:\s+min 1002 · p50 1980 · p95 — · max 2999 · avg 1996$/m);
  assert.match(stdout, /^uptime_s:\s+61 s$/m);
});

Deno.test("runClient() task sends the task and prints the result", async () => {
  await using daemon = fakeDaemon((request) => {
    const task = (request.data as { task: { name: string; args?: number[]; s?: string } }).task;
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

Deno.test("runClient() --help prints the usage and exits 0", async () => {
  let stdout = "";
  const status = await runClient(["--help"], {
    stdout: (text) => stdout += text,
    sources: NOTHING,
  });
  assert.deepEqual([status, stdout], [0, CLIENT_USAGE]);
});

Deno.test("parseClientArgs() builds each request", () => {
  const cases: [string[], Record<string, unknown>][] = [
    [["ping"], { kind: "ping", request: { op: "PING" } }],
    [["stats"], { kind: "stats", request: { op: "STATS" } }],
    [["estado", "7"], { kind: "estado", request: { op: "ESTADO", id: 7 } }],
    [["listar", "--cliente", "Ana"], { kind: "listar", request: { op: "LISTAR", cliente: "Ana" } }],
    [["task", "lower", "HOLA"], {
      kind: "task",
      request: { op: "TASK", data: { task: { name: "lower", s: "HOLA" } } },
    }],
    [["--esperar"], { kind: "stdin", esperar: true, timeoutMs: null }],
  ];
  for (const [args, expected] of cases) {
    const { config: _, json: __, ...command } = parseClientArgs(args, NOTHING);
    assert.deepEqual(command, expected, args.join(" "));
  }
});

Deno.test("parseClientArgs() reads --host, --port and --json with the config precedence", () => {
  const sources: ConfigSources = {
    getEnv: (name) => ({ PEDIDOS_PORT: "9001" } as Record<string, string>)[name],
    readFile: (path) => path === ".env.local" ? "PEDIDOS_HOST=*\nPEDIDOS_PORT=9002\n" : null,
  };
  const command = parseClientArgs(["ping", "--json"], sources);
  assert.deepEqual(command.config, { hosts: ["localhost"], port: 9001, envFile: ".env.local" });
  assert.equal(command.json, true);
  const flags = parseClientArgs(["ping", "--host", "a,b", "--host", "c", "--port", "1"], sources);
  assert.deepEqual(flags.config.hosts, ["a", "b", "c"]);
  assert.equal(flags.config.port, 1);
  assert.ok(Object.isFrozen(command));
  assert.throws(
    () =>
      parseClientArgs(["ping"], { getEnv: (name) => name === "PEDIDOS_PORT" ? "x" : undefined }),
    /PEDIDOS_PORT "x" in the environment/,
  );
});

Deno.test("parseClientArgs() refuses bad usage with a ConfigError", () => {
  const cases: [string[], RegExp][] = [
    [["estado"], /estado ID/],
    [["estado", "abc"], /Invalid ID "abc"/],
    [["estado", "1", "2"], /estado ID/],
    [["listar", "--limit", "0"], /--limit "0"/],
    [["listar", "--estado", "raro"], /--estado "raro"/],
    [["--cliente", "Ana", "--producto", "pan"], /Missing --direccion/],
    [["task"], /Missing task name/],
    [["task", "div", "1"], /Unknown task "div"/],
    [["task", "upper"], /needs words/],
    [["ping", "extra"], /Unexpected argument "extra"/],
    [["ping", "--esperar"], /--esperar/],
    [["estado", "1", "--timeout-ms", "5"], /needs --esperar/],
    [["--port", "0", "ping"], /--port "0"/],
  ];
  for (const [args, pattern] of cases) {
    assert.throws(
      () => parseClientArgs(args, NOTHING),
      (error) => error instanceof ConfigError && pattern.test(error.message),
      args.join(" "),
    );
  }
});
