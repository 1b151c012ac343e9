/**
 * Processor modules (§11) through the wire: results in `resultado`, failed
 * attempts retried with a growing backoff up to `--max-intentos`, timeouts
 * (a module that honours its signal keeps its worker, one that does not is
 * replaced), results that cannot be stored, and modules that cannot load.
 */
import assert from "node:assert/strict";
import { Logger } from "../server/log.ts";
import { RetryPolicy } from "../server/orders/retry_policy.ts";
import type { ServerSettings } from "../server/server.ts";
import { scrape } from "./metrics_util.ts";
import {
  type InProcessDaemon,
  rawConnect,
  runMain,
  startInProcess,
  startSubprocess,
  tempDir,
  waitUntil,
} from "./test_util.ts";
import { testWith } from "./permissions.ts";
import { unusedPort } from "../client/testing/unused_port.ts";

const FIXTURES = new URL("./fixtures/processors/", import.meta.url);
const SCRIPTED = new URL("scripted.ts", FIXTURES).pathname;

function start(overrides: Partial<ServerSettings> = {}): Promise<InProcessDaemon> {
  return startInProcess({ processor: SCRIPTED, metricsPort: 0, ...overrides });
}

/** Sends one order and waits (up to 20 s) until it is finished; the order then. */
async function run(
  daemon: InProcessDaemon,
  cliente: string,
  productos: unknown[] = ["pan"],
): Promise<Record<string, unknown>> {
  await using conn = await rawConnect(daemon.port);
  await conn.write(JSON.stringify({ cliente, productos, direccion: "C 1" }) + "\n");
  const id = (await conn.readLine())?.id;
  assert.equal(typeof id, "number");
  await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":20000}\n`);
  const pedido = (await conn.readLine(22_000))?.pedido as Record<string, unknown>;
  assert.notEqual(pedido.estado, "pendiente", "finished within the wait");
  return pedido;
}

testWith("read")(
  "a processor module's result is stored in resultado and shown by ESTADO and LISTAR",
  async () => {
    await using daemon = await start();
    const pedido = await run(daemon, "ok", ["pan", { nombre: "agua", cantidad: 2 }]);
    assert.equal(pedido.estado, "listo");
    assert.deepEqual(pedido.resultado, { total: 3, intento: 1 });
    assert.equal(pedido.intentos, 1);
    await using conn = await rawConnect(daemon.port);
    await conn.write('{"op":"LISTAR","estado":"listo"}\n');
    const listed = (await conn.readLine())?.pedidos as Record<string, unknown>[];
    assert.deepEqual(listed[0]?.resultado, { total: 3, intento: 1 });
    assert.equal((await run(daemon, "nada")).resultado, null, "undefined is stored as null");
  },
);

testWith("read")(
  "a processor module sees the order as its attempt made it: en proceso, intentos counting it, its worker and start",
  async () => {
    await using daemon = await start();
    const pedido = await run(daemon, "seen");
    assert.equal(pedido.estado, "listo");
    const seen = pedido.resultado as Record<string, unknown>;
    assert.deepEqual(
      { estado: seen.estado, intentos: seen.intentos, worker: seen.worker, intento: seen.intento },
      { estado: "en proceso", intentos: 1, worker: pedido.worker, intento: 1 },
    );
    assert.equal(typeof seen.fecha_inicio, "string");
    assert.ok(
      Date.parse(seen.fecha_inicio as string) >= Date.parse(pedido.fecha_recibido as string),
      JSON.stringify({ seen, pedido }),
    );
  },
);

testWith("read", "write", "env")(
  "a processor module starts only once its attempt is committed: a kill then could not leave a run uncounted, its intento run again",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    Deno.env.set("PEDIDOS_TEST_DB", db);
    try {
      await using daemon = await start({ db, workers: 3, maxPedidos: 100 });
      await using conn = await rawConnect(daemon.port);
      const order = JSON.stringify({ cliente: "read-row", productos: ["pan"], direccion: "C 1" });
      await conn.write(`${order}\n`.repeat(30));
      const ids: number[] = [];
      for (let i = 0; i < 30; i++) ids.push((await conn.readLine())?.id as number);
      for (const id of ids) {
        await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":20000}\n`);
        const pedido = (await conn.readLine(22_000))?.pedido as Record<string, unknown>;
        assert.equal(pedido.estado, "listo", JSON.stringify(pedido));
        assert.deepEqual(pedido.resultado, { stored: 1, intento: 1 }, `order ${id}`);
      }
    } finally {
      Deno.env.delete("PEDIDOS_TEST_DB");
    }
  },
);

