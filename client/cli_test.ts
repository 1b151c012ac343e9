/**
 * `runClient()` against a scripted server: what it sends, and its exit statuses.
 */
import assert from "node:assert/strict";
import { runClient } from "./cli.ts";
import { OutputError, pipeWriter } from "./pipe_writer.ts";
import { CLIENT_USAGE } from "./cli_args.ts";
import { NO_SOURCES, runClientAt as run, SAMPLE_PEDIDO as PEDIDO } from "./testing/cli_harness.ts";
import { fakeLineServer } from "./testing/fake_line_server.ts";
import { unusedPort } from "./testing/unused_port.ts";

/** An order from flags, and the same waited for. */
const ORDER_FLAGS = ["--cliente", "Ana", "--producto", "pan", "--direccion", "Calle 1"];
const ORDER_WAITED = [...ORDER_FLAGS, "--esperar"];

/** Runs the client with `args`, failing on anything written to stdout; its status and stderr. */
async function runWithoutStdout(args: string[]): Promise<{ status: number; stderr: string }> {
  let stderr = "";
  const status = await runClient(args, {
    stdout: () => assert.fail("nothing on stdout"),
    stderr: (text) => stderr += text,
    sources: NO_SOURCES,
  });
  return { status, stderr };
}

const accepted = () =>
  '{"ok":true,"id":42,"estado":"pendiente","mensaje":"✅ Pedido 42 recibido."}';

Deno.test("runClient() sends an order built from flags", async () => {
  await using daemon = fakeLineServer(accepted);
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
  await using daemon = fakeLineServer((line) =>
    JSON.parse(line).op === "ESTADO" ? JSON.stringify({ ok: true, pedido: PEDIDO }) : accepted()
  );
  const { status, stdout } = await run(daemon.port, ORDER_WAITED);
  assert.equal(status, 0);
  assert.deepEqual(JSON.parse(daemon.lines[1] ?? ""), { op: "ESTADO", id: 42, esperar: true });
  assert.match(stdout, /Pedido 42 recibido \(pendiente\)/);
  assert.match(stdout, /✅ Pedido 42 listo en 1\.98 s \(worker 2\)/);
});

Deno.test("runClient() with --esperar exits 0 when the wait is answered ok, whatever the order's end, and shows that end", async () => {
  // §7: 0 on ok, 1 only when the daemon refused the request.
  for (
    const [pedido, shown] of [
      [{ ...PEDIDO, estado: "cancelado", worker: null }, /🚫 Pedido 42 cancelado/],
      [{ ...PEDIDO, estado: "error", detalle_error: "sin stock" }, /❌ Pedido 42 .*: sin stock/],
    ] as const
  ) {
    await using daemon = fakeLineServer((line) =>
      JSON.parse(line).op === "ESTADO" ? JSON.stringify({ ok: true, pedido }) : accepted()
    );
    const order = ["--cliente", "Ana", "--producto", "pan", "--direccion", "Calle 1"];
    const { status, stdout } = await run(daemon.port, [...order, "--esperar"]);
    assert.equal(status, 0, stdout);
    assert.match(stdout, shown);
  }
  // A wait that timed out is answered ok too; a refused one exits 1.
  await using daemon = fakeLineServer((line) =>
    JSON.parse(line).id === 42
      ? JSON.stringify({ ok: true, pedido: { ...PEDIDO, estado: "pendiente" }, timeout: true })
      : '{"ok":false,"error":"not_found","mensaje":"❌ No existe el pedido."}'
  );
  assert.equal(
    (await run(daemon.port, ["estado", "42", "--esperar", "--timeout-ms", "10"])).status,
    0,
  );
  assert.equal((await run(daemon.port, ["estado", "43", "--esperar"])).status, 1);
});

Deno.test("runClient() reads one JSON request from stdin and sends it as-is", async () => {
  await using daemon = fakeLineServer(accepted);
  const order = '{"cliente":"Bea","productos":["sal"],"direccion":"Calle 2"}';
  const { status, stdout } = await run(daemon.port, [], `\n  ${order}  \n\n`);
  assert.equal(status, 0);
  assert.deepEqual(daemon.lines, [order]);
  assert.match(stdout, /Pedido 42 recibido/);
});

