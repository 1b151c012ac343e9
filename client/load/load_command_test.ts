import assert from "node:assert/strict";
import { ConfigError, type ConfigSources } from "../../server/config.ts";
import type { LoadSummary } from "./run_load.ts";
import {
  formatLoadSummary,
  formatProgress,
  LOAD_EXIT,
  LOAD_USAGE,
  loadJson,
  loadStatus,
  parseLoadArgs,
  runLoadCommand,
} from "./load_command.ts";
import { runMain, startInProcess, tempDir } from "../../tests/test_util.ts";

/** No environment, no env file: the tests see only their flags. */
const NOTHING: ConfigSources = { getEnv: () => undefined, readFile: () => null };

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (text: string) => void out.push(text),
      stderr: (text: string) => void err.push(text),
      sources: NOTHING,
      signal: new AbortController().signal,
      isTerminal: false,
    },
  };
}

const SUMMARY: LoadSummary = {
  enviados: 10,
  aceptados: 7,
  duplicados: 0,
  rechazados: 2,
  errores: 1,
  erroresPorTipo: { internal: 1 },
  conexiones: { abiertas: 2, fallidas: 0, perdidas: 0 },
  detalles: [],
  segundos: 0.5,
  porSegundo: 20,
  latenciaMs: { p50: 1, p95: 2, p99: 3, max: 4 },
  interrumpido: false,
  ids: [],
  esperar: null,
};

Deno.test("parseLoadArgs() has defaults, and --duracion alone means no order limit", () => {
  const plain = parseLoadArgs([], NOTHING);
  assert.deepEqual(
    {
      clientes: plain.options.clientes,
      pedidos: plain.options.pedidos,
      pipeline: plain.options.pipeline,
      tasa: plain.options.tasa,
      duracionMs: plain.options.duracionMs,
      esperar: plain.options.esperar,
      hosts: plain.options.hosts,
      port: plain.options.port,
    },
    {
      clientes: 10,
      pedidos: 10,
      pipeline: 1,
      tasa: null,
      duracionMs: null,
      esperar: false,
      hosts: ["localhost"],
      port: 8888,
    },
  );
  assert.equal(plain.json, false);
  const timed = parseLoadArgs(["--duracion", "2.5", "--tasa", "100"], NOTHING);
  assert.equal(timed.options.pedidos, Infinity);
  assert.equal(timed.options.duracionMs, 2500);
  assert.equal(timed.options.tasa, 100);
});

Deno.test("parseLoadArgs() reads every flag, and --host/--port from the environment", () => {
  const command = parseLoadArgs([
    "--clientes=50",
    "--pedidos",
    "20",
    "--pipeline",
    "8",
    "--clave-prefijo",
    "r1",
    "--esperar",
    "--timeout-ms",
    "5000",
    "--json",
  ], {
    getEnv: (name) => ({ PEDIDOS_PORT: "9999", PEDIDOS_HOST: "::1" })[name],
    readFile: () => null,
  });
  assert.equal(command.options.clientes, 50);
  assert.equal(command.options.pedidos, 20);
  assert.equal(command.options.pipeline, 8);
  assert.equal(command.options.clavePrefijo, "r1");
  assert.equal(command.options.esperar, true);
  assert.equal(command.options.esperarTimeoutMs, 5000);
  assert.equal(command.json, true);
  assert.equal(command.options.port, 9999);
  assert.deepEqual(command.options.hosts, ["::1"]);
});