testWith("read")(
  "a module that keeps throwing ends error after --max-intentos attempts, its message in detalle_error",
  async () => {
    await using daemon = await start({ maxIntentos: 2 });
    const thrown = await run(daemon, "throw");
    assert.deepEqual([thrown.estado, thrown.intentos, thrown.detalle_error], [
      "error",
      2,
      "boom: throw",
    ]);
    assert.equal(thrown.resultado, null);
    const rejected = await run(daemon, "reject-text");
    assert.deepEqual([rejected.estado, rejected.detalle_error], [
      "error",
      "rejected with a string",
    ]);
    // A message holding what no store's text keeps (a NUL, a lone surrogate) is kept whole,
    // those two as U+FFFD.
    const odd = await run(daemon, "throw-odd");
    assert.deepEqual([odd.estado, odd.detalle_error], ["error", "boom\ufffdtail \ufffd!"]);
    const metrics = await scrape(daemon.server.metricsAddr!);
    assert.equal(metrics.value('pedidos_finalizados_total{estado="error"}'), 3);
    assert.equal(metrics.value("pedidos_workers_reiniciados_total"), 0, "a throw is no crash");
  },
);

testWith("read")(
  "failed attempts are retried after a backoff that doubles each time, within its jitter",
  async () => {
    const retryBackoffMs = 100;
    await using daemon = await start({ workers: 1, maxIntentos: 4, retryBackoffMs });
    const pedido = await run(daemon, "flaky-4");
    assert.equal(pedido.estado, "listo");
    assert.equal(pedido.intentos, 4);
    // The module recorded when each attempt started (one worker, one module instance).
    const { starts, intento } = pedido.resultado as { starts: number[]; intento: number };
    assert.equal(intento, 4);
    assert.equal(starts.length, 4);
    const policy = new RetryPolicy({ maxAttempts: 4, baseMs: retryBackoffMs });
    for (let attempt = 1; attempt < 4; attempt++) {
      const gap = starts[attempt]! - starts[attempt - 1]!;
      const [min] = policy.bounds(attempt);
      assert.ok(gap >= min - 2, `wait after attempt ${attempt}: ${gap} ms, at least ${min} ms`);
    }
    // The shortest wait allowed after each attempt exceeds the longest allowed after the one before.
    assert.ok(policy.bounds(2)[0] > policy.bounds(1)[1]);
    assert.ok(policy.bounds(3)[0] > policy.bounds(2)[1]);
  },
);

testWith("read")(
  "results that cannot be stored fail the attempt: 1 MB, cyclic, bigint",
  async () => {
    await using daemon = await start({ maxIntentos: 1 });
    const big = await run(daemon, "big");
    assert.equal(big.estado, "error");
    assert.match(big.detalle_error as string, /too large: \d+ bytes of JSON, at most 65536/);
    assert.equal(big.resultado, null);
    const cyclic = await run(daemon, "cycle");
    assert.equal(cyclic.estado, "error");
    assert.match(cyclic.detalle_error as string, /not JSON-serialisable/);
    const bigint = await run(daemon, "bigint");
    assert.match(bigint.detalle_error as string, /not JSON-serialisable/);
    assert.equal((await run(daemon, "ok")).estado, "listo", "the workers go on");
  },
);

testWith("read")(
  "a module that calls Deno.exit fails its attempt at once, not at --process-timeout-ms; the daemon goes on",
  async () => {
    await using daemon = await start({ workers: 1, maxIntentos: 2, processTimeoutMs: 600_000 });
    const pedido = await run(daemon, "exit");
    assert.deepEqual([pedido.estado, pedido.intentos], ["error", 2]);
    assert.match(pedido.detalle_error as string, /Deno\.exit\(3\) called by the processor module/);
    assert.equal((await run(daemon, "ok")).estado, "listo", "its worker goes on");
  },
);