Deno.test("runClient() with --json prints the raw reply line", async () => {
  const raw = '{"ok":true,   "pong":true, "extra" : [1,2]}';
  await using daemon = fakeLineServer(() => raw);
  const { status, stdout } = await run(daemon.port, ["ping", "--json"]);
  assert.equal(status, 0);
  assert.equal(stdout, `${raw}\n`);
});

Deno.test("runClient() exits 0 on ok and prints pong", async () => {
  await using daemon = fakeLineServer(() => '{"ok":true,"pong":true}');
  const { status, stdout } = await run(daemon.port, ["ping"]);
  assert.deepEqual([status, stdout], [0, "pong\n"]);
  assert.deepEqual(daemon.lines, ['{"op":"PING"}']);
});

Deno.test("runClient() exits 1 when the daemon refuses, printing mensaje and code", async () => {
  await using daemon = fakeLineServer(() =>
    '{"ok":false,"error":"queue_full","mensaje":"❌ Límite de pedidos alcanzado. Intente más tarde."}'
  );
  const { status, stdout, stderr } = await run(daemon.port, ORDER_FLAGS);
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
      ["task"],
      ["estado"],
      ["--cliente", "Ana"],
      ["listar", "--producto", "pan"],
    ]
  ) {
    const { status, stderr } = await runWithoutStdout(args);
    assert.equal(status, 2, args.join(" "));
    assert.ok(stderr.endsWith(CLIENT_USAGE), args.join(" "));
    assert.ok(stderr.length > CLIENT_USAGE.length + 10, args.join(" "));
  }
});

Deno.test("runClient() listar --limit 5000 exits 2 saying the daemon lists at most 1000, and sends nothing", async () => {
  await using daemon = fakeLineServer(() => '{"ok":true,"pedidos":[]}');
  const { status, stdout, stderr } = await run(daemon.port, ["listar", "--limit", "5000"]);
  assert.equal(status, 2);
  assert.equal(stdout, "");
  assert.match(
    stderr,
    /^pedidos client: Invalid --limit "5000": must be a whole number from 1 to 1000 \(the daemon lists at most 1000 orders a request; page with --antes-de\)\n/,
  );
  assert.deepEqual(daemon.lines, []);
});

Deno.test("runClient() says what is wrong with its usage as load and web do: after 'pedidos client: ', in one short sentence", async () => {
  const cases: [string[], string][] = [
    [["--bogus"], "pedidos client: Unknown option '--bogus'\n\n"],
    [["estado", "abc"], 'pedidos client: Invalid ID "abc": must be a whole number ≥ 1\n\n'],
    [
      ["ping", "--timeout-ms", "5"],
      'pedidos client: Unexpected --timeout-ms: not valid with "ping"\n\n',
    ],
    [
      ["estado", "7", "--timeout-ms", "5"],
      "pedidos client: Unexpected --timeout-ms: needs --esperar\n\n",
    ],
  ];
  for (const [args, message] of cases) {
    const { status, stderr } = await runWithoutStdout(args);
    assert.equal(status, 2, args.join(" "));
    assert.equal(stderr, message + CLIENT_USAGE);
  }
  // From stdin too.
  const empty = await run(1, [], "  \n");
  assert.match(empty.stderr, /^pedidos client: Nothing to send/);
});

Deno.test("runClient() sends a request spread over lines as one, and refuses stdin that holds several", async () => {
  await using daemon = fakeLineServer(accepted);
  const pretty = '{\n  "cliente": "Bea",\n  "productos": ["sal"],\n  "direccion": "Calle 2"\n}';
  assert.equal((await run(daemon.port, [], pretty)).status, 0);
  const sent = daemon.lines.length;
  for (
    const stdin of [
      'hola\n{"cliente":"Eva","productos":["a"],"direccion":"d"}\n',
      '{"op":"PING"}\n{"op":"PING"}',
    ]
  ) {
    const { status, stderr } = await run(daemon.port, [], stdin);
    assert.equal(status, 2, stdin);
    assert.match(stderr, /holds 2 requests/);
  }
  assert.equal(daemon.lines.length, sent, "nothing of the refused input was sent");
});

Deno.test("runClient() exits 2 when stdin holds an incomplete request, sending nothing", async () => {
  await using daemon = fakeLineServer(() => '{"ok":true,"pong":true}');
  const { status, stderr } = await run(daemon.port, [], '{"op":"PING"');
  assert.equal(status, 2);
  assert.match(stderr, /incomplete/);
  assert.deepEqual(daemon.lines, []);
});

