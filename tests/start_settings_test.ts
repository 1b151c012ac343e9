/**
 * The real daemon process, started with settings an outside audit found
 * refused or mishandled: a large --max-request-bytes, overlapping --host
 * lists, and empty values in the environment or env file.
 */
import assert from "node:assert/strict";
import { unusedPort } from "../client/testing/unused_port.ts";
import { Logger } from "../server/log.ts";
import { Server } from "../server/server.ts";
import {
  type RawConn,
  rawConnect,
  runMain,
  startSubprocess,
  tempDir,
  TEST_SETTINGS,
} from "./test_util.ts";
import { testWith } from "./permissions.ts";

const ORDER = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };

async function ping(conn: RawConn): Promise<void> {
  await conn.write('{"op":"PING"}\n');
  assert.equal((await conn.readLine())?.pong, true);
}

testWith("read", "write", "run", "env")(
  "pedidos with no subcommand is bad usage: exit 2, the usage on stderr and nothing on stdout; --help prints it on stdout with 0",
  async () => {
    await using dir = await tempDir();
    const none = await runMain(dir.path, []);
    assert.equal(none.code, 2);
    assert.equal(none.stdout, "");
    assert.match(none.stderr, /no subcommand given[\s\S]*server/);
    const unknown = await runMain(dir.path, ["servidor"]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stdout, "");
    const help = await runMain(dir.path, ["--help"]);
    assert.equal(help.code, 0);
    assert.equal(help.stderr, "");
    assert.match(help.stdout, /server/);
  },
);

testWith("read", "write", "run", "env")(
  "server --max-request-bytes 1000000 starts without --max-reply-bytes, and takes orders",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startSubprocess(dir.path, [
      "--max-request-bytes",
      "1000000",
      "--db",
      ":memory:",
      "--process-ms",
      "0",
    ]);
    await using conn = await rawConnect(daemon.port);
    await conn.write(JSON.stringify(ORDER) + "\n");
    assert.equal((await conn.readLine())?.ok, true);
    daemon.kill("SIGTERM");
    assert.equal((await daemon.exited()).code, 0);
  },
);

testWith("read", "write", "run", "env")(
  "a --max-reply-bytes set too small for --max-request-bytes exits 2 naming both",
  async () => {
    await using dir = await tempDir();
    const result = await runMain(
      dir.path,
      ["server", "--port", "0", "--db", ":memory:", "--max-request-bytes", "1000000"],
      { env: { PEDIDOS_MAX_REPLY_BYTES: "1048576" } },
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /PEDIDOS_MAX_REPLY_BYTES=1048576 in the environment: must be at least 1069632 for --max-request-bytes 1000000/,
    );
  },
);

testWith("read", "write", "run", "env")(
  "server --host 127.0.0.1,localhost starts and listens on each address once",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startSubprocess(dir.path, [
      "--host",
      "127.0.0.1,localhost",
      "--db",
      ":memory:",
    ]);
    const addrs = daemon.readyLine.replace("listening on ", "").split(" ");
    assert.equal(addrs[0], `127.0.0.1:${daemon.port}`);
    assert.equal(new Set(addrs).size, addrs.length, daemon.readyLine);
    await using conn = await rawConnect(daemon.port, "127.0.0.1");
    await ping(conn);
    daemon.kill("SIGTERM");
    assert.equal((await daemon.exited()).code, 0);
  },
);

testWith("read", "write", "run", "env")(
  "server --host 0.0.0.0,:: starts on [::] (dual-stack) and serves IPv4 and IPv6",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startSubprocess(dir.path, [
      "--host",
      "0.0.0.0,::",
      "--db",
      ":memory:",
    ]);
    // [::] alone where it takes IPv4 too (Linux's default), 0.0.0.0 beside it where not.
    assert.match(
      daemon.readyLine,
      new RegExp(`^listening on \\[::\\]:${daemon.port}( 0\\.0\\.0\\.0:${daemon.port})?$`),
    );
    for (const host of ["127.0.0.1", "::1"]) {
      await using conn = await rawConnect(daemon.port, host);
      await ping(conn);
    }
    daemon.kill("SIGTERM");
    assert.equal((await daemon.exited()).code, 0);
  },
);