testWith("read")(
  "an error a module leaves behind (a timer that throws, a promise that rejects) fails no order, and the worker goes on; self.close() fails its attempt at once",
  async () => {
    const lines: string[] = [];
    const logger = new Logger({ level: "warn", write: (line) => lines.push(line) });
    await using daemon = await startInProcess(
      {
        processor: SCRIPTED,
        metricsPort: 0,
        workers: 1,
        maxIntentos: 1,
        processTimeoutMs: 600_000,
      },
      { logger },
    );
    await using conn = await rawConnect(daemon.port);
    const send = (cliente: string) =>
      conn.write(JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1" }) + "\n");
    // The second order runs on the same worker while the first one's leftovers go off.
    await send("stray-100");
    await send("wait-400");
    const ids = [(await conn.readLine())?.id, (await conn.readLine())?.id];
    for (const id of ids) {
      await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":20000}\n`);
      const pedido = (await conn.readLine(22_000))?.pedido as Record<string, unknown>;
      assert.deepEqual([pedido.estado, pedido.detalle_error], ["listo", null], `order ${id}`);
    }
    // A flood of them is one log line a second, not one each.
    assert.equal((await run(daemon, "stray-flood")).estado, "listo");
    await new Promise((resolve) => setTimeout(resolve, 400));
    const strays = lines.filter((line) => / worker\.stray_error /.test(line));
    assert.ok(strays.length >= 1 && strays.length <= 3, strays.join("\n"));
    const closed = await run(daemon, "close");
    // An error thrown in a callback the attempt waits on: it fails at its timeout, saying so.
    await using quick = await start({ workers: 1, maxIntentos: 1, processTimeoutMs: 300 });
    const hung = await run(quick, "callback-throws");
    assert.equal(hung.estado, "error");
    assert.match(
      hung.detalle_error as string,
      /^Timed out after 300 ms .*; meanwhile the module threw outside it: boom in a callback$/,
    );
    assert.equal(closed.estado, "error");
    assert.match(closed.detalle_error as string, /self\.close\(\) called by the processor module/);
    assert.equal((await run(daemon, "ok")).estado, "listo", "its worker goes on");
  },
);

testWith("read")(
  "a processor module posting its own messages (null, a string, a malformed one) to the main thread does not stop the daemon: they are logged and ignored",
  async () => {
    const lines: string[] = [];
    await using daemon = await startInProcess({ processor: SCRIPTED, workers: 1 }, {
      logger: new Logger({ level: "warn", write: (line) => lines.push(line) }),
    });
    const pedido = await run(daemon, "post-junk");
    assert.deepEqual([pedido.estado, pedido.resultado], ["listo", { posted: 4 }]);
    assert.equal((await run(daemon, "ok")).estado, "listo", "the worker goes on");
    assert.ok(lines.some((line) => /worker\.unexpected_message/.test(line)), lines.join("\n"));
  },
);

testWith("read")(
  "an attempt over --process-timeout-ms is aborted: a module that honours its signal keeps its worker",
  async () => {
    await using daemon = await start({ workers: 1, maxIntentos: 2, processTimeoutMs: 200 });
    const pedido = await run(daemon, "honour-signal");
    assert.deepEqual([pedido.estado, pedido.intentos], ["error", 2]);
    assert.match(pedido.detalle_error as string, /^Timed out after 200 ms/);
    const metrics = await scrape(daemon.server.metricsAddr!);
    assert.equal(metrics.value("pedidos_workers_reiniciados_total"), 0);
  },
);

testWith("read")(
  "a result JSON keeps less of (a Map, NaN) is stored as JSON writes it, and the log says what changed where",
  async () => {
    const lines: string[] = [];
    await using daemon = await startInProcess(
      { processor: SCRIPTED, metricsPort: 0, workers: 1 },
      { logger: new Logger({ level: "warn", write: (line) => lines.push(line) }) },
    );
    const pedido = await run(daemon, "map");
    assert.equal(pedido.estado, "listo");
    assert.deepEqual(pedido.resultado, { totales: {}, media: null });
    const said = lines.filter((line) => /WARN processor\.result_changed /.test(line));
    assert.equal(said.length, 1, lines.join("\n"));
    assert.match(
      said[0]!,
      new RegExp(`id=${pedido.id} what="a Map, written \\{\\} at resultado\\.totales"`),
    );
    // A result JSON keeps whole says nothing.
    assert.equal((await run(daemon, "ok")).estado, "listo");
    assert.equal(lines.filter((line) => /result_changed/.test(line)).length, 1);
  },
);

for (const cliente of ["ignore-signal", "spin-3000"]) {
  testWith("read")(
    `a module that does not stop when its attempt is aborted (${cliente}) has its worker replaced`,
    async () => {
      const lines: string[] = [];
      await using daemon = await startInProcess(
        {
          processor: SCRIPTED,
          metricsPort: 0,
          workers: 1,
          maxIntentos: 1,
          processTimeoutMs: 200,
        },
        { logger: new Logger({ level: "warn", write: (line) => lines.push(line) }) },
      );
      const pedido = await run(daemon, cliente);
      assert.deepEqual([pedido.estado, pedido.intentos], ["error", 1]);
      assert.match(pedido.detalle_error as string, /^Timed out after 200 ms/);
      assert.equal(
        /did not stop 1000 ms after it was aborted: the module loops without yielding/.test(
          pedido.detalle_error as string,
        ),
        cliente.startsWith("spin"),
      );
      const metrics = await scrape(daemon.server.metricsAddr!);
      assert.equal(metrics.value("pedidos_workers_reiniciados_total"), 1);
      // Only a worker whose thread never got to the abort is called a runaway: Deno cannot stop
      // its thread, and the operator is told so.
      assert.equal(
        lines.some((line) => /ERROR worker\.runaway worker=1 runaways=1 /.test(line)),
        cliente.startsWith("spin"),
        lines.join("\n"),
      );
      const next = await run(daemon, "ok");
      assert.equal(next.estado, "listo", "the replacement worker runs the next order");
      assert.equal(metrics.value("pedidos_libres"), metrics.value("pedidos_capacidad"));
    },
  );
}

testWith("read")(
  "a module that loops without yielding past its time is tried again up to --max-intentos (§11), while its stuck threads are no more than the workers",
  async () => {
    await using daemon = await startInProcess({
      processor: SCRIPTED,
      workers: 2,
      maxIntentos: 2,
      processTimeoutMs: 200,
      retryBackoffMs: 10,
    }, { logger: new Logger({ level: "error", write: () => {} }) });
    // Each attempt spins 2.5 s: it is aborted at 200 ms, replaced 1 s later, and its thread
    // ends by itself after.
    const first = await run(daemon, "spin-2500");
    assert.deepEqual([first.estado, first.intentos], ["error", 2], "retried once, as any failure");
    assert.doesNotMatch(first.detalle_error as string, /not tried again/);
    // Two threads left spinning, as many as the workers: a third would be one more core.
    const second = await run(daemon, "spin-2500");
    assert.deepEqual([second.estado, second.intentos], ["error", 1]);
    assert.match(
      second.detalle_error as string,
      /not tried again: 3 attempts have left such threads since the daemon started, more than its 2 workers$/,
    );
    assert.equal((await run(daemon, "ok")).estado, "listo");
  },
);

for (
  const [fixture, reason] of [
    ["missing.ts", /Module not found|No such file|not found/i],
    ["no_default.ts", /default export must be a function, got undefined/],
    ["default_number.ts", /default export must be a function, got number/],
    ["default_class.ts", /default export must be a function, got a class/],
    ["throws_at_load.ts", /PROCESADOR_TOKEN is not set/],
  ] as const
) {
  testWith("read", "write", "run", "env")(
    `a processor module that cannot be used (${fixture}) stops the daemon at start: exit 2, naming the path`,
    async () => {
      await using dir = await tempDir();
      const path = new URL(fixture, FIXTURES).pathname;
      const out = await runMain(dir.path, [
        "server",
        "--port",
        "0",
        "--db",
        ":memory:",
        "--processor",
        path,
      ]);
      assert.equal(out.code, 2, out.stderr);
      assert.ok(out.stderr.includes(`Cannot load processor module "${path}"`), out.stderr);
      assert.match(out.stderr, reason);
      assert.doesNotMatch(out.stdout, /listening on/);
    },
  );
}

testWith("read", "write")(
  "an order waiting out its retry backoff at a stop is left pendiente and tried again at the next start",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    let id: number;
    {
      await using daemon = await start({ db, retryBackoffMs: 60_000 });
      await using conn = await rawConnect(daemon.port);
      await conn.write(
        JSON.stringify({ cliente: "flaky-2", productos: ["pan"], direccion: "C" }) + "\n",
      );
      id = (await conn.readLine())?.id as number;
      let pedido: Record<string, unknown> = {};
      await waitUntil(async () => {
        await conn.write(`{"op":"ESTADO","id":${id}}\n`);
        pedido = (await conn.readLine())?.pedido as Record<string, unknown>;
        return pedido.intentos === 1 && pedido.estado === "pendiente";
      }, { what: "the first attempt failed" });
      const summary = await daemon.server.shutdown();
      assert.equal(summary.pendientes, 1, "left pendiente for the next start");
    }
    await using again = await start({ db, retryBackoffMs: 60_000 });
    const pedido = await (async () => {
      await using conn = await rawConnect(again.port);
      await conn.write(`{"op":"ESTADO","id":${id},"esperar":true}\n`);
      return (await conn.readLine())?.pedido as Record<string, unknown>;
    })();
    assert.deepEqual([pedido.estado, pedido.intentos], ["listo", 2]);
    assert.deepEqual((pedido.resultado as { intento: number }).intento, 2);
  },
);