Deno.test("parseLoadArgs() refuses bad values with a message naming the flag", () => {
  const bad: [string[], RegExp][] = [
    [["--clientes", "0"], /--clientes "0"/],
    [["--pedidos", "x"], /--pedidos "x"/],
    [["--pipeline", "-1"], /--pipeline "-1"/],
    [["--tasa", "0"], /--tasa "0"/],
    [["--duracion", "abc"], /--duracion "abc"/],
    [["--clave-prefijo", "x".repeat(101)], /--clave-prefijo/],
    [["--timeout-ms", "10"], /needs --esperar/],
    [["--nope"], /nope/],
    [["extra"], /extra/],
  ];
  for (const [args, message] of bad) {
    assert.throws(() => parseLoadArgs(args, NOTHING), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("loadJson() is exactly the spec's object, with listos and hasta_listos_s only with esperar", () => {
  assert.deepEqual(Object.keys(loadJson(SUMMARY, false)), [
    "enviados",
    "aceptados",
    "rechazados",
    "errores",
    "por_segundo",
    "latencia_ms",
  ]);
  assert.deepEqual(loadJson(SUMMARY, false).latencia_ms, { p50: 1, p95: 2, p99: 3, max: 4 });
  const waited = loadJson({
    ...SUMMARY,
    esperar: {
      listos: 7,
      conError: 0,
      sinTerminar: 0,
      hastaListosS: 1.25,
      latenciaMs: { p50: 1, p95: 1, p99: 1, max: 1 },
    },
  }, true);
  assert.deepEqual(waited, {
    enviados: 10,
    aceptados: 7,
    rechazados: 2,
    errores: 1,
    por_segundo: 20,
    latencia_ms: { p50: 1, p95: 2, p99: 3, max: 4 },
    listos: 7,
    hasta_listos_s: 1.25,
  });
  assert.deepEqual(loadJson(SUMMARY, true).hasta_listos_s, null, "not waited: null");
});

Deno.test("loadStatus() maps a run to its exit status", () => {
  const ok = { ...SUMMARY, errores: 0, erroresPorTipo: {} };
  assert.equal(loadStatus(ok, false), LOAD_EXIT.ok);
  assert.equal(loadStatus(SUMMARY, false), LOAD_EXIT.errors);
  assert.equal(loadStatus({ ...ok, interrumpido: true }, false), LOAD_EXIT.interrupted);
  assert.equal(
    loadStatus({ ...ok, conexiones: { abiertas: 0, fallidas: 3, perdidas: 0 } }, false),
    LOAD_EXIT.unreachable,
  );
  assert.equal(loadStatus(ok, true), LOAD_EXIT.errors, "esperar without all listo");
});

Deno.test("formatProgress() and formatLoadSummary() show the counts for people", () => {
  const line = formatProgress({
    fase: "enviando",
    segundos: 1.5,
    enviados: 10,
    aceptados: 7,
    rechazados: 2,
    errores: 1,
    porSegundo: 20,
    listos: null,
  });
  assert.equal(line, "1.5 s · enviados 10 · aceptados 7 · rechazados 2 · errores 1 · 20.0/s");
  const text = formatLoadSummary(SUMMARY, parseLoadArgs(["--clientes", "2"], NOTHING));
  assert.match(text, /enviados 10 · aceptados 7 · rechazados 2 · errores 1/);
  assert.match(text, /20\.0 pedidos\/s/);
  assert.match(text, /p50 1\.00 ms · p95 2\.00 ms · p99 3\.00 ms · máx 4\.00 ms/);
  assert.match(text, /errores +internal 1/);
});

Deno.test("runLoadCommand() --json prints only the spec's object", async () => {
  await using daemon = await startInProcess({ maxPedidos: 1000 });
  const { out, err, io } = capture();
  const status = await runLoadCommand([
    "--host",
    "127.0.0.1",
    "--port",
    String(daemon.port),
    "--clientes",
    "3",
    "--pedidos",
    "4",
    "--esperar",
    "--json",
  ], io);
  assert.equal(status, LOAD_EXIT.ok, err.join(""));
  assert.equal(out.length, 1);
  assert.ok(out[0]!.endsWith("}\n") && !out[0]!.includes("\r"));
  const json = JSON.parse(out[0]!);
  assert.deepEqual(Object.keys(json), [
    "enviados",
    "aceptados",
    "rechazados",
    "errores",
    "por_segundo",
    "latencia_ms",
    "listos",
    "hasta_listos_s",
  ]);
  assert.deepEqual(Object.keys(json.latencia_ms), ["p50", "p95", "p99", "max"]);
  assert.equal(json.enviados, 12);
  assert.equal(json.aceptados, 12);
  assert.equal(json.listos, 12);
  assert.equal(typeof json.hasta_listos_s, "number");
});

Deno.test("runLoadCommand() draws a progress line only on a terminal, and erases it", async () => {
  await using daemon = await startInProcess({ maxPedidos: 1000 });
  const args = ["--host", "127.0.0.1", "--port", String(daemon.port), "--duracion", "0.4"];
  const plain = capture();
  assert.equal(await runLoadCommand(args, plain.io), LOAD_EXIT.ok);
  assert.ok(!plain.out.join("").includes("\r"), "no progress when not a terminal");
  assert.match(plain.out.join(""), /^carga +10 clientes × ∞ pedidos/);

  const tty = capture();
  assert.equal(await runLoadCommand(args, { ...tty.io, isTerminal: true }), LOAD_EXIT.ok);
  const progress = tty.out.filter((text) => text.startsWith("\r") && text.length > 3);
  assert.ok(progress.length > 0, "at least one progress line");
  assert.match(progress[0]!, /enviados \d+ · aceptados \d+ · rechazados \d+ · errores \d+/);
  assert.ok(progress[0]!.endsWith("\x1b[K"));
  const erase = tty.out.indexOf("\r\x1b[K");
  assert.ok(erase > 0 && tty.out[erase + 1]!.startsWith("carga"), "erased before the summary");
});

Deno.test("runLoadCommand() with no daemon reports it and exits 3", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const { out, io } = capture();
  const status = await runLoadCommand(["--host", "127.0.0.1", "--port", String(port)], io);
  assert.equal(status, LOAD_EXIT.unreachable);
  assert.match(out.join(""), /fallidas 10/);
  assert.match(out.join(""), /Cannot connect to 127\.0\.0\.1 port/);
});

Deno.test("runLoadCommand() prints the usage for --help (0) and a bad flag (2)", async () => {
  const help = capture();
  assert.equal(await runLoadCommand(["--help"], help.io), LOAD_EXIT.ok);
  assert.equal(help.out.join(""), LOAD_USAGE);
  const bad = capture();
  assert.equal(await runLoadCommand(["--clientes", "none"], bad.io), LOAD_EXIT.usage);
  assert.match(bad.err.join(""), /^pedidos load: Invalid --clientes "none"/);
  assert.match(LOAD_USAGE, /--clave-prefijo P/);
  assert.match(LOAD_USAGE, /PEDIDOS_PORT/);
});

Deno.test("main.ts load runs as a subprocess and prints JSON", async () => {
  await using daemon = await startInProcess({ maxPedidos: 1000 });
  await using dir = await tempDir();
  const result = await runMain(dir.path, [
    "load",
    "--host",
    "127.0.0.1",
    "--port",
    String(daemon.port),
    "--clientes",
    "2",
    "--pedidos",
    "3",
    "--json",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).aceptados, 6);
});
