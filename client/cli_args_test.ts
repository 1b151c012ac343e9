import assert from "node:assert/strict";
import { ConfigError, type ConfigSources } from "../server/config/settings.ts";
import { parseClientArgs } from "./cli_args.ts";
import { parseLoadArgs } from "./load/load_args.ts";
import { parseWebConfig } from "./web/config.ts";
import { NO_SOURCES as NOTHING } from "./testing/cli_harness.ts";
import { testWith } from "../tests/permissions.ts";

Deno.test("parseClientArgs() builds each request", () => {
  const cases: [string[], Record<string, unknown>][] = [
    [["ping"], { kind: "ping", request: { op: "PING" } }],
    [["stats"], { kind: "stats", request: { op: "STATS" } }],
    [["estado", "7"], { kind: "estado", request: { op: "ESTADO", id: 7 } }],
    [["listar", "--cliente", "Ana"], { kind: "listar", request: { op: "LISTAR", cliente: "Ana" } }],
    [["listar", "--estado", "cancelado"], {
      kind: "listar",
      request: { op: "LISTAR", estado: "cancelado" },
    }],
    [["listar", "--estado", "EN-PROCESO"], {
      kind: "listar",
      request: { op: "LISTAR", estado: "en proceso" },
    }],
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

testWith("read")(
  "parseClientArgs() reads --host, --port and --json with the config precedence",
  () => {
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
  },
);

Deno.test("parseClientArgs() refuses bad usage with a ConfigError", () => {
  const cases: [string[], RegExp][] = [
    [["estado"], /estado ID/],
    [["estado", "abc"], /Invalid ID "abc"/],
    [["estado", "1", "2"], /estado ID/],
    [["listar", "--limit", "0"], /--limit "0"/],
    [["--cliente", "Ana", "--producto", "pan"], /Missing --direccion/],
    [["task"], /Missing task name/],
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

Deno.test("parseClientArgs() names the largest number it takes when one is past it", () => {
  const bound = "a whole number from 1 to 9007199254740991";
  const cases: [string[], string][] = [
    [["estado", "99999999999999999999"], `Invalid ID "99999999999999999999": must be ${bound}`],
    [["cancelar", "9007199254740992"], `Invalid ID "9007199254740992": must be ${bound}`],
    [
      ["listar", "--antes-de", "9007199254740992"],
      `Invalid --antes-de "9007199254740992": must be ${bound}`,
    ],
    [
      ["estado", "1", "--esperar", "--timeout-ms", "99999999999999999999"],
      'Invalid --timeout-ms "99999999999999999999": must be a whole number from 0 to 9007199254740991',
    ],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseClientArgs(args, NOTHING),
      (error) => error instanceof ConfigError && error.message === message,
      args.join(" "),
    );
  }
  const largest = parseClientArgs(["estado", "9007199254740991"], NOTHING);
  assert.deepEqual((largest as { request: unknown }).request, {
    op: "ESTADO",
    id: 9007199254740991,
  });
});

Deno.test("parseClientArgs() refuses listar --limit over 1000, the most the daemon lists, as it refuses 0", () => {
  for (const limit of ["0", "1001", "5000", "9007199254740992"]) {
    assert.throws(
      () => parseClientArgs(["listar", "--limit", limit], NOTHING),
      (error) =>
        error instanceof ConfigError &&
        error.message ===
          `Invalid --limit "${limit}": must be a whole number from 1 to 1000 (the daemon lists at most 1000 orders a request; page with --antes-de)`,
      limit,
    );
  }
  const most = parseClientArgs(["listar", "--limit", "1000"], NOTHING);
  assert.deepEqual((most as { request: unknown }).request, { op: "LISTAR", limit: 1000 });
});

Deno.test("parseClientArgs() takes the last of a flag given twice, but refuses a bad earlier value", () => {
  const command = parseClientArgs(["listar", "--limit", "5", "--limit", "7"], NOTHING);
  assert.equal((command as { request: { limit?: number } }).request.limit, 7);
  for (
    const [args, named] of [
      [
        ["estado", "1", "--esperar", "--timeout-ms", "abc", "--timeout-ms", "100"],
        /--timeout-ms "abc"/,
      ],
      [["listar", "--limit", "0", "--limit", "5"], /--limit "0"/],
    ] as const
  ) {
    assert.throws(() => parseClientArgs([...args], NOTHING), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, named);
      return true;
    }, args.join(" "));
  }
});

Deno.test("parseClientArgs(), parseLoadArgs() and parseWebConfig() let a flag win over the daemon's values in the shared environment and .env.local", () => {
  // PEDIDOS_PORT=0 is the daemon's "pick a free port": a good value for it, no port for a client.
  const shared: ConfigSources = {
    getEnv: (name) => ({ PEDIDOS_PORT: "0" } as Record<string, string>)[name],
    readFile: (path) => path === ".env.local" ? "PEDIDOS_PORT=0\nPEDIDOS_WORKERS=4\n" : null,
  };
  assert.equal(parseClientArgs(["ping", "--port", "9001"], shared).config.port, 9001);
  assert.equal(parseLoadArgs(["--port", "9001"], shared).config.port, 9001);
  assert.equal(parseWebConfig(["--port", "9001"], shared).port, 9001);
  // The environment wins over the file the same way.
  const inFile: ConfigSources = {
    getEnv: (name) => ({ PEDIDOS_PORT: "9002" } as Record<string, string>)[name],
    readFile: shared.readFile!,
  };
  assert.equal(parseClientArgs(["ping"], inFile).config.port, 9002);
  // A 0 in force is refused, saying what it is and what to give instead.
  assert.throws(
    () => parseClientArgs(["ping"], shared),
    (error) =>
      error instanceof ConfigError && /PEDIDOS_PORT "0" in the environment/.test(error.message) &&
      /free-port/.test(error.message) && /--port/.test(error.message),
  );
  // A bad value in force is still refused.
  assert.throws(() => parseClientArgs(["ping", "--port", "x"], shared), /--port "x"/);
});