testWith("read", "write", "run", "env")(
  "an empty PEDIDOS_WORKERS, PEDIDOS_MAX_PEDIDOS or PEDIDOS_PORT exits 2 naming it, from the environment or the env file",
  async () => {
    for (const name of ["PEDIDOS_WORKERS", "PEDIDOS_MAX_PEDIDOS", "PEDIDOS_PORT"]) {
      for (const where of ["environment", "env file"]) {
        await using dir = await tempDir();
        let env: Record<string, string> = {};
        if (where === "env file") Deno.writeTextFileSync(`${dir.path}/.env.local`, `${name}=\n`);
        else env = { [name]: "" };
        // A database in a missing directory: a daemon that took the default
        // instead would stop there (exit 2, another message) rather than run on.
        const args = ["server", "--db", `${dir.path}/missing/x.db`];
        if (name !== "PEDIDOS_PORT") args.push("--port", "0");
        const result = await runMain(dir.path, args, { env });
        assert.equal(result.code, 2, `${name} in the ${where}: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(`Invalid ${name} "" in (the )?${where}`));
        assert.equal(result.stdout, "");
      }
    }
  },
);

testWith("read", "write", "run", "env")(
  "a --host this machine does not have stops the daemon at start: exit 2, naming the address",
  async () => {
    await using dir = await tempDir();
    // 192.0.2.1 is for documentation only (RFC 5737): no machine has it. Binding fails at once.
    const result = await runMain(dir.path, [
      "server",
      "--host",
      "127.0.0.1,192.0.2.1",
      "--port",
      "0",
      "--db",
      ":memory:",
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /cannot start: Cannot listen on 192\.0\.2\.1:\d+: Cannot assign requested address/,
    );
  },
);

testWith("read", "write", "run", "env")(
  "a bad address or processor stops the daemon before its database is created, naming what is wrong",
  async () => {
    await using dir = await tempDir();
    const cases: [flags: string[], names: RegExp][] = [
      // `.invalid` never resolves (RFC 2606).
      [["--host", "nosuchhost.invalid"], /Cannot listen on nosuchhost\.invalid:0: /],
      [["--metrics-host", "not a host", "--metrics-port", "0"], /--metrics-host not a host/],
      [["--processor", "no_such_module.ts"], /no_such_module\.ts/],
    ];
    for (const [flags, names] of cases) {
      const result = await runMain(dir.path, ["server", "--port", "0", "--db", "p.db", ...flags]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, names);
      assert.equal(result.stdout, "", "never ready");
      assert.deepEqual([...Deno.readDirSync(dir.path)], [], `${flags}: nothing was created`);
    }
  },
);

testWith("read", "write", "env")(
  "the log names the SQLite database opened and each request refused as too large, with its peer",
  async () => {
    await using dir = await tempDir();
    const lines: string[] = [];
    const server = await Server.start({
      config: { ...TEST_SETTINGS, db: `${dir.path}/p.db`, maxRequestBytes: 100, log: "info" },
      logger: new Logger({ level: "info", write: (line) => lines.push(line) }),
    });
    try {
      await using conn = await rawConnect(server.port);
      await conn.write(JSON.stringify({ ...ORDER, direccion: "x".repeat(200) }) + "\n");
      assert.equal((await conn.readLine())?.error, "too_large");
    } finally {
      await server.shutdown();
    }
    const log = lines.join("\n");
    assert.match(log, /store\.opened db=\S*p\.db sync=full capacity=6/);
    assert.match(log, /request\.too_large peer=127\.0\.0\.1:\d+/);
  },
);

testWith("read", "write", "run", "env")(
  "a misspelt PEDIDOS_ variable in the env file is named in a warning, not ignored silently",
  async () => {
    await using dir = await tempDir();
    Deno.writeTextFileSync(
      `${dir.path}/.env.local`,
      "PEDIDOS_WORKERS=2\nPEDIDOS_WORKRES=9\nPEDIDOS_WEB_PORT=5001\nOTRA_COSA=1\nPGPASSWORD=s3cret\n",
    );
    const daemon = await startSubprocess(dir.path, ["--db", ":memory:"]);
    daemon.kill("SIGTERM");
    const { code, stderr } = await daemon.exited();
    assert.equal(code, 0, stderr);
    const warnings = stderr.split("\n").filter((line) => line.includes("config.unknown_variable"));
    assert.equal(warnings.length, 1, stderr);
    assert.match(
      warnings[0]!,
      /WARN config\.unknown_variable name=PEDIDOS_WORKRES file=\.env\.local/,
    );
    // On SQLite a PGPASSWORD there is nobody's business (on PostgreSQL it is named:
    // server_config_test), and no value is ever shown.
    assert.doesNotMatch(stderr, /config\.ignored_variable/);
    assert.doesNotMatch(stderr, /s3cret/);
  },
);

testWith("read", "write", "run", "env")(
  "a --metrics-port that is the daemon's own port under another name for the address exits 2, naming it",
  async () => {
    await using dir = await tempDir();
    const port = String(unusedPort());
    const result = await runMain(dir.path, [
      "server",
      "--host",
      "localhost",
      "--port",
      port,
      "--metrics-port",
      port,
      "--metrics-host",
      "127.0.0.1",
      "--db",
      ":memory:",
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`--metrics-port ${port}: it is the daemon's own port`));
  },
);

testWith("read", "write", "run", "env")(
  "an env file line that is not NAME=value exits 2 naming the file and line, for every subcommand",
  async () => {
    await using dir = await tempDir();
    // Without `=` parseEnv would skip it: the daemon would start on 8888.
    Deno.writeTextFileSync(`${dir.path}/.env.local`, "# settings\nPEDIDOS_PORT 9504\n");
    const commands = [
      ["server", "--db", ":memory:"],
      ["client", "ping"],
      ["load"],
      ["web"],
      ["usuarios", "operador", "ana", "--db", `${dir.path}/x.db`],
    ];
    for (const args of commands) {
      // One that skipped the line would run on (a daemon on 8888): cut short.
      const result = await runMain(dir.path, args, { timeoutMs: 20_000 });
      assert.equal(result.code, 2, `${args[0]}: ${result.stderr}`);
      assert.match(result.stderr, /line 2 of env file \.env\.local \(starting "PEDIDOS_PORT"\)/);
    }
  },
);

testWith("read", "write", "run", "env")(
  "an env file value a # would cut short exits 2 naming the variable, never the value (a password after it)",
  async () => {
    await using dir = await tempDir();
    // parseEnv reads `p#q.db` as `p`: the daemon would start on another, empty database.
    for (const line of ["PEDIDOS_DB=p#q.db", "PEDIDOS_DB=postgres://ana:pa#s3cret@127.0.0.1/x"]) {
      Deno.writeTextFileSync(`${dir.path}/.env.local`, `${line}\n`);
      const result = await runMain(dir.path, ["server"], { timeoutMs: 20_000 });
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        /line 1 of env file \.env\.local \(starting "PEDIDOS_DB"\).*quote/,
      );
      assert.ok(!/pa#|s3cret|q\.db/.test(result.stderr), result.stderr);
      assert.throws(() => Deno.statSync(`${dir.path}/p`), Deno.errors.NotFound, "no database made");
    }
  },
);