testWith("read")(
  "what a processor module posts for itself is checked like its result: no invalid JSON, nothing over the limits is stored",
  async () => {
    await using daemon = await startInProcess({
      processor: new URL("forges_done.ts", FIXTURES).pathname,
      maxIntentos: 1,
      workers: 1,
    });
    const badJson = await run(daemon, "badjson");
    assert.equal(badJson.estado, "error");
    assert.match(String(badJson.detalle_error), /not valid JSON/);
    const huge = await run(daemon, "huge");
    assert.equal(huge.estado, "error");
    assert.match(String(huge.detalle_error), /too large/);
    const long = await run(daemon, "longerror");
    assert.equal(long.estado, "error");
    assert.ok(String(long.detalle_error).length <= 2000, "detalle_error kept within its limit");
    // The handshake's failure posted by the module once the worker runs: ignored, not a crash.
    const forged = await run(daemon, "initfailed");
    assert.deepEqual([forged.estado, forged.resultado], ["listo", { fine: true }]);
    // A module that replaced JSON.stringify in its worker: its text is not JSON.
    const patched = await run(daemon, "patched");
    assert.equal(patched.estado, "error", JSON.stringify(patched));
    // Every order is still readable, one by one and listed.
    await using conn = await rawConnect(daemon.port);
    await conn.write('{"op":"LISTAR"}\n');
    const listed = await conn.readLine();
    assert.equal(listed?.ok, true, JSON.stringify(listed).slice(0, 300));
  },
);