Deno.test("runClient() --esperar with a request on stdin that is not an order exits 2, sending nothing", async () => {
  await using daemon = fakeLineServer(() => '{"ok":true,"pedido":{"id":2,"estado":"cancelado"}}');
  for (const stdin of ['{"op":"CANCELAR","id":2}', '{"op":"TASK","tarea":"sum","args":[1]}']) {
    const { status, stderr } = await run(daemon.port, ["--esperar"], stdin);
    assert.equal(status, 2, stdin);
    assert.match(stderr, /not an order/, stdin);
  }
  assert.deepEqual(daemon.lines, [], "nothing was sent, so nothing was done");
  // An order on stdin is still sent and waited for.
  await using orders = fakeLineServer((line) =>
    line.includes("ESTADO")
      ? JSON.stringify({ ok: true, pedido: { ...PEDIDO, worker: 1, duracion_ms: 5 } })
      : accepted()
  );
  const { status } = await run(
    orders.port,
    ["--esperar"],
    '{"op":"pedido","cliente":"A","productos":["a"],"direccion":"d"}',
  );
  assert.equal(status, 0);
  assert.equal(orders.lines.length, 2);
});

Deno.test("runClient() --esperar exits 3 when the order's ok carries no valid id, with --json too, and sends no wait", async () => {
  for (const reply of ['{"ok":true}', '{"ok":true,"id":"\\u001b[2J","estado":"pendiente"}']) {
    for (const json of [[], ["--json"]]) {
      await using daemon = fakeLineServer(() => reply);
      const order = ["--cliente", "Ana", "--producto", "pan", "--direccion", "Calle 1"];
      const { status, stderr } = await run(daemon.port, [...order, "--esperar", ...json]);
      assert.equal(status, 3, `${reply} ${json}`);
      assert.match(stderr, /no es una respuesta válida/);
      assert.equal(daemon.lines.length, 1, "no ESTADO sent");
    }
  }
});

Deno.test("runClient() exits 2 when stdin is empty", async () => {
  const { status, stderr } = await run(1, [], "  \n");
  assert.equal(status, 2);
  assert.match(stderr, /Nothing to send/);
});

Deno.test("runClient() exits 2 when stdin cannot be read (client < a-directory), saying why, with no stack trace and nothing sent", async () => {
  await using daemon = fakeLineServer(() => accepted());
  const directory = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.error(new Deno.errors.IsADirectory("Is a directory (os error 21)"));
    },
  });
  const { status, stdout, stderr } = await run(daemon.port, [], directory);
  assert.equal(status, 2);
  assert.match(
    stderr,
    /^pedidos client: Cannot read stdin: Is a directory \(os error 21\)\n\nUsage:/,
  );
  assert.equal(stdout, "");
  assert.deepEqual(daemon.lines, []);
});

Deno.test("runClient() refuses stdin that is not UTF-8 (exit 2, on stderr), sending nothing rather than U+FFFD", async () => {
  await using daemon = fakeLineServer(() => accepted());
  const encoder = new TextEncoder();
  const order = (cliente: Uint8Array) =>
    Uint8Array.from([
      ...encoder.encode('{"cliente":"'),
      ...cliente,
      ...encoder.encode('","productos":["pan"],"direccion":"x"}\n'),
    ]);
  for (
    const [cliente, shown] of [
      [[0xff, 0xfe], /byte 0xff at offset 12\)/],
      // A sequence cut short (é is C3 A9), and a surrogate encoded as UTF-8 (ED A0 80).
      [[0x4a, 0x6f, 0x73, 0xc3], /byte 0xc3 at offset 15\)/],
      [[0xed, 0xa0, 0x80], /byte 0xed at offset 12\)/],
      // Cut short where U+FFFD's own bytes (EF BF BD) would begin: the lead byte is named.
      [[0x61, 0xef, 0xbf, 0x7a], /byte 0xef at offset 13\)/],
      // An overlong form, and a code point past U+10FFFF.
      [[0xc0, 0xaf], /byte 0xc0 at offset 12\)/],
      [[0xf4, 0x90, 0x80, 0x80], /byte 0xf4 at offset 12\)/],
    ] as const
  ) {
    const stdin = ReadableStream.from([order(Uint8Array.from(cliente))]);
    const { status, stdout, stderr } = await run(daemon.port, [], stdin);
    assert.equal(status, 2, stderr);
    assert.equal(stdout, "");
    assert.match(stderr, /^pedidos client: Cannot send stdin: it is not UTF-8 text \(byte /);
    assert.match(stderr, shown);
  }
  assert.deepEqual(daemon.lines, [], "nothing sent");
  // UTF-8 text, a byte order mark before it (as some editors write), is sent as it is.
  const text = '{"cliente":"José 東京 👍","productos":["pan"],"direccion":"x"}';
  const bom = Uint8Array.from([0xef, 0xbb, 0xbf, ...encoder.encode(`${text}\n`)]);
  const sent = await runClient(["--host", "127.0.0.1", "--port", String(daemon.port)], {
    stdout: () => {},
    stderr: () => {},
    sources: NO_SOURCES,
    stdin: ReadableStream.from([bom.subarray(0, 14), bom.subarray(14)]),
  });
  assert.equal(sent, 0);
  assert.deepEqual(daemon.lines, [text]);
});

