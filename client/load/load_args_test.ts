import assert from "node:assert/strict";
import { ConfigError } from "../../server/config/settings.ts";
import { parseLoadArgs } from "./load_args.ts";
import { NO_SOURCES as NOTHING } from "../testing/cli_harness.ts";

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
    // Longer than a timer can wait: it would stop at once, not never.
    [["--duracion", "3000000"], /--duracion "3000000"/],
    [["--tasa", "0.0001"], /--tasa "0.0001"/],
    [["--esperar", "--timeout-ms", "3000000000"], /--timeout-ms "3000000000"/],
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

Deno.test("parseLoadArgs() names the largest number it takes when one is past it", () => {
  for (const text of ["9007199254740992", "99999999999999999999"]) {
    assert.throws(
      () => parseLoadArgs(["--pedidos", text], NOTHING),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message ===
          `Invalid --pedidos "${text}": must be a whole number from 1 to 9007199254740991`,
      text,
    );
  }
  assert.throws(
    () => parseLoadArgs(["--clientes", "100001"], NOTHING),
    /Invalid --clientes "100001": must be a whole number from 1 to 100000/,
  );
  assert.equal(
    parseLoadArgs(["--pedidos", "9007199254740991"], NOTHING).options.pedidos,
    9007199254740991,
  );
});

Deno.test("parseLoadArgs() takes the last of a flag given twice, but refuses a bad earlier value", () => {
  assert.equal(parseLoadArgs(["--clientes", "1", "--clientes", "2"], NOTHING).options.clientes, 2);
  assert.throws(
    () => parseLoadArgs(["--clientes", "abc", "--clientes", "2"], NOTHING),
    /Invalid --clientes "abc"/,
  );
  assert.throws(
    () => parseLoadArgs(["--esperar", "--timeout-ms", "0", "--timeout-ms", "100"], NOTHING),
    /Invalid --timeout-ms "0"/,
  );
});

Deno.test("parseLoadArgs() refuses --tasa and --duracion in exponent notation saying the form it wants, and a --tasa past a million a second", () => {
  const refused: [string[], string][] = [
    [
      ["--tasa", "1e2"],
      'Invalid --tasa "1e2": must be a decimal number such as 2.5, from 0.001 to 1000000',
    ],
    [
      ["--tasa", "99999999999999999999999"],
      'Invalid --tasa "99999999999999999999999": must be a decimal number such as 2.5, from 0.001 to 1000000',
    ],
    [
      ["--duracion", "1e1"],
      'Invalid --duracion "1e1": must be a decimal number of seconds such as 2.5, above 0 and at most 2147483',
    ],
  ];
  for (const [args, message] of refused) {
    assert.throws(
      () => parseLoadArgs(args, NOTHING),
      (error: unknown) => error instanceof ConfigError && error.message === message,
      args.join(" "),
    );
  }
  assert.equal(parseLoadArgs(["--tasa", "1000000"], NOTHING).options.tasa, 1_000_000);
  assert.equal(parseLoadArgs(["--tasa", "0.001"], NOTHING).options.tasa, 0.001);
});