testWith("read", "write", "run", "env")(
  "a processor module that takes seconds to fail at load never leaves the order port open: exit 2, and nothing listened meanwhile",
  async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/slow_to_fail.ts`;
    await Deno.writeTextFile(
      path,
      "await new Promise((resolve) => setTimeout(resolve, 1500));\n" +
        'throw new Error("late fail");\n' +
        "export default () => 1;\n",
    );
    // A port free now, for the daemon to be given.
    const port = unusedPort();
    const run = runMain(dir.path, [
      "server",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--db",
      `${dir.path}/p.db`,
      "--processor",
      path,
    ], { timeoutMs: 20_000 });
    // While the module loads, a load balancer's TCP check must not find the port up.
    let accepted = 0;
    for (let look = 0; look < 10; look++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        accepted++;
      } catch (error) {
        assert.ok(error instanceof Deno.errors.ConnectionRefused, String(error));
      }
    }
    const out = await run;
    assert.equal(out.code, 2, out.stderr);
    assert.ok(out.stderr.includes(`Cannot load processor module "${path}"`), out.stderr);
    assert.match(out.stderr, /late fail/);
    assert.equal(accepted, 0, "connections accepted while the module loaded");
    await assert.rejects(Deno.stat(`${dir.path}/p.db`), Deno.errors.NotFound, "no database made");
  },
);

testWith("read", "write", "run", "env")(
  "a processor module whose top level posts a worker's `ready` still cannot start the daemon when its default export is not a function: exit 2, naming the path",
  async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/forges_ready.ts`;
    await Deno.writeTextFile(
      path,
      'self.postMessage({ type: "ready", worker: 1 });\n' +
        "await new Promise((resolve) => setTimeout(resolve, 200));\n" +
        "export default 5;\n",
    );
    const out = await runMain(dir.path, [
      "server",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--db",
      ":memory:",
      "--processor",
      path,
    ], { timeoutMs: 20_000 });
    assert.equal(out.code, 2, out.stderr);
    assert.ok(out.stderr.includes(`Cannot load processor module "${path}"`), out.stderr);
    assert.match(out.stderr, /default export must be a function, got number/);
    assert.doesNotMatch(out.stdout, /listening on/);
  },
);