Deno.test("runClient() exits 3 when it cannot connect, naming host:port", async () => {
  const port = unusedPort();
  const { status, stderr } = await run(port, ["ping"]);
  assert.equal(status, 3);
  assert.ok(stderr.includes(`127.0.0.1:${port}`), stderr);
});

Deno.test("runClient() exits 3 when the connection closes before the reply", async () => {
  await using daemon = fakeLineServer(() => ({ close: true }));
  const { status, stderr } = await run(daemon.port, ["stats"]);
  assert.equal(status, 3);
  assert.match(stderr, /conexión/);
});

Deno.test("runClient() exits 3 when the daemon accepts and never answers, past the wait the request asks for", async () => {
  await using daemon = fakeLineServer(() => null);
  const silent = await run(daemon.port, ["ping"], undefined, 200);
  assert.equal(silent.status, 3);
  assert.match(silent.stderr, /Sin respuesta del servidor\. El servidor no respondió en 0\.2 s/);
  // A wait is given its own time first: timeout_ms 300 + 200.
  const waiting = await run(
    daemon.port,
    ["estado", "7", "--esperar", "--timeout-ms", "300"],
    undefined,
    200,
  );
  assert.equal(waiting.status, 3);
  assert.match(waiting.stderr, /0\.5 s/);
  // An order may have been stored meanwhile: the message says how to find out.
  const order = await run(
    daemon.port,
    ["--cliente", "Ana", "--producto", "pan", "--direccion", "C 1", "--clave", "k"],
    undefined,
    200,
  );
  assert.equal(order.status, 3);
  assert.match(order.stderr, /No se sabe si el pedido fue aceptado: reenvíelo con la misma clave/);
  assert.doesNotMatch(silent.stderr, /No se sabe/);
});

Deno.test("runClient() advises an order without a clave that got no answer to be looked for with listar, not sent again", async () => {
  await using daemon = fakeLineServer(() => null);
  const order = ["--cliente", "Ana", "--producto", "pan", "--direccion", "C 1"];
  const bare = await run(daemon.port, order, undefined, 200);
  assert.equal(bare.status, 3);
  assert.match(bare.stderr, /No se sabe si el pedido fue aceptado: búsquelo con listar antes/);
  assert.match(bare.stderr, /segundo pedido/);
  assert.doesNotMatch(bare.stderr, /misma clave/);
  // A clave read as the daemon reads it (§8): in `data` too.
  const inData = await run(
    daemon.port,
    [],
    JSON.stringify({ op: "PEDIDO", data: { cliente: "Ana", productos: ["pan"], clave: "k" } }),
    200,
  );
  assert.match(inData.stderr, /reenvíelo con la misma clave/);
});

