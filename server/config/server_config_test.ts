import assert from "node:assert/strict";
import { parseClientConfig } from "../../client/client_config.ts";
import {
  ConfigError,
  type ConfigSources,
  envName,
  ignoredPostgresVariables,
  wantsHelp,
} from "./settings.ts";
import {
  parseServerConfig,
  SERVER_SETTINGS,
  SERVER_USAGE,
  type ServerConfig,
} from "./server_config.ts";
import { testWith } from "../../tests/permissions.ts";

/** Sources with a fake environment and fake files; records what was asked. */
function fake(env: Record<string, string> = {}, files: Record<string, string> = {}) {
  const envAsked: string[] = [];
  const filesAsked: string[] = [];
  const sources: ConfigSources = {
    getEnv: (name) => {
      envAsked.push(name);
      return env[name];
    },
    readFile: (path) => {
      filesAsked.push(path);
      return files[path] ?? null;
    },
  };
  return { sources, envAsked, filesAsked };
}

const DEFAULTS: ServerConfig = {
  hosts: ["127.0.0.1", "::1"],
  port: 8888,
  workers: 3,
  maxPedidos: 6,
  processMs: { min: 1000, max: 3000 },
  db: "pedidos.db",
  sync: "full",
  drainTimeoutMs: 10000,
  idleTimeoutMs: 300000,
  maxRequestBytes: 65536,
  maxConnections: 1024,
  log: "info",
  leaseMs: 30000,
  sessionTtlS: 86400,
  processor: null,
  maxIntentos: 3,
  retryBackoffMs: 1000,
  processTimeoutMs: 60000,
  retainS: 604800,
  metricsPort: null,
  metricsHost: "127.0.0.1",
  maxReplyBytes: 1048576,
  maxWaiters: 10000,
  maxWaitersPerConnection: 128,
  maxLoginQueue: 1024,
  envFile: null,
};

Deno.test("parseServerConfig() returns the defaults when nothing is set", () => {
  const { sources, filesAsked } = fake();
  assert.deepEqual(parseServerConfig([], sources), DEFAULTS);
  assert.deepEqual(filesAsked, [".env.local"]);
});

Deno.test("parseServerConfig() reads each flag", () => {
  const cases: [string[], Partial<ServerConfig>][] = [
    [["--host", "0.0.0.0"], { hosts: ["0.0.0.0"] }],
    [["--port", "0"], { port: 0 }],
    [["--port=65535"], { port: 65535 }],
    [["--workers", "8"], { workers: 8 }],
    [["--max-pedidos", "20"], { maxPedidos: 20 }],
    [["--process-ms", "1500"], { processMs: { min: 1500, max: 1500 } }],
    [["--process-ms", "10-20"], { processMs: { min: 10, max: 20 } }],
    [["--db", ":memory:"], { db: ":memory:" }],
    [["--sync", "normal"], { sync: "normal" }],
    [["--drain-timeout-ms", "0"], { drainTimeoutMs: 0 }],
    [["--idle-timeout-ms", "5"], { idleTimeoutMs: 5 }],
    [["--max-request-bytes", "64"], { maxRequestBytes: 64 }],
    [["--max-connections", "2"], { maxConnections: 2 }],
    [["--processor", "procesar.ts"], { processor: "procesar.ts" }],
    [["--max-intentos", "5"], { maxIntentos: 5 }],
    [["--retry-backoff-ms", "0"], { retryBackoffMs: 0 }],
    [["--process-timeout-ms", "250"], { processTimeoutMs: 250 }],
    [["--retain-s", "0"], { retainS: 0 }],
    [["--metrics-port", "9100"], { metricsPort: 9100 }],
    [["--metrics-port", "OFF"], { metricsPort: null }],
    [["--metrics-host", "[::1]"], { metricsHost: "::1" }],
    [["--log", "debug"], { log: "debug" }],
    [["--log", "WARN"], { log: "warn" }],
    [["--session-ttl-s", "60"], { sessionTtlS: 60 }],
  ];
  for (const [args, expected] of cases) {
    assert.deepEqual(
      parseServerConfig(args, fake().sources),
      { ...DEFAULTS, ...expected },
      args.join(" "),
    );
  }
});

Deno.test("parseServerConfig() takes --host repeated and comma-separated", () => {
  const config = parseServerConfig(["--host", "a", "--host", "b,c"], fake().sources);
  assert.deepEqual(config.hosts, ["a", "b", "c"]);
  assert.deepEqual(parseServerConfig(["--host", "[::1], 127.0.0.1"], fake().sources).hosts, [
    "::1",
    "127.0.0.1",
  ]);
});