testWith("read", "write")(
  "a processor module whose top level posts an `init_failed` of its own does not stop a daemon whose module loads",
  async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/forges_init_failed.ts`;
    await Deno.writeTextFile(
      path,
      'self.postMessage({ type: "init_failed", message: "forged" });\n' +
        "export default () => ({ fine: true });\n",
    );
    await using daemon = await startInProcess({ processor: path, workers: 1 }, {
      logger: new Logger({ level: "error", write: () => {} }),
    });
    const pedido = await run(daemon, "ok");
    assert.deepEqual([pedido.estado, pedido.resultado], ["listo", { fine: true }]);
  },
);

testWith("read", "write")(
  "a processor module that sets self.onmessage for messages of its own still gets its orders: they end listo",
  async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/own_onmessage.ts`;
    await Deno.writeTextFile(
      path,
      "self.onmessage = () => {}; // written for a worker of its own\n" +
        "export default (pedido: { id: number }) => ({ id: pedido.id });\n",
    );
    await using daemon = await startInProcess({
      processor: path,
      workers: 1,
      maxIntentos: 1,
      processTimeoutMs: 2000,
    }, { logger: new Logger({ level: "error", write: () => {} }) });
    const pedido = await run(daemon, "ok");
    assert.deepEqual([pedido.estado, pedido.resultado], ["listo", { id: pedido.id }]);
  },
);

testWith("read", "write", "run", "env")(
  "a processor module's output goes to stderr (console, Deno.stdout, node:process): stdout keeps only the ready line and the summary",
  async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/chatty.ts`;
    await Deno.writeTextFile(
      path,
      'import process from "node:process";\n' +
        'console.log("loading the chatty module");\n' +
        "export default (pedido: { id: number }) => {\n" +
        '  console.log("log of", pedido.id);\n' +
        '  console.info("info of", pedido.id);\n' +
        "  console.table([{ id: pedido.id }]);\n" +
        "  Deno.stdout.writeSync(new TextEncoder().encode(`raw of ${pedido.id}\\n`));\n" +
        "  process.stdout.write(`node of ${pedido.id}\\n`);\n" +
        "  return { done: true };\n" +
        "};\n",
    );
    await using daemon = await startSubprocess(dir.path, [
      "--host",
      "127.0.0.1",
      "--db",
      ":memory:",
      "--workers",
      "1",
      "--processor",
      path,
    ]);
    await using conn = await rawConnect(daemon.port);
    await conn.write('{"cliente":"Ana","productos":["pan"],"direccion":"C 1"}\n');
    const id = (await conn.readLine())?.id;
    await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":20000}\n`);
    assert.equal(((await conn.readLine(22_000))?.pedido as { estado: string }).estado, "listo");
    daemon.kill("SIGTERM");
    const { code, stdout, stderr } = await daemon.exited();
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stdout, /chatty|log of|info of|raw of|node of/, stdout);
    assert.deepEqual(
      stdout.trim().split("\n").map((line) => line.split(" ")[0]),
      ["listening", "resumen", "duracion_ms"],
    );
    const lines = ["loading the chatty module", `log of ${id}`, `info of ${id}`];
    for (const text of [...lines, `raw of ${id}`, `node of ${id}`]) {
      assert.ok(stderr.includes(text), `stderr has ${text}: ${stderr}`);
    }
  },
);