Deno.test("runClient() says an order may have been stored when the connection breaks after it was sent", async () => {
  await using daemon = fakeLineServer(() => ({ close: true }));
  const bare = await run(daemon.port, [
    "--cliente",
    "Ana",
    "--producto",
    "pan",
    "--direccion",
    "C",
  ]);
  assert.equal(bare.status, 3);
  assert.match(bare.stderr, /Se perdió la conexión/);
  assert.match(bare.stderr, /No se sabe si el pedido fue aceptado: búsquelo con listar antes/);
  const keyed = await run(daemon.port, [
    ...["--cliente", "Ana", "--producto", "pan", "--direccion", "C", "--clave", "k"],
  ]);
  assert.match(keyed.stderr, /reenvíelo con la misma clave/);
  // A request that stores nothing gets no such advice.
  assert.doesNotMatch((await run(daemon.port, ["stats"])).stderr, /No se sabe/);
});

Deno.test("runClient() --esperar whose wait breaks off says the order was received and how to look it up", async () => {
  // The order is accepted; the connection breaks under its wait.
  await using daemon = fakeLineServer((line) =>
    JSON.parse(line).op === "ESTADO" ? { close: true } : accepted()
  );
  const { status, stdout, stderr } = await run(daemon.port, ORDER_WAITED);
  assert.equal(status, 3);
  assert.match(stdout, /Pedido 42 recibido \(pendiente\)/);
  assert.match(
    stderr,
    /Se perdió la conexión.* El pedido 42 fue recibido y sigue su curso; la espera se interrumpió: consúltelo con estado 42\./,
  );
  assert.doesNotMatch(stderr, /No se sabe/, "the order is known to be stored");
  // The same when the daemon falls silent under the wait.
  await using silent = fakeLineServer((line) =>
    JSON.parse(line).op === "ESTADO" ? null : accepted()
  );
  const quiet = await run(silent.port, [...ORDER_WAITED, "--timeout-ms", "100"], undefined, 200);
  assert.equal(quiet.status, 3);
  assert.match(
    quiet.stderr,
    /Sin respuesta del servidor.* El pedido 42 fue recibido y sigue su curso/,
  );
});

Deno.test("runClient() --esperar whose wait the daemon ends early as it stops says so, not that the wait ran out, and exits 1", async () => {
  // What a daemon stopping does at the end of its drain: the state then, "timeout":true, close.
  const stopped = JSON.stringify({
    ok: true,
    pedido: { ...PEDIDO, estado: "pendiente", worker: null },
    timeout: true,
  });
  await using daemon = fakeLineServer((line) =>
    JSON.parse(line).op === "ESTADO" ? { close: true, reply: stopped } : accepted()
  );
  const { status, stdout, stderr } = await run(daemon.port, ORDER_WAITED);
  assert.equal(status, 1, stderr);
  assert.match(stdout, /Pedido 42 recibido \(pendiente\)/);
  assert.doesNotMatch(stdout + stderr, /se agotó la espera/);
  assert.equal(
    stderr,
    "⏹️ El servidor se está deteniendo y terminó la espera antes de tiempo: el pedido 42 sigue " +
      "pendiente. Fue recibido y se conserva; seguirá cuando el servidor vuelva a estar en " +
      "marcha: consúltelo entonces con estado 42.\n",
  );
  // The same for estado --esperar, and with --json, whose stdout keeps the reply line alone.
  const estado = await run(daemon.port, ["estado", "42", "--esperar"]);
  assert.equal(estado.status, 1);
  assert.equal(estado.stdout, "");
  assert.match(estado.stderr, /^⏹️ El servidor se está deteniendo/);
  const json = await run(daemon.port, [...ORDER_WAITED, "--json"]);
  assert.equal(json.status, 1);
  assert.equal(json.stdout.split("\n")[1], stopped);
  assert.match(json.stderr, /^⏹️ El servidor se está deteniendo/);
  // A wait whose own time passed is still told as such, exit 0.
  await using slow = fakeLineServer((line) =>
    JSON.parse(line).op === "ESTADO" ? stopped : accepted()
  );
  const ranOut = await run(slow.port, [...ORDER_WAITED, "--timeout-ms", "0"]);
  assert.equal(ranOut.status, 0, ranOut.stderr);
  assert.match(ranOut.stdout, /⌛ Pedido 42 sigue pendiente: se agotó la espera/);
});