Deno.test("--host with a port is refused, naming it and --port; bare IPv6 addresses are hosts", () => {
  for (const host of ["127.0.0.1:8889", "localhost:8888", "[::1]:8888", "a,b:1"]) {
    assert.throws(
      () => parseServerConfig(["--host", host], fake().sources),
      /hosts without a port .*--port/,
      host,
    );
    assert.throws(
      () => parseClientConfig(["--host", host], fake().sources),
      /give the port with --port/,
      host,
    );
  }
  assert.deepEqual(parseServerConfig(["--host", "::1,fe80::1"], fake().sources).hosts, [
    "::1",
    "fe80::1",
  ]);
});

Deno.test('parseServerConfig() keeps "*" as the single host', () => {
  assert.deepEqual(parseServerConfig(["--host", "*"], fake().sources).hosts, ["*"]);
  assert.deepEqual(parseServerConfig(["--host", "::1,*"], fake().sources).hosts, ["*"]);
  assert.deepEqual(parseServerConfig([], fake({ PEDIDOS_HOST: "*" }).sources).hosts, ["*"]);
});

Deno.test("parseServerConfig() reads --process-ms 0 as no wait", () => {
  assert.deepEqual(parseServerConfig(["--process-ms", "0"], fake().sources).processMs, {
    min: 0,
    max: 0,
  });
});

type Key = keyof typeof SERVER_SETTINGS;
type Sample<K extends Key> = [text: string, value: ServerConfig[K]];

/**
 * Three distinct values per key, as text and as the value it must give: for
 * the flag, the environment and the env file.
 */
const SAMPLES: { [K in Key]: [Sample<K>, Sample<K>, Sample<K>] } = {
  hosts: [["a", ["a"]], ["b", ["b"]], ["c", ["c"]]],
  port: [["1", 1], ["2", 2], ["3", 3]],
  workers: [["1", 1], ["2", 2], ["3", 3]],
  maxPedidos: [["1", 1], ["2", 2], ["3", 3]],
  processMs: [["1", { min: 1, max: 1 }], ["2-4", { min: 2, max: 4 }], ["0", { min: 0, max: 0 }]],
  db: [
    ["a.db", "a.db"],
    ["postgres://u@h/b", "postgres://u@h/b"],
    [
      "postgresql://u:p@h:6543/c?sslmode=require",
      "postgresql://u:p@h:6543/c?sslmode=require",
    ],
  ],
  sync: [["normal", "normal"], ["full", "full"], ["normal", "normal"]],
  leaseMs: [["100", 100], ["2000", 2000], ["30000", 30000]],
  drainTimeoutMs: [["1", 1], ["2", 2], ["3", 3]],
  idleTimeoutMs: [["1", 1], ["2", 2], ["3", 3]],
  maxRequestBytes: [["100", 100], ["200", 200], ["300", 300]],
  maxConnections: [["1", 1], ["2", 2], ["3", 3]],
  log: [["debug", "debug"], ["warn", "warn"], ["error", "error"]],
  sessionTtlS: [["1", 1], ["2", 2], ["3", 3]],
  processor: [["a.ts", "a.ts"], ["b.ts", "b.ts"], ["file:///c.ts", "file:///c.ts"]],
  maxIntentos: [["1", 1], ["2", 2], ["3", 3]],
  retryBackoffMs: [["0", 0], ["2", 2], ["3", 3]],
  processTimeoutMs: [["1", 1], ["2", 2], ["3", 3]],
  retainS: [["0", 0], ["60", 60], ["3", 3]],
  metricsPort: [["0", 0], ["9100", 9100], ["off", null]],
  metricsHost: [["::1", "::1"], ["[::1]", "::1"], ["0.0.0.0", "0.0.0.0"]],
  maxReplyBytes: [["200000", 200000], ["300000", 300000], ["400000", 400000]],
  maxWaiters: [["1", 1], ["2", 2], ["3", 3]],
  maxWaitersPerConnection: [["1", 1], ["2", 2], ["3", 3]],
  maxLoginQueue: [["0", 0], ["1", 1], ["2", 2]],
};