Deno.test("runClient() reads the wait a request on stdin asks for as the daemon does, field by field from data or the top level", async () => {
  await using daemon = fakeLineServer(() => null);
  for (
    const request of [
      { op: "ESTADO", data: { id: 7 }, esperar: true, timeout_ms: 300 },
      { op: "ESTADO", data: { id: 7, esperar: true }, timeout_ms: 300 },
      { op: "ESTADO", id: 7, esperar: true, data: { timeout_ms: 300 } },
    ]
  ) {
    const waiting = await run(daemon.port, [], JSON.stringify(request), 200);
    assert.equal(waiting.status, 3);
    assert.match(waiting.stderr, /no respondió en 0\.5 s/, JSON.stringify(request));
  }
});

Deno.test("runClient() with several hosts asks the next one when the first is silent, for a request that changes nothing only", async () => {
  await using silent = fakeLineServer(() => null);
  // (The other loopback address, as the tests may use no other.)
  await using next = fakeLineServer(
    (line) => JSON.parse(line).op === "PING" ? '{"ok":true,"pong":true}' : accepted(),
    { hostname: "::1", port: silent.port },
  );
  const ask = async (...args: string[]) => {
    let stdout = "";
    let stderr = "";
    const status = await runClient(
      ["--host", "127.0.0.1,::1", "--port", String(silent.port), ...args],
      {
        stdout: (t) => stdout += t,
        stderr: (t) => stderr += t,
        sources: NO_SOURCES,
        silentHostMs: 200,
        replyTimeoutMs: 1500,
      },
    );
    return { status, stdout, stderr };
  };
  const ping = await ask("ping");
  assert.equal(ping.status, 0, ping.stderr);
  assert.equal(ping.stdout, "pong\n");
  assert.match(ping.stderr, /Sin respuesta en 0\.2 s; se prueba \[::1\]:\d+/);
  // An order may have been stored by the silent one: it is not sent again elsewhere.
  const order = await ask("--cliente", "Ana", "--producto", "pan", "--direccion", "Calle 1");
  assert.equal(order.status, 3);
  assert.match(order.stderr, /No se sabe si el pedido fue aceptado/);
  assert.deepEqual(next.lines.map((line) => JSON.parse(line).op ?? "PEDIDO"), ["PING"]);
});

Deno.test("runClient() with several hosts keeps waiting for a slow first one when no other accepts", async () => {
  // Answers each request 600 ms late; nothing listens on the second host.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(1024);
    await conn.read(buf);
    await new Promise((resolve) => setTimeout(resolve, 600));
    await conn.write(new TextEncoder().encode('{"ok":true,"pong":true}\n'));
    await conn.read(buf).catch(() => null); // until the client closes
    conn.close();
  })();
  let stdout = "";
  let stderr = "";
  const status = await runClient(
    ["--host", "127.0.0.1,::1", "--port", String(listener.addr.port), "ping"],
    {
      stdout: (t) => stdout += t,
      stderr: (t) => stderr += t,
      sources: NO_SOURCES,
      silentHostMs: 100,
      replyTimeoutMs: 5000,
    },
  );
  await serving;
  assert.equal(status, 0, stderr);
  assert.equal(stdout, "pong\n");
});

Deno.test("runClient() with several hosts sends a request a stopping daemon refused to the next host", async () => {
  await using stopping = fakeLineServer(() => ({
    close: true,
    reply: '{"ok":false,"error":"shutting_down","mensaje":"❌ Se está deteniendo."}',
  }));
  // (The other loopback address, as the tests may use no other.)
  await using next = fakeLineServer(() => '{"ok":true,"pong":true}', {
    hostname: "::1",
    port: stopping.port,
  });
  let stdout = "";
  let stderr = "";
  const status = await runClient(
    ["--host", "127.0.0.1,::1", "--port", String(stopping.port), "ping"],
    { stdout: (t) => stdout += t, stderr: (t) => stderr += t, sources: NO_SOURCES },
  );
  assert.equal(status, 0, stderr);
  assert.equal(stdout, "pong\n");
  assert.match(stderr, /Servidor deteniéndose; se prueba \[::1\]:/);
  assert.deepEqual([stopping.lines.length, next.lines.length], [1, 1]);
});

/** A daemon that will not serve: it writes `reply` as it accepts each connection, then closes it. */
function refusingOnAccept(reply: string, hostname = "127.0.0.1", port = 0) {
  const listener = Deno.listen({ hostname, port });
  let accepted = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      accepted++;
      await conn.write(new TextEncoder().encode(`${reply}\n`)).catch(() => 0);
      // Give the client's request time to arrive first, as a real peer's often does.
      await new Promise((resolve) => setTimeout(resolve, 20));
      conn.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test("runClient() with several hosts goes on to the next when the first refuses as it accepts (busy, shutting_down)", async () => {
  for (const error of ["shutting_down", "busy"]) {
    await using refusing = refusingOnAccept(
      `{"ok":false,"error":"${error}","mensaje":"❌ No."}`,
    );
    await using next = fakeLineServer(accepted, { hostname: "::1", port: refusing.port });
    let stderr = "";
    const status = await runClient(
      [
        "--host",
        "127.0.0.1,::1",
        "--port",
        String(refusing.port),
        "--cliente",
        "Ana",
        "--producto",
        "pan",
        "--direccion",
        "C 1",
      ],
      { stdout: () => {}, stderr: (t) => stderr += t, sources: NO_SOURCES },
    );
    assert.equal(status, 0, `${error}: ${stderr}`);
    assert.match(stderr, /se prueba \[::1\]:/, error);
    assert.equal(next.lines.length, 1, `${error}: the order went to the next host`);
  }
});

Deno.test("runClient() --json with several hosts prints one line, the answer of the host that did the request, not the refusal of the one set aside", async () => {
  await using refusing = refusingOnAccept('{"ok":false,"error":"busy","mensaje":"❌ No."}');
  const pong = () => '{"ok":true,"pong":true}';
  await using next = fakeLineServer(pong, { hostname: "::1", port: refusing.port });
  let stdout = "";
  let stderr = "";
  const status = await runClient(
    ["--host", "127.0.0.1,::1", "--port", String(refusing.port), "--json", "ping"],
    { stdout: (t) => stdout += t, stderr: (t) => stderr += t, sources: NO_SOURCES },
  );
  assert.equal(status, 0, stderr);
  assert.match(stderr, /Servidor lleno; se prueba \[::1\]:/);
  assert.equal(next.lines.length, 1);
  assert.equal(stdout.split("\n").length, 2, `one line: ${stdout}`);
  assert.equal(JSON.parse(stdout).ok, true);
});

Deno.test("runClient() with one host that refuses as it accepts exits 1 with the refusal, not 3", async () => {
  await using refusing = refusingOnAccept(
    '{"ok":false,"error":"shutting_down","mensaje":"❌ El servidor se está deteniendo."}',
  );
  let stderr = "";
  const status = await runClient(
    ["--host", "127.0.0.1", "--port", String(refusing.port), "ping"],
    { stdout: () => {}, stderr: (t) => stderr += t, sources: NO_SOURCES },
  );
  assert.equal(status, 1, stderr);
  assert.match(stderr, /deteniendo/);
});

Deno.test("runClient() --help prints the usage and exits 0", async () => {
  let stdout = "";
  const status = await runClient(["--help"], {
    stdout: (text) => stdout += text,
    sources: NO_SOURCES,
  });
  assert.deepEqual([status, stdout], [0, CLIENT_USAGE]);
});

Deno.test("runClient() --help prints the usage even when the environment or env file holds a bad value", async () => {
  for (
    const sources of [
      {
        getEnv: (name: string) => name === "PEDIDOS_PORT" ? "abc" : undefined,
        readFile: () => null,
      },
      { getEnv: () => undefined, readFile: () => "PEDIDOS_PORT=99999\n" },
    ]
  ) {
    let stdout = "";
    const status = await runClient(["--help"], { stdout: (text) => stdout += text, sources });
    assert.deepEqual([status, stdout], [0, CLIENT_USAGE]);
  }
});

Deno.test("runClient() answered with a reply of the wrong shape says so and exits 3, with --json too (the line still printed), with no stack trace and no terminal escapes", async () => {
  const order = ["--cliente", "a", "--producto", "p", "--direccion", "d"];
  const wrong: [string[], unknown][] = [
    [["listar"], { ok: true, pedidos: { length: 1 } }],
    [["estado", "1"], { ok: true, pedido: null }],
    [["stats"], { ok: true, stats: null }],
    [order, { ok: true, id: "\u001b[2J", estado: "pendiente" }],
    [order, { ok: true }],
    [["listar"], { ok: true }],
  ];
  for (const [args, reply] of wrong) {
    for (const json of [[], ["--json"]]) {
      const what = [...args, ...json].join(" ");
      await using daemon = fakeLineServer(() => JSON.stringify(reply));
      const { status, stdout, stderr } = await run(daemon.port, [...args, ...json]);
      assert.equal(status, 3, `${what}: ${stdout}${stderr}`);
      assert.match(stderr, /no es una respuesta válida.*Respuesta inválida del servidor/, what);
      // Under --json stdout keeps the line as it came, for a script to see.
      if (json.length > 0) assert.equal(stdout, `${JSON.stringify(reply)}\n`, what);
      for (const shown of ["\u001b", "TypeError", "    at "]) {
        assert.ok(!(stdout + stderr).includes(shown), `${what}: ${JSON.stringify(shown)}`);
      }
    }
  }
});

Deno.test("runClient() quotes a reply that is not JSON without its control characters", async () => {
  await using daemon = fakeLineServer(() => "\u001b]0;pwned\u0007 no json");
  const { status, stderr } = await run(daemon.port, ["ping"]);
  assert.equal(status, 3);
  assert.match(stderr, /not JSON: \\u001b\]0;pwned\\u0007 no json/);
  assert.ok(!stderr.includes("\u001b") && !stderr.includes("\u0007"), "no control characters");
});