Deno.test("parseServerConfig() applies flag > environment > env file > default, key by key", () => {
  for (const [key, setting] of Object.entries(SERVER_SETTINGS)) {
    const [[flagText, flagValue], [envText, envValue], [fileText, fileValue]] = SAMPLES[key as Key];
    const name = envName(setting.flag);
    const args = [`--${setting.flag}`, flagText];
    const env = { [name]: envText };
    const files = { ".env.local": `${name}=${fileText}\n` };
    const get = (config: ServerConfig) => config[key as keyof ServerConfig];

    assert.deepEqual(get(parseServerConfig(args, fake(env, files).sources)), flagValue, key);
    assert.deepEqual(get(parseServerConfig([], fake(env, files).sources)), envValue, key);
    assert.deepEqual(get(parseServerConfig([], fake({}, files).sources)), fileValue, key);
    assert.deepEqual(get(parseServerConfig([], fake().sources)), DEFAULTS[key as Key], key);
    // the other keys keep their defaults
    const only = parseServerConfig(args, fake().sources);
    for (const [other, value] of Object.entries(DEFAULTS)) {
      if (other !== key) {
        assert.deepEqual(only[other as keyof ServerConfig], value, `${key} ${other}`);
      }
    }
  }
});

Deno.test("parseServerConfig() reads .env.local only when it exists", () => {
  const absent = fake();
  assert.equal(parseServerConfig([], absent.sources).envFile, null);
  assert.deepEqual(absent.filesAsked, [".env.local"]);

  const present = fake({}, { ".env.local": "# comment\nPEDIDOS_WORKERS=5\nOTHER=1\n" });
  const config = parseServerConfig([], present.sources);
  assert.equal(config.envFile, ".env.local");
  assert.equal(config.workers, 5);
});

Deno.test("parseServerConfig() reads --env-file or PEDIDOS_ENV_FILE instead of .env.local", () => {
  const files = {
    ".env.local": "PEDIDOS_PORT=1\n",
    "x.env": "PEDIDOS_PORT=2\n",
    "y.env": "PEDIDOS_PORT=3\n",
  };
  const byFlag = fake({ PEDIDOS_ENV_FILE: "y.env" }, files);
  const config = parseServerConfig(["--env-file", "x.env"], byFlag.sources);
  assert.equal(config.port, 2);
  assert.equal(config.envFile, "x.env");
  assert.deepEqual(byFlag.filesAsked, ["x.env"]);

  const byEnv = parseServerConfig([], fake({ PEDIDOS_ENV_FILE: "y.env" }, files).sources);
  assert.equal(byEnv.port, 3);
  assert.equal(byEnv.envFile, "y.env");
});

Deno.test("parseServerConfig() refuses a named env file that does not exist", () => {
  assert.throws(
    () => parseServerConfig(["--env-file", "nope.env"], fake().sources),
    (error) => error instanceof ConfigError && /nope\.env/.test(error.message),
  );
  assert.throws(
    () => parseServerConfig([], fake({ PEDIDOS_ENV_FILE: "gone.env" }).sources),
    (error) => error instanceof ConfigError && /gone\.env.*does not exist/.test(error.message),
  );
});

testWith("read", "write", "env")(
  "parseServerConfig() reads a real env file without writing Deno.env",
  () => {
    const dir = Deno.makeTempDirSync();
    try {
      const path = `${dir}/test.env`;
      Deno.writeTextFileSync(path, "PEDIDOS_MAX_PEDIDOS=17\nPEDIDOS_GATEWAY_THING=x\n");
      const before = Deno.env.get("PEDIDOS_MAX_PEDIDOS");
      const config = parseServerConfig(["--env-file", path], { getEnv: () => undefined });
      assert.equal(config.maxPedidos, 17);
      assert.equal(config.envFile, path);
      assert.equal(Deno.env.get("PEDIDOS_MAX_PEDIDOS"), before);
      assert.throws(
        () => parseServerConfig(["--env-file", `${dir}/missing.env`], { getEnv: () => undefined }),
        ConfigError,
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

Deno.test("parseServerConfig() ignores unknown PEDIDOS_ keys and asks only for known names", () => {
  const { sources, envAsked } = fake(
    { PEDIDOS_WEB_PORT: "nonsense" },
    { ".env.local": "PEDIDOS_CLIENTES=abc\nPEDIDOS_WEB_HOST=x\n" },
  );
  assert.deepEqual(parseServerConfig([], sources), { ...DEFAULTS, envFile: ".env.local" });
  const known = new Set([
    "PEDIDOS_ENV_FILE",
    ...Object.values(SERVER_SETTINGS).map((s) => envName(s.flag)),
  ]);
  for (const name of envAsked) assert.ok(known.has(name), name);
});

Deno.test("parseServerConfig() refuses an empty value from the environment or env file, naming the variable", () => {
  for (const [key, setting] of Object.entries(SERVER_SETTINGS)) {
    if (key === "processor") continue; // empty is its documented "none" (next test)
    const name = envName(setting.flag);
    for (const value of ["", "  "]) {
      assert.throws(
        () => parseServerConfig([], fake({ [name]: value }).sources),
        (error) =>
          error instanceof ConfigError && error.message.includes(`${name} ""`) &&
          error.message.includes("in the environment"),
        `${name}=${JSON.stringify(value)}`,
      );
      assert.throws(
        () => parseServerConfig([], fake({}, { ".env.local": `${name}=${value}\n` }).sources),
        (error) =>
          error instanceof ConfigError && error.message.includes(`${name} ""`) &&
          error.message.includes("in env file .env.local"),
        `${name}=${JSON.stringify(value)} in .env.local`,
      );
    }
    // as the flag is
    assert.throws(() => parseServerConfig([`--${setting.flag}`, ""], fake().sources), ConfigError);
  }
  // An empty environment value does not fall through to the env file either.
  assert.throws(
    () =>
      parseServerConfig(
        [],
        fake({ PEDIDOS_WORKERS: "" }, { ".env.local": "PEDIDOS_WORKERS=5\n" }).sources,
      ),
    /PEDIDOS_WORKERS "" in the environment/,
  );
});

Deno.test("parseServerConfig() reads an empty PEDIDOS_PROCESSOR as no processor module, as the env files document", () => {
  assert.equal(parseServerConfig([], fake({ PEDIDOS_PROCESSOR: "" }).sources).processor, null);
  const files = { ".env.local": "PEDIDOS_PROCESSOR=\n" };
  assert.equal(parseServerConfig([], fake({}, files).sources).processor, null);
  // The environment's empty value beats the env file's module.
  const both = fake({ PEDIDOS_PROCESSOR: "" }, { ".env.local": "PEDIDOS_PROCESSOR=a.ts\n" });
  assert.equal(parseServerConfig([], both.sources).processor, null);
});

Deno.test("parseServerConfig() refuses an empty PEDIDOS_ENV_FILE as --env-file '' is refused", () => {
  assert.throws(
    () => parseServerConfig([], fake({ PEDIDOS_ENV_FILE: "" }).sources),
    (error) => error instanceof ConfigError && /PEDIDOS_ENV_FILE ""/.test(error.message),
  );
  assert.throws(() => parseServerConfig(["--env-file", ""], fake().sources), ConfigError);
});

Deno.test("parseServerConfig() makes an unset --max-reply-bytes fit one order of any --max-request-bytes", () => {
  const cases: [string[], Record<string, string>, Record<string, string>, number][] = [
    [[], {}, {}, 1_048_576],
    [["--max-request-bytes", "1000000"], {}, {}, 1_000_000 + 69_632],
    [[], { PEDIDOS_MAX_REQUEST_BYTES: "1000000" }, {}, 1_069_632],
    [[], {}, { ".env.local": "PEDIDOS_MAX_REQUEST_BYTES=4000000\n" }, 4_069_632],
    [["--max-request-bytes", "979000"], {}, {}, 1_048_632],
    [["--max-request-bytes", "978944"], {}, {}, 1_048_576],
  ];
  for (const [args, env, files, expected] of cases) {
    const config = parseServerConfig(args, fake(env, files).sources);
    assert.equal(config.maxReplyBytes, expected, JSON.stringify([args, env, files]));
  }
});

Deno.test("parseServerConfig() refuses a --max-reply-bytes set too small for --max-request-bytes, naming both and why", () => {
  const cases: [string[], Record<string, string>, Record<string, string>, RegExp][] = [
    [
      ["--max-request-bytes", "1000000", "--max-reply-bytes", "1048576"],
      {},
      {},
      /^Invalid --max-reply-bytes 1048576: must be at least 1069632 for --max-request-bytes 1000000 .*one order always fits/,
    ],
    [
      ["--max-request-bytes", "1000000"],
      { PEDIDOS_MAX_REPLY_BYTES: "1048576" },
      {},
      /PEDIDOS_MAX_REPLY_BYTES=1048576 in the environment: must be at least 1069632 for --max-request-bytes 1000000/,
    ],
    [
      [],
      { PEDIDOS_MAX_REQUEST_BYTES: "1000000" },
      { ".env.local": "PEDIDOS_MAX_REPLY_BYTES=1048576\n" },
      /PEDIDOS_MAX_REPLY_BYTES=1048576 in env file \.env\.local: .* for PEDIDOS_MAX_REQUEST_BYTES=1000000 in the environment/,
    ],
    [
      ["--max-reply-bytes", "100000"],
      {},
      {},
      /--max-reply-bytes 100000: must be at least 135168 for the default --max-request-bytes 65536/,
    ],
  ];
  for (const [args, env, files, pattern] of cases) {
    assert.throws(
      () => parseServerConfig(args, fake(env, files).sources),
      (error) => error instanceof ConfigError && pattern.test(error.message),
      JSON.stringify([args, env, files]),
    );
  }
  // Exactly one order's room is enough.
  const fits = ["--max-request-bytes", "1000000", "--max-reply-bytes", "1069632"];
  assert.equal(parseServerConfig(fits, fake().sources).maxReplyBytes, 1_069_632);
});

const BAD: [flag: string, value: string][] = [
  ["port", "abc"],
  ["port", "70000"],
  ["port", "-1"],
  ["workers", "2.5"],
  ["workers", "0"],
  ["workers", "abc"],
  ["max-pedidos", "0"],
  ["process-ms", "5-2"],
  ["process-ms", "x"],
  ["process-ms", "1-"],
  ["sync", "fast"],
  ["log", "loud"],
  ["max-request-bytes", "63"],
  ["idle-timeout-ms", "0"],
  ["host", ","],
  ["session-ttl-s", "0"],
  ["session-ttl-s", "1h"],
  ["max-intentos", "0"],
  ["retry-backoff-ms", "-1"],
  ["process-timeout-ms", "0"],
  ["retain-s", "7d"],
  ["metrics-port", "65536"],
  ["metrics-port", "on"],
  // Past what a timer can wait (setTimeout would fire at once), or what the
  // semaphore or a thread count can hold: refused, not failing later.
  ["process-ms", "3000000000"],
  ["process-ms", "0-86400001"],
  ["drain-timeout-ms", "3000000000"],
  ["idle-timeout-ms", "2147483648"],
  ["max-pedidos", "1073741824"],
  ["workers", "1025"],
  ["max-request-bytes", "9007199254740991"],
  ["max-reply-bytes", "268435457"],
];

Deno.test("parseServerConfig() refuses bad values from flags", () => {
  for (const [flag, value] of BAD) {
    assert.throws(
      () => parseServerConfig([`--${flag}`, value], fake().sources),
      (error) =>
        error instanceof ConfigError && error.message.includes(`--${flag} "${value}"`) &&
        !error.message.endsWith("."),
      `--${flag} ${value}`,
    );
  }
});

Deno.test("parseServerConfig() refuses a bad value given before a good one for the same flag", () => {
  // --host may be repeated: its values add up, and are refused together.
  for (const [flag, value] of BAD.filter(([flag]) => flag !== "host")) {
    assert.throws(
      () => parseServerConfig([`--${flag}`, value, `--${flag}`, "2"], fake().sources),
      (error) => error instanceof ConfigError && error.message.includes(`--${flag} "${value}"`),
      `--${flag} ${value} --${flag} 2`,
    );
  }
});

Deno.test("parseServerConfig() takes the last of good values given for the same flag", () => {
  const config = parseServerConfig(
    ["--workers", "2", "--port", "9000", "--workers", "5", "--port", "0"],
    fake().sources,
  );
  assert.equal(config.workers, 5);
  assert.equal(config.port, 0);
});

Deno.test("parseServerConfig() refuses bad values from the environment, naming the variable", () => {
  for (const [flag, value] of BAD) {
    const name = envName(flag);
    assert.throws(
      () => parseServerConfig([], fake({ [name]: value }).sources),
      (error) =>
        error instanceof ConfigError && error.message.includes(`${name} "${value}"`) &&
        error.message.includes("environment"),
      `${name}=${value}`,
    );
  }
});

Deno.test("parseServerConfig() refuses bad values from the env file, naming the variable and file", () => {
  for (const [flag, value] of BAD) {
    const name = envName(flag);
    const files = { ".env.local": `${name}=${value}\n` };
    assert.throws(
      () => parseServerConfig([], fake({}, files).sources),
      (error) =>
        error instanceof ConfigError && error.message.includes(`${name} "${value}"`) &&
        error.message.includes("env file .env.local"),
      `${name}=${value} in .env.local`,
    );
  }
});

Deno.test("parseServerConfig() refuses a bad value in the environment or the env file even where a flag or the environment overrides it", () => {
  for (const [flag, value] of BAD.filter(([flag]) => flag !== "host")) {
    const name = envName(flag);
    const good = ({
      "process-ms": "0",
      sync: "full",
      log: "info",
      "max-request-bytes": "1024",
      "max-reply-bytes": "1048576",
    } as Record<
      string,
      string
    >)[flag] ?? "2";
    // Overridden by a good flag: refused all the same, naming where it is.
    assert.throws(
      () => parseServerConfig([`--${flag}`, good], fake({ [name]: value }).sources),
      (error) =>
        error instanceof ConfigError && error.message.includes(`${name} "${value}"`) &&
        error.message.includes("environment"),
      `${name}=${value} under --${flag} ${good}`,
    );
    // In the env file, overridden by a good environment.
    const files = { ".env.local": `${name}=${value}\n` };
    assert.throws(
      () => parseServerConfig([], fake({ [name]: good }, files).sources),
      (error) =>
        error instanceof ConfigError && error.message.includes(`${name} "${value}"`) &&
        error.message.includes("env file .env.local"),
      `${name}=${value} in .env.local under ${name}=${good}`,
    );
  }
  // Good values everywhere: the flag's is in force, then the environment's.
  const files = { ".env.local": "PEDIDOS_WORKERS=4\nPEDIDOS_PORT=9100\n" };
  const config = parseServerConfig(
    ["--workers", "2"],
    fake({ PEDIDOS_WORKERS: "3", PEDIDOS_PORT: "9200" }, files).sources,
  );
  assert.deepEqual([config.workers, config.port], [2, 9200]);
});

Deno.test("parseServerConfig() refuses an env file line that is not NAME=value, naming the file and line", () => {
  const files = { "x.env": "PEDIDOS_WORKERS=2\n\nPEDIDOS_PORT 9504\n" };
  assert.throws(
    () => parseServerConfig(["--env-file", "x.env"], fake({}, files).sources),
    (error) =>
      error instanceof ConfigError &&
      error.message.includes("line 3 of env file x.env") &&
      error.message.includes('"PEDIDOS_PORT"'),
  );
  // The client reads the same file the same way.
  assert.throws(
    () => parseClientConfig([], fake({}, { ".env.local": "PEDIDOS_PORT 9504\n" }).sources),
    (error) => error instanceof ConfigError && error.message.includes("line 1 of env file"),
  );
});

Deno.test("parseServerConfig() refuses unknown flags, missing values and arguments", () => {
  const cases: [string[], RegExp][] = [
    [["--nope"], /Unknown option '--nope'/],
    [["--port"], /--port.*missing/],
    [["--port", "--workers", "3"], /--port.*ambiguous/],
    // A forgotten value is named as such, with the way to give one that starts with "-".
    [["--workers", "--log", "debug"], /'--workers'.*value missing.*--workers=VALUE/],
    [["extra"], /Unexpected argument 'extra'/],
    [["--db", ""], /--db ""/],
  ];
  for (const [args, pattern] of cases) {
    assert.throws(() => parseServerConfig(args, fake().sources), (error) => {
      return error instanceof ConfigError && error.name === "ConfigError" &&
        pattern.test(error.message);
    }, args.join(" "));
  }
});

Deno.test("parseServerConfig() returns a frozen object", () => {
  const config = parseServerConfig([], fake().sources);
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.hosts));
  assert.ok(Object.isFrozen(config.processMs));
  assert.throws(() => {
    (config as { port: number }).port = 1;
  }, TypeError);
});

Deno.test("SERVER_USAGE names every flag, its variable and default", () => {
  for (const setting of Object.values(SERVER_SETTINGS)) {
    assert.ok(SERVER_USAGE.includes(`--${setting.flag} `), setting.flag);
    assert.ok(SERVER_USAGE.includes(envName(setting.flag)), setting.flag);
    assert.ok(SERVER_USAGE.includes(setting.shown), setting.flag);
  }
  assert.ok(SERVER_USAGE.includes("--env-file"));
});

Deno.test("wantsHelp() finds --help and -h before --", () => {
  assert.equal(wantsHelp(["--port", "1", "--help"]), true);
  assert.equal(wantsHelp(["-h"]), true);
  assert.equal(wantsHelp(["--", "--help"]), false);
  assert.equal(wantsHelp([]), false);
  // parseServerConfig() accepts and ignores them: main.ts prints the usage first.
  assert.deepEqual(parseServerConfig(["--help"], fake().sources), DEFAULTS);
  assert.deepEqual(parseServerConfig(["-h", "--port", "1"], fake().sources), {
    ...DEFAULTS,
    port: 1,
  });
});

Deno.test("parseClientConfig() defaults to localhost:8888 and maps * to localhost", () => {
  assert.deepEqual(parseClientConfig([], fake().sources), {
    hosts: ["localhost"],
    port: 8888,
    envFile: null,
  });
  assert.deepEqual(parseClientConfig(["--host", "*"], fake().sources).hosts, ["localhost"]);
  const fromEnv = parseClientConfig(
    [],
    fake({ PEDIDOS_HOST: "::1,127.0.0.1", PEDIDOS_PORT: "9" }).sources,
  );
  assert.deepEqual(fromEnv.hosts, ["::1", "127.0.0.1"]);
  assert.equal(fromEnv.port, 9);
  assert.throws(() => parseClientConfig(["--port", "0"], fake().sources), ConfigError);
  assert.throws(() => parseClientConfig(["--workers", "2"], fake().sources), ConfigError);
  assert.ok(Object.isFrozen(parseClientConfig([], fake().sources)));
});

Deno.test("parseServerConfig() refuses a PostgreSQL URL it cannot use, without showing its password", () => {
  const cases: [string, RegExp][] = [
    ["postgres://ana:s3cret@/pedidos", /must be a URL/],
    ["postgres://ana:s3cret@[::1/pedidos", /must be a URL/],
    ["postgres://:s3cret@db/pedidos", /must name a user/],
    ["postgres://ana:s3cret@db", /must name one database/],
    ["postgres://ana:s3cret@127.0.0.1,127.0.0.2:5432/pedidos", /names several hosts/],
    ["postgres://ana:s3cret@db1:5432,db2:5433/pedidos", /names several hosts|must be a URL/],
    ["postgres://ana:s3cret@db/pedidos?sslmode=sometimes", /sslmode "sometimes"/],
    ["postgres://ana:s3cret@db/pedidos?pool=9", /unknown parameter "pool"/],
    [
      "mysql://ana:s3cret@db/pedidos",
      /mysql:\/\/ database, which pedidos cannot use.*postgres:\/\//,
    ],
    ["file://ana:s3cret@db/pedidos.db", /file:\/\/ database, which pedidos cannot use.*SQLite/],
  ];
  // A URL with something before its scheme (a quote an env file kept), or a mistyped scheme.
  for (
    const db of [
      '"postgres://ana:s3cret@db/pedidos"',
      "'postgres://ana:s3cret@db/pedidos'",
      "<postgres://ana:s3cret@db/pedidos>",
      "db=postgres://ana:s3cret@db/pedidos",
      "postgres//ana:s3cret@db/pedidos",
      "postgres;//ana:s3cret@db/pedidos",
      '"postgres://ana:s3@cret@db/pedidos',
      // No scheme:// at all: the scheme forgotten, or taken for the user.
      "ana:s3cret@db/pedidos",
    ]
  ) cases.push([db, /does not start with postgres:\/\/ or postgresql:\/\//]);
  cases.push(["postgres:s3cret@127.0.0.1:5432/pedidos", /must start with postgres:\/\//]);
  // A file's name with ":" and "@" in it is still one (shown masked all the same).
  for (const db of ["backup:2026@x.db", "a:b@c.db"]) {
    assert.equal(parseServerConfig(["--db", db], fake().sources).db, db);
  }
  // No "@" at all: the host left out, or the value cut short (at a "#" of an env file's line).
  cases.push(["postgres://postgres:s3cret", /must be a URL/]);
  cases.push(["postgresql://ana:s3cret/pedidos", /must be a URL|must name/]);
  // A password as a parameter is masked too.
  cases.push(["postgres://ana@db/pedidos?password=s3cret", /unknown parameter "password"/]);
  cases.push(["postgres://ana@db/pedidos?sslmode=x&PASS=s3cret#y", /unknown parameter "PASS"/]);
  for (const [db, reason] of cases) {
    const tries: [string[], ConfigSources][] = [
      [["--db", db], fake().sources],
      [[], fake({ PEDIDOS_DB: db }).sources],
    ];
    for (const [args, sources] of tries) {
      let message = "";
      try {
        parseServerConfig(args, sources);
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        message = error.message;
      }
      assert.match(message, reason, db);
      assert.match(
        message,
        /:\*\*\*(@|\/|"|$)|password=\*\*\*|PASS=\*\*\*/,
        "shown with its password masked",
      );
      assert.doesNotMatch(message, /s3cret/, "the password is not shown");
    }
  }
});

Deno.test("parseServerConfig() refuses a --metrics-port that is the daemon's own port on the same address", () => {
  assert.throws(
    () => parseServerConfig(["--port", "9100", "--metrics-port", "9100"], fake().sources),
    (error) =>
      error instanceof ConfigError && /--metrics-port 9100: it is the daemon's own port/.test(
        error.message,
      ),
  );
  assert.throws(
    () =>
      parseServerConfig([], fake({ PEDIDOS_PORT: "9100", PEDIDOS_METRICS_PORT: "9100" }).sources),
    ConfigError,
  );
  // Another address, or port 0 for both (each picks its own): fine.
  const apart = ["--host", "10.0.0.5", "--port", "9100", "--metrics-port", "9100"];
  assert.equal(parseServerConfig(apart, fake().sources).metricsPort, 9100);
  assert.equal(
    parseServerConfig(["--port", "0", "--metrics-port", "0"], fake().sources).metricsPort,
    0,
  );
});

Deno.test("parseServerConfig() reads the first variable of an env file saved with a byte order mark", () => {
  const files = { ".env.local": "\uFEFFPEDIDOS_WORKERS=2\nPEDIDOS_PORT=9001\n" };
  const config = parseServerConfig([], fake({}, files).sources);
  assert.equal(config.workers, 2, "the first line's variable, after the mark");
  assert.equal(config.port, 9001);
  const client = parseClientConfig(
    [],
    fake({}, { ".env.local": "\uFEFFPEDIDOS_PORT=9002\n" }).sources,
  );
  assert.equal(client.port, 9002);
});

Deno.test("parseServerConfig() refuses a bad value an env file sets before a good one of the same name", () => {
  const files = { ".env.local": "PEDIDOS_WORKERS=abc\nPEDIDOS_PORT=1\nPEDIDOS_WORKERS=2\n" };
  assert.throws(
    () => parseServerConfig([], fake({}, files).sources),
    (error) =>
      error instanceof ConfigError && error.message.includes('PEDIDOS_WORKERS "abc"') &&
      error.message.includes("env file .env.local"),
  );
  // Good values set twice: the last is in force, as parseEnv reads it.
  const twice = { ".env.local": 'PEDIDOS_WORKERS=4\nexport PEDIDOS_WORKERS="2"\nA="x\ny"\n' };
  assert.equal(parseServerConfig([], fake({}, twice).sources).workers, 2);
  // Even where a flag overrides them.
  assert.throws(
    () => parseServerConfig(["--workers", "3"], fake({}, files).sources),
    (error) => error instanceof ConfigError && error.message.includes('PEDIDOS_WORKERS "abc"'),
  );
});

Deno.test("parseServerConfig() says so when an env file's lines end with CR alone", () => {
  const sources = fake({}, { ".env.local": "PEDIDOS_WORKERS=2\rPEDIDOS_PORT=9000\r" }).sources;
  assert.throws(() => parseServerConfig([], sources), /line 1 .*CR alone/);
});

Deno.test("ignoredPostgresVariables() names the PG variables of an env file a PostgreSQL daemon will not read", () => {
  const file = () =>
    "PEDIDOS_WORKERS=2\nPGPASSWORD=s3cret\nPGSSLMODE=require\nPGADMIN_X=1\nOTRA=1\n";
  const pg = "postgres://ana@db/pedidos";
  const ignored = ignoredPostgresVariables(".env.local", pg, () => false, file);
  assert.deepEqual(ignored.map((v) => v.name), ["PGPASSWORD", "PGSSLMODE"]);
  assert.match(ignored[0]!.reason, /environment only/);
  assert.match(ignored[1]!.reason, /URL gives/);
  // Loaded into the environment as well (compose's env_file, set -a): used, so not named.
  const both = ignoredPostgresVariables(".env.local", pg, (name) => name === "PGPASSWORD", file);
  assert.deepEqual(both.map((v) => v.name), ["PGSSLMODE"]);
  // A SQLite daemon reads none of them, and they are nobody's business there.
  assert.deepEqual(ignoredPostgresVariables(".env.local", "pedidos.db", () => false, file), []);
});