Deno.test("runClient() refuses a stdin larger than any daemon takes (exit 2), reading no more of it than that", async () => {
  await using daemon = fakeLineServer(accepted);
  // As `client < /dev/zero`, but it ends (at 80 MiB), so that a client reading it all ends too.
  const chunk = new Uint8Array(1024 * 1024).fill(0x20);
  let pulled = 0;
  let cancelled = false;
  const stdin = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled === 80 * chunk.length) return controller.close();
      pulled += chunk.length;
      controller.enqueue(chunk);
    },
    cancel() {
      cancelled = true;
    },
  });
  let stderr = "";
  const status = await runClient(["--host", "127.0.0.1", "--port", String(daemon.port)], {
    stdin,
    stdout: () => {},
    stderr: (text) => stderr += text,
    sources: NO_SOURCES,
  });
  assert.equal(status, 2);
  assert.match(stderr, /^pedidos client: Cannot send stdin: it is larger than 64 MiB/);
  assert.ok(cancelled, "the rest of stdin is not read");
  assert.ok(pulled <= 66 * 1024 * 1024, `read ${pulled} bytes`);
  assert.deepEqual(daemon.lines, [], "nothing sent");
});

Deno.test("pipeWriter() writes everything, then drops what is left quietly once the reader is gone", () => {
  const written: number[] = [];
  let open = true;
  const file = {
    writeSync(p: Uint8Array): number {
      if (!open) throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
      // A short write: the rest must follow.
      const n = Math.min(p.length, 3);
      written.push(n);
      return n;
    },
  };
  const write = pipeWriter(file);
  write("hola\n");
  assert.deepEqual(written, [3, 2]);
  open = false;
  write("más\n");
  write("y más\n");
  const other = pipeWriter({
    writeSync(): number {
      throw new Deno.errors.PermissionDenied("no");
    },
  });
  assert.throws(
    () => other("x"),
    (error) => error instanceof OutputError && error.cause instanceof Deno.errors.PermissionDenied,
  );
});

Deno.test("runClient() stopped while it waits for an order says the order was received and goes on, and exits 130", async () => {
  // The order is accepted; its wait is never answered.
  await using daemon = fakeLineServer((line) =>
    JSON.parse(line).op === "ESTADO" ? null : accepted()
  );
  const stop = new AbortController();
  let stdout = "";
  const running = runClient(
    ["--host", "127.0.0.1", "--port", String(daemon.port), ...ORDER_WAITED],
    {
      stdout: (text) => {
        stdout += text;
        if (text.startsWith("⏳")) stop.abort(); // Ctrl-C while it waits
      },
      stderr: () => {},
      sources: NO_SOURCES,
      signal: stop.signal,
    },
  );
  assert.equal(await running, 130);
  assert.match(stdout, /Pedido 42 recibido \(pendiente\)/);
  assert.match(
    stdout,
    /⏹️ Espera interrumpida\. El pedido 42 fue recibido y sigue su curso: consúltelo con estado 42\./,
  );
});
