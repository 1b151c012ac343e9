/**
 * The real daemon process: ready line, bad flags, SIGTERM drain, a second
 * signal, SIGKILL in the middle of a pipelined burst, and restart recovery.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { PedidosClient } from "../client/client.ts";
import { unusedPort } from "../client/testing/unused_port.ts";
import {
  type RawConn,
  rawConnect,
  ROOT,
  runMain,
  serverPermissions,
  startInProcess,
  startSubprocess,
  tempDir,
  waitUntil,
  within,
} from "./test_util.ts";
import { testWith } from "./permissions.ts";
import { Logger } from "../server/log.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../workers/sqlite/schema.ts";

const ORDER = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };

/** The arguments of `deno` for `main.ts server --host 127.0.0.1 ...args` in `dir`. */
function serverArgs(dir: string, args: string[]): string[] {
  return [
    "run",
    ...serverPermissions(dir),
    `${ROOT}main.ts`,
    "server",
    "--host",
    "127.0.0.1",
    ...args,
  ];
}

/** `main.ts server --host 127.0.0.1 ...args` run in `dir`, as one shell command, quoted. */
function serverShellCommand(dir: string, args: string[]): string {
  const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;
  return [Deno.execPath(), ...serverArgs(dir, args)].map(quote).join(" ");
}

/** `main.ts server --host 127.0.0.1 ...args` started in `dir`, its output piped, without colour. */
function spawnServer(dir: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: serverArgs(dir, args),
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

function pedidoOf(reply: Record<string, unknown> | null): Record<string, unknown> {
  return reply?.pedido as Record<string, unknown>;
}

function readRows(path: string) {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare("SELECT id, clave, estado, intentos FROM pedidos ORDER BY id").all() as {
      id: number;
      clave: string | null;
      estado: string;
      intentos: number;
    }[];
  } finally {
    db.close();
  }
}

/** A connection the daemon has taken (it answered a PING), now idle. */
async function servedConnection(port: number): Promise<RawConn> {
  const conn = await rawConnect(port);
  await conn.write('{"op":"PING"}\n');
  assert.equal((await conn.readLine())?.pong, true);
  return conn;
}

testWith("read", "write", "run", "env")(
  "bad flags and bad environment values exit 2 with usage before opening anything",
  async () => {
    await using dir = await tempDir();
    for (
      const [args, env] of [
        [["server", "--workers", "0"], {}],
        [["server", "--port", "abc"], {}],
        [["server", "--port", "70000"], {}],
        [["server", "--process-ms", "5-2"], {}],
        [["server", "--bogus"], {}],
        [["server"], { PEDIDOS_MAX_PEDIDOS: "0" }],
        [["server"], { PEDIDOS_SYNC: "fast" }],
      ] as [string[], Record<string, string>][]
    ) {
      const result = await runMain(dir.path, [...args, "--db", `${dir.path}/x.db`], { env });
      assert.equal(result.code, 2, `${args.join(" ")} ${JSON.stringify(env)}: ${result.stderr}`);
      assert.match(result.stderr, /--max-pedidos/, "usage printed");
      assert.equal(result.stdout, "");
    }
    assert.deepEqual([...Deno.readDirSync(dir.path)], [], "no database was created");
  },
);

testWith("read", "write", "run", "env")(
  "a database in a missing directory is refused at start with exit 2",
  async () => {
    await using dir = await tempDir();
    const result = await runMain(dir.path, [
      "server",
      "--port",
      "0",
      "--db",
      `${dir.path}/no/x.db`,
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no\/x\.db/);
  },
);

testWith("read", "write", "run", "env")(
  "the default hosts are 127.0.0.1 and ::1 on one port, printed in the ready line",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startSubprocess(dir.path, ["--db", `${dir.path}/p.db`]);
    assert.equal(daemon.readyLine, `listening on 127.0.0.1:${daemon.port} [::1]:${daemon.port}`);
    for (const host of ["127.0.0.1", "::1"]) {
      await using conn = await rawConnect(daemon.port, host);
      await conn.write('{"op":"PING"}\n');
      assert.equal((await conn.readLine())?.pong, true);
    }
    daemon.kill("SIGTERM");
    assert.equal((await daemon.exited()).code, 0);
  },
);

testWith("read", "write", "run", "env")(
  "--host '*' serves IPv4 and IPv6 on one dual-stack port",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startSubprocess(dir.path, [
      "--host",
      "*",
      "--db",
      `${dir.path}/p.db`,
    ]);
    assert.match(daemon.readyLine, new RegExp(`^listening on \\[::\\]:${daemon.port}`));
    for (const host of ["127.0.0.1", "::1"]) {
      await using conn = await rawConnect(daemon.port, host);
      await conn.write('{"op":"PING"}\n');
      assert.equal((await conn.readLine())?.pong, true);
    }
    daemon.kill("SIGTERM");
    assert.equal((await daemon.exited()).code, 0);
  },
);

testWith("read", "write", "run", "env")(
  "SIGTERM drains running orders, leaves the rest pendiente, and a restart finishes them",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const args = [
      "--db",
      db,
      "--workers",
      "1",
      "--process-ms",
      "2000",
      "--drain-timeout-ms",
      "20000",
    ];
    await using first = await startSubprocess(dir.path, args);
    const ids: number[] = [];
    await using conn = await rawConnect(first.port);
    for (let i = 0; i < 4; i++) {
      await conn.write(JSON.stringify(ORDER) + "\n");
      ids.push((await conn.readLine())?.id as number);
    }
    await conn.write(`{"op":"ESTADO","id":${ids[3]},"esperar":true}\n`);
    await waitUntil(() => readRows(db)[0]?.estado === "en proceso", {
      what: "the first order to run",
    });
    await using idle = await servedConnection(first.port);
    first.kill("SIGTERM");
    // The daemon closes idle connections when it begins to stop: from then on
    // every new request on a busy connection gets shutting_down.
    assert.equal(await idle.closedByPeer(10_000), true, "the idle connection is closed at once");
    await conn.write(JSON.stringify(ORDER) + "\n");
    const waited = await conn.readLine(10_000);
    assert.equal(waited?.timeout, true, "the waiter is answered when the daemon stops");
    assert.equal((await conn.readLine())?.error, "shutting_down");
    assert.equal(await conn.readLine(), null, "closed after shutting_down");
    const result = await first.exited();
    assert.equal(result.code, 0, result.stderr);
    // The order refused with shutting_down was received all the same (§8: valid or not).
    assert.match(result.stdout, /resumen .*recibidos=5 aceptados=4 .*listos=1 .*pendientes=3/);
    assert.match(result.stdout, /duracion_ms min=\d+ p50=\d+ p95=\d+ max=\d+/);
    assert.deepEqual(readRows(db).map((r) => r.estado), [
      "listo",
      "pendiente",
      "pendiente",
      "pendiente",
    ]);

    await using second = await startSubprocess(dir.path, [...args, "--process-ms", "0"]);
    await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: second.port });
    for (const id of ids) {
      const reply = await client.request({ op: "ESTADO", id, esperar: true });
      assert.equal((reply.pedido as Record<string, unknown>).estado, "listo");
    }
    await client.close();
    second.kill("SIGTERM");
    assert.equal((await second.exited()).code, 0);
    assert.deepEqual(readRows(db).map((r) => r.intentos), [1, 1, 1, 1]);
  },
);

testWith("read", "write", "run", "env")(
  "a second signal during the drain exits 1 at once; the order runs again next start",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    await using first = await startSubprocess(dir.path, ["--db", db, "--process-ms", "20000"]);
    await using conn = await rawConnect(first.port);
    await conn.write(JSON.stringify(ORDER) + "\n");
    const id = (await conn.readLine())?.id;
    await waitUntil(() => readRows(db)[0]?.estado === "en proceso", { what: "the order to run" });
    await using idle = await servedConnection(first.port);
    first.kill("SIGTERM");
    assert.equal(await idle.closedByPeer(10_000), true, "the daemon took the first signal");
    // The same signal twice within 50 ms is one delivered twice (main.ts): wait longer
    // than that after the first was taken. Only a lower bound: later is as good.
    await new Promise((resolve) => setTimeout(resolve, 300));
    first.kill("SIGTERM");
    const result = await first.exited();
    assert.equal(result.code, 1);
    assert.equal(readRows(db)[0]?.estado, "en proceso");

    await using second = await startSubprocess(dir.path, ["--db", db, "--process-ms", "0"]);
    await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: second.port });
    const reply = await client.request({ op: "ESTADO", id, esperar: true });
    const pedido = reply.pedido as Record<string, unknown>;
    assert.equal(pedido.estado, "listo");
    assert.equal(pedido.intentos, 2, "the interrupted attempt counts");
    await client.close();
    second.kill("SIGTERM");
    assert.equal((await second.exited()).code, 0);
  },
);

testWith("read", "write", "run", "env")(
  "SIGTERM right after SIGINT is a second stop, however soon, as the same one 100 ms later; the same signal twice at once is one",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const args = ["--db", db, "--process-ms", "20000", "--drain-timeout-ms", "1500"];
    {
      await using daemon = await startSubprocess(dir.path, args);
      await using conn = await rawConnect(daemon.port);
      await conn.write(JSON.stringify(ORDER) + "\n");
      assert.equal((await conn.readLine())?.ok, true);
      await waitUntil(() => readRows(db)[0]?.estado === "en proceso", { what: "the order to run" });
      // Back to back: two signals cannot be one delivered twice.
      daemon.kill("SIGINT");
      daemon.kill("SIGTERM");
      const result = await daemon.exited();
      assert.equal(result.code, 1, "stopped at once, not after the drain");
      assert.equal(readRows(db)[0]?.estado, "en proceso");
      // Each is named; which of the two the daemon sees first is the system's choice.
      const first = /INFO server\.signal signal=(SIGINT|SIGTERM) action=draining/.exec(
        result.stderr,
      );
      const second = /WARN server\.signal signal=(SIGINT|SIGTERM) action="exit now"/.exec(
        result.stderr,
      );
      assert.ok(first && second, result.stderr);
      assert.notEqual(first[1], second[1], "the two signals, one each");
    }
    {
      // The same signal again a tenth of a second later is sent on purpose: a second stop.
      await using daemon = await startSubprocess(dir.path, args);
      await waitUntil(() => readRows(db)[0]?.intentos === 2, { what: "the order to run again" });
      daemon.kill("SIGTERM");
      await new Promise((resolve) => setTimeout(resolve, 100));
      daemon.kill("SIGTERM");
      assert.equal((await daemon.exited()).code, 1, "stopped at once, not after the drain");
    }
    {
      // A SIGTERM to the process group arrives twice (once forwarded): that is one stop,
      // which drains (here until --drain-timeout-ms) and exits 0.
      await using daemon = await startSubprocess(dir.path, args);
      await waitUntil(() => readRows(db)[0]?.intentos === 3, { what: "the order to run again" });
      daemon.kill("SIGTERM");
      daemon.kill("SIGTERM");
      const result = await daemon.exited();
      assert.equal(result.code, 0, "one stop, drained");
      assert.match(result.stdout, /^resumen /m);
      assert.equal(readRows(db)[0]?.estado, "pendiente", "left for the next start");
      // The drain ran out with the order running: logged, not only counted in the summary.
      assert.match(result.stderr, /WARN server\.drain_timeout running=1 drain_timeout_ms=1500 /);
    }
  },
);

testWith("read", "write", "run", "env")(
  "SIGKILL right after the last ack loses no acked order; a restart ends each listo exactly once",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const args = ["--db", db, "--workers", "2", "--max-pedidos", "1000", "--process-ms", "5"];
    const first = await startSubprocess(dir.path, args);
    const total = 300;
    const acked = new Map<string, number>();
    await using conn = await rawConnect(first.port);
    await conn.write(
      Array.from({ length: total }, (_, i) => JSON.stringify({ ...ORDER, clave: `crash-${i}` }))
        .join("\n") + "\n",
    );
    for (let i = 0; i < total; i++) {
      const reply = await conn.readLine();
      assert.equal(reply?.ok, true);
      acked.set(`crash-${i}`, reply?.id as number);
    }
    first.kill("SIGKILL");
    assert.equal((await first.exited()).code, 137);
    conn.close();
    const atKill = readRows(db);
    assert.equal(atKill.length, total, "every acked order was committed");
    assert.ok(atKill.some((r) => r.estado !== "listo"), "the kill interrupted work");

    await using second = await startSubprocess(dir.path, args);
    await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: second.port });
    for (const id of acked.values()) {
      const reply = await client.request({ op: "ESTADO", id, esperar: true });
      assert.equal((reply.pedido as Record<string, unknown>).estado, "listo");
    }
    // A client retrying with the same clave gets the same order back.
    const retry = await client.request({ ...ORDER, clave: "crash-0" });
    assert.equal(retry.duplicado, true);
    assert.equal(retry.id, acked.get("crash-0"));
    await client.close();
    second.kill("SIGTERM");
    assert.equal((await second.exited()).code, 0);
    const rows = readRows(db);
    assert.equal(rows.length, total, "no order twice");
    assert.equal(new Set(rows.map((r) => r.clave)).size, total);
    for (const row of rows) {
      assert.equal(row.estado, "listo");
      assert.equal(acked.get(row.clave!), row.id);
    }
  },
);

testWith("read", "write", "run", "env")(
  "orders recovered at a restart hold capacity: libres is max(0, C − N) and new orders get queue_full until enough end",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    // One worker busy for a minute: every order stays unfinished.
    const slow = ["--db", db, "--workers", "1", "--process-ms", "60000"];
    const send = async (conn: RawConn, line: string) => {
      await conn.write(line + "\n");
      return await conn.readLine();
    };
    const stats = async (conn: RawConn) =>
      (await send(conn, '{"op":"STATS"}'))?.stats as Record<string, number>;

    await using first = await startSubprocess(dir.path, [...slow, "--max-pedidos", "10"]);
    const ids: number[] = [];
    {
      await using conn = await rawConnect(first.port);
      for (let i = 0; i < 5; i++) ids.push((await send(conn, JSON.stringify(ORDER)))?.id as number);
    }
    first.kill("SIGKILL");
    assert.equal((await first.exited()).code, 137);

    // N = 5 unfinished, C = 3: no slot is free, and none frees until two more end.
    await using second = await startSubprocess(dir.path, [...slow, "--max-pedidos", "3"]);
    {
      await using conn = await rawConnect(second.port);
      let s = await stats(conn);
      assert.deepEqual(
        [s.capacidad, s.libres, s.pendientes! + s.en_proceso!],
        [3, 0, 5],
        "five recovered orders hold the three slots and more",
      );
      assert.equal((await send(conn, JSON.stringify(ORDER)))?.error, "queue_full");
      assert.equal(
        (await send(conn, '{"op":"TASK","task":{"name":"sum","args":[1]}}'))?.error,
        "queue_full",
      );
      for (const id of [ids[4], ids[3]]) {
        assert.equal(
          pedidoOf(await send(conn, `{"op":"CANCELAR","id":${id}}`)).estado,
          "cancelado",
        );
      }
      assert.equal(
        (await send(conn, JSON.stringify(ORDER)))?.error,
        "queue_full",
        "three recovered orders still fill the three slots",
      );
      assert.equal(
        pedidoOf(await send(conn, `{"op":"CANCELAR","id":${ids[2]}}`)).estado,
        "cancelado",
      );
      s = await stats(conn);
      assert.equal(s.libres, 1, "two orders left hold two of the three slots");
      const accepted = await send(conn, JSON.stringify(ORDER));
      assert.equal(accepted?.ok, true, "a slot came free");
      ids.push(accepted?.id as number);
      assert.equal((await send(conn, JSON.stringify(ORDER)))?.error, "queue_full");
    }
    second.kill("SIGKILL");
    assert.equal((await second.exited()).code, 137);

    // N = 3 unfinished, C = 8: five slots are free, and five new orders fit.
    await using third = await startSubprocess(dir.path, [...slow, "--max-pedidos", "8"]);
    await using conn = await rawConnect(third.port);
    const s = await stats(conn);
    assert.deepEqual([s.capacidad, s.libres, s.pendientes! + s.en_proceso!], [8, 5, 3]);
    for (let i = 0; i < 5; i++) assert.equal((await send(conn, JSON.stringify(ORDER)))?.ok, true);
    assert.equal((await send(conn, JSON.stringify(ORDER)))?.error, "queue_full");
    third.kill("SIGKILL");
  },
);

testWith("read", "write", "run", "env")(
  "orders a killed daemon had started wait pendiente after a restart: no worker of the last run, cancellable, run oldest first",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const send = async (conn: RawConn, line: string) => {
      await conn.write(line + "\n");
      return await conn.readLine();
    };
    const estado = async (conn: RawConn, id: number) =>
      pedidoOf(await send(conn, `{"op":"ESTADO","id":${id}}`));

    // Three workers start the three orders, and the daemon is killed while they run.
    await using first = await startSubprocess(dir.path, [
      "--db",
      db,
      "--workers",
      "3",
      "--process-ms",
      "60000",
    ]);
    const ids: number[] = [];
    {
      await using conn = await rawConnect(first.port);
      for (let i = 0; i < 3; i++) ids.push((await send(conn, JSON.stringify(ORDER)))?.id as number);
      for (const id of ids) {
        for (let tries = 0; (await estado(conn, id)).estado !== "en proceso"; tries++) {
          assert.ok(tries < 200, `order ${id} never started`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    }
    first.kill("SIGKILL");
    assert.equal((await first.exited()).code, 137);

    // One worker now: the oldest runs again; the other two wait, as pendiente.
    await using second = await startSubprocess(dir.path, [
      "--db",
      db,
      "--workers",
      "1",
      "--process-ms",
      "1500",
    ]);
    await using conn = await rawConnect(second.port);
    const [oldest, next, last] = ids as [number, number, number];
    // (Listening comes a moment before the worker has taken it up again.)
    let running = await estado(conn, oldest);
    for (let tries = 0; running.estado === "pendiente" && tries < 200; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      running = await estado(conn, oldest);
    }
    assert.deepEqual([running.estado, running.worker, running.intentos], ["en proceso", 1, 2]);
    for (const id of [next, last]) {
      const waiting = await estado(conn, id);
      assert.deepEqual(
        [waiting.estado, waiting.worker, waiting.fecha_inicio, waiting.intentos],
        ["pendiente", null, null, 1],
        `order ${id}: ${JSON.stringify(waiting)}`,
      );
    }
    const listed = (await send(conn, '{"op":"LISTAR","estado":"pendiente"}'))?.pedidos as {
      id: number;
    }[];
    assert.deepEqual(listed.map((p) => p.id), [last, next]);
    const stats = (await send(conn, '{"op":"STATS"}'))?.stats as Record<string, number>;
    assert.deepEqual([stats.pendientes, stats.en_proceso], [2, 1]);
    assert.equal(pedidoOf(await send(conn, `{"op":"CANCELAR","id":${last}}`)).estado, "cancelado");
    // The next in line is the next accepted: it starts once the oldest ends.
    const done = pedidoOf(await send(conn, `{"op":"ESTADO","id":${next},"esperar":true}`));
    const before = pedidoOf(await send(conn, `{"op":"ESTADO","id":${oldest}}`));
    assert.equal(done.estado, "listo");
    assert.ok(
      (done.fecha_inicio as string) >= (before.fecha_fin as string),
      `${JSON.stringify(done)} started before ${JSON.stringify(before)} ended`,
    );
  },
);

testWith("read", "write", "run", "env")(
  "SIGTERM or SIGINT while the daemon is still starting stops it gracefully once up: exit 0 and the summary, no ready line",
  async () => {
    await using dir = await tempDir();
    // A processor module slow to load: the start waits for it.
    const slow = `${dir.path}/slow.js`;
    await Deno.writeTextFile(
      slow,
      "await new Promise((r) => setTimeout(r, 1500));\nexport default () => 'ok';\n",
    );
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const port = unusedPort();
      const child = spawnServer(dir.path, [
        "--port",
        String(port),
        "--db",
        `${dir.path}/p.db`,
        "--processor",
        slow,
      ]);
      const output = child.output();
      // It listens first, then loads the module: signal once it listens.
      await waitUntil(async () => {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          return true;
        } catch {
          return false;
        }
      }, { what: "the daemon listening", timeoutMs: 10_000 });
      child.kill(signal);
      const { code, stdout, stderr } = await output;
      const out = new TextDecoder().decode(stdout);
      assert.equal(code, 0, `${signal}: ${new TextDecoder().decode(stderr)}`);
      assert.match(out, /^resumen recibidos=0 /m, signal);
      assert.doesNotMatch(out, /listening on/, `${signal}: never said ready`);
    }
  },
);

testWith("read", "write", "run", "env")(
  "a SIGTERM while the start recovers a long backlog stops the daemon once up: no ready line, exit 0",
  async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/p.db`;
    // 100,000 orders left pendiente: recovering them keeps the start busy a while.
    const file = new DatabaseSync(path);
    file.exec("PRAGMA journal_mode = WAL");
    for (const ddl of MIGRATIONS) file.exec(ddl);
    file.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    const insert = file.prepare(
      `INSERT INTO pedidos (cliente, productos, direccion, estado, fecha_recibido, intentos)
       VALUES ('Ana', '["pan"]', 'Calle 1', 'pendiente', ?, 0)`,
    );
    const now = new Date().toISOString();
    file.exec("BEGIN");
    for (let i = 0; i < 100_000; i++) insert.run(now);
    file.exec("COMMIT");
    file.close();
    const child = spawnServer(dir.path, [
      "--port",
      String(unusedPort()),
      "--db",
      path,
      "--workers",
      "1",
    ]);
    const stdout = new Response(child.stdout).text();
    // Signalled once the store is open, before the backlog is read.
    let stderr = "";
    const decoder = new TextDecoder();
    const reader = child.stderr.getReader();
    await within(
      (async () => {
        while (!/ store\.opened /.test(stderr)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`the daemon ended first: ${stderr}`);
          stderr += decoder.decode(value, { stream: true });
        }
      })(),
      20_000,
      "the store.opened line",
    );
    child.kill("SIGTERM");
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      stderr += decoder.decode(chunk.value, { stream: true });
    }
    const { code } = await child.status;
    const out = await stdout;
    assert.equal(code, 0, stderr);
    assert.match(stderr, / orders\.recovered count=100000/, "the backlog was read");
    assert.match(out, /^resumen recibidos=0 /m);
    assert.doesNotMatch(out, /listening on/, "never said ready");
  },
);

testWith("read", "write", "run", "env")(
  "a hang-up (SIGHUP) of a daemon without a terminal, as under nohup, is ignored and logged: it goes on serving",
  async () => {
    await using dir = await tempDir();
    // No terminal: stdin from /dev/null, stdout and stderr piped.
    await using daemon = await startSubprocess(dir.path, ["--db", `${dir.path}/p.db`]);
    daemon.kill("SIGHUP");
    {
      await using client = await PedidosClient.connect({
        hostname: "127.0.0.1",
        port: daemon.port,
      });
      const placed = await client.request({ op: "PEDIDO", data: ORDER });
      assert.equal(placed.ok, true, JSON.stringify(placed));
    }
    daemon.kill("SIGTERM");
    const { code, stdout, stderr } = await daemon.exited();
    assert.equal(code, 0, stderr);
    assert.match(stderr, / INFO server\.signal signal=SIGHUP action="ignored \(no terminal\)"/);
    assert.match(stdout, /^resumen recibidos=1 aceptados=1 /m, "stopped by the SIGTERM, later");
  },
);

testWith("read", "write", "run", "env")(
  "closing the terminal a daemon runs in (SIGHUP) stops it gracefully: it drains, logs its stop and prints its summary",
  async () => {
    await using dir = await tempDir();
    const out = `${dir.path}/daemon.out`;
    const log = `${dir.path}/daemon.log`;
    const pidFile = `${dir.path}/daemon.pid`;
    const daemon = serverShellCommand(dir.path, ["--port", "0", "--db", `${dir.path}/p.db`]);
    // `script` runs it with a pseudo-terminal of its own for stdin (its output
    // to files, read after); killing `script` closes that terminal: the
    // kernel hangs up on the daemon.
    const line = `echo $$ >'${pidFile}'; exec ${daemon} >'${out}' 2>'${log}'`;
    const terminal = new Deno.Command("script", {
      args: ["-q", "-e", "-c", line, "/dev/null"],
      cwd: dir.path,
      stdin: "piped",
      stdout: "null",
      stderr: "null",
      env: { NO_COLOR: "1" },
    }).spawn();
    const read = (path: string) => Deno.readTextFile(path).catch(() => "");
    // The daemon (`script`'s child, through its shell's exec), killed if the test fails.
    let pid = 0;
    try {
      await waitUntil(async () => /^listening on /m.test(await read(out)), {
        what: "the daemon's ready line",
        timeoutMs: 20_000,
      });
      pid = Number(await read(pidFile));
      const port = Number(/:(\d+)(?:\s|$)/.exec(await read(out))![1]);
      terminal.kill("SIGKILL");
      await waitUntil(async () => /^resumen /m.test(await read(out)), {
        what: "the daemon's summary",
        timeoutMs: 20_000,
      });
      const logged = await read(log);
      assert.match(logged, / INFO server\.signal signal=SIGHUP action=draining/);
      assert.match(logged, / INFO server\.stopped /);
      await waitUntil(async () => {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          return false;
        } catch {
          return true;
        }
      }, { what: "the daemon gone", timeoutMs: 10_000 });
      pid = 0;
    } finally {
      try {
        terminal.kill("SIGKILL");
      } catch {
        // gone
      }
      if (pid > 0) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
      await terminal.stdin.close().catch(() => {});
      await terminal.status;
    }
  },
);

testWith("read", "write", "run", "env")(
  "a daemon whose SQLite writer worker dies stops with exit status 1, for a supervisor to restart it, and the restart serves every order acknowledged",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const ids: number[] = [];
    {
      // Its writer dies on SIGUSR2, as a bug in it would make it.
      await using daemon = await startSubprocess(dir.path, [
        "--db",
        db,
        "--process-ms",
        "60000",
        "--drain-timeout-ms",
        "500",
      ], {
        entry: `${ROOT}tests/fixtures/writer_crash_daemon.ts`,
      });
      {
        await using client = await PedidosClient.connect({
          hostname: "127.0.0.1",
          port: daemon.port,
        });
        for (let i = 0; i < 3; i++) {
          const placed = await client.request({ op: "PEDIDO", data: ORDER });
          assert.equal(placed.ok, true, JSON.stringify(placed));
          ids.push(placed.id as number);
        }
      }
      daemon.kill("SIGUSR2");
      const exit = await within(daemon.exited(), 20_000, "the exit after its writer's death");
      assert.equal(exit.code, 1, exit.stderr);
      assert.match(
        exit.stderr,
        /^pedidos server: cannot go on: Cannot write to database ".*p\.db": the writer worker failed/m,
      );
      assert.match(exit.stdout, /^resumen recibidos=3 aceptados=3 /m);
    }
    await using again = await startSubprocess(dir.path, ["--db", db, "--process-ms", "0"]);
    await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: again.port });
    for (const id of ids) {
      const reply = await client.request({ op: "ESTADO", id, esperar: true });
      assert.equal(pedidoOf(reply).estado, "listo", JSON.stringify(reply));
    }
  },
);

testWith("read", "write", "run", "env")(
  "a daemon that finds its SQLite file damaged while it serves answers internal, stops with exit status 2 and says what to do, not serving the damaged file on",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    {
      // Room for all 50: on a busy machine the ends may fall behind the intake,
      // and the default capacity of 6 would answer queue_full.
      await using daemon = await startSubprocess(dir.path, [
        "--db",
        db,
        "--process-ms",
        "0",
        "--max-pedidos",
        "100",
      ]);
      await using client = await PedidosClient.connect({
        hostname: "127.0.0.1",
        port: daemon.port,
      });
      for (let i = 0; i < 50; i++) {
        const placed = await client.request({ ...ORDER, clave: `k${i}` });
        assert.equal(placed.ok, true, JSON.stringify(placed));
      }
    }
    // A disk fault in the index of claves: the page no longer holds what SQLite wrote.
    const file = new DatabaseSync(db);
    file.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const { rootpage, page_size } = file.prepare(
      "SELECT rootpage, (SELECT page_size FROM pragma_page_size) AS page_size FROM sqlite_master WHERE name = 'pedidos_clave'",
    ).get() as { rootpage: number; page_size: number };
    file.close();
    const damaged = await Deno.open(db, { write: true });
    await damaged.seek((rootpage - 1) * page_size, Deno.SeekMode.Start);
    await damaged.write(new Uint8Array(page_size).fill(0xa5));
    damaged.close();

    await using daemon = await startSubprocess(dir.path, ["--db", db, "--process-ms", "0"]);
    await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: daemon.port });
    // An order without clave does not read that index; one with a clave does.
    const reply = await client.request({ ...ORDER, clave: "otra" });
    assert.equal(reply.error, "internal", JSON.stringify(reply));
    const exit = await within(daemon.exited(), 20_000, "the exit on a damaged file");
    assert.equal(exit.code, 2, exit.stderr);
    assert.match(
      exit.stderr,
      /^pedidos server: cannot go on: The database ".*p\.db" is damaged \(database disk image is malformed\)\. Stop here, check it with sqlite3 .*PRAGMA integrity_check/m,
    );
    assert.doesNotMatch(
      exit.stderr,
      /storage\.recovered/,
      "no word of a recovery that did not happen",
    );
  },
);

testWith("read", "write", "run", "env")(
  "a database file of an older schema is upgraded at start with a store.migrated line naming both versions",
  async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/old.db`;
    // As a daemon two releases back left it: in WAL mode, at version N - 2.
    const old = new DatabaseSync(path);
    old.exec("PRAGMA journal_mode = WAL");
    for (const ddl of MIGRATIONS.slice(0, SCHEMA_VERSION - 2)) old.exec(ddl);
    old.exec(`PRAGMA user_version = ${SCHEMA_VERSION - 2}`);
    old.close();
    const lines: string[] = [];
    const logger = new Logger({ write: (line) => lines.push(line) });
    {
      await using _daemon = await startInProcess({ db: path }, { logger });
    }
    const migrated = lines.filter((line) => line.split(" ")[2] === "store.migrated");
    assert.equal(migrated.length, 1, lines.join("\n"));
    assert.match(
      migrated[0]!,
      new RegExp(` INFO store\\.migrated db=\\S+ from=${SCHEMA_VERSION - 2} to=${SCHEMA_VERSION}$`),
    );
    // Opened again, at the latest version: nothing to say.
    lines.length = 0;
    {
      await using _daemon = await startInProcess({ db: path }, { logger });
    }
    assert.equal(lines.filter((line) => line.includes("store.migrated")).length, 0);
    // A new file is created, not upgraded.
    {
      await using _daemon = await startInProcess({ db: `${dir.path}/new.db` }, { logger });
    }
    assert.equal(lines.filter((line) => line.includes("store.migrated")).length, 0);
  },
);

testWith("read", "write", "run", "env")(
  "a daemon whose stdout cannot be written (>/dev/full) still runs, and SIGTERM stops it with exit 0",
  async () => {
    await using dir = await tempDir();
    const port = unusedPort();
    const command = serverShellCommand(dir.path, [
      "--port",
      String(port),
      "--db",
      `${dir.path}/p.db`,
    ]);
    // exec: the signal reaches the daemon itself, not the shell.
    const child = new Deno.Command("sh", {
      args: ["-c", `exec ${command} >/dev/full`],
      cwd: dir.path,
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const output = child.output();
    // The ready line fails to print (ENOSPC): the daemon must serve all the same.
    await waitUntil(async () => {
      try {
        await using conn = await rawConnect(port);
        await conn.write('{"op":"PING"}\n');
        return (await conn.readLine())?.pong === true;
      } catch {
        return false;
      }
    }, { what: "the daemon answering PING", timeoutMs: 15_000 });
    child.kill("SIGTERM");
    const { code, stderr } = await output;
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, err);
    assert.doesNotMatch(err, /Uncaught/);
  },
);

testWith("read", "write", "run", "env")(
  "a file with §5's table and no schema version (made by hand, or a .dump's copy) is taken in at start: its unfinished orders run, its ids and claves hold",
  async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/a_mano.db`;
    const made = new DatabaseSync(path);
    made.exec(`CREATE TABLE pedidos (
      id INTEGER PRIMARY KEY, clave TEXT UNIQUE, cliente TEXT NOT NULL, productos TEXT NOT NULL,
      direccion TEXT NOT NULL, estado TEXT NOT NULL, fecha_recibido TEXT NOT NULL,
      fecha_inicio TEXT, fecha_fin TEXT, worker INTEGER, intentos INTEGER NOT NULL DEFAULT 0,
      detalle_error TEXT)`);
    const at = "2026-11-23T13:16:00.123Z";
    made.exec(`INSERT INTO pedidos (id, clave, cliente, productos, direccion, estado,
        fecha_recibido, fecha_inicio, worker, intentos) VALUES
      (10, 'k-10', 'Ana', '["pan"]', 'Calle 1', 'pendiente', '${at}', NULL, NULL, 0),
      (11, NULL, 'Luis', '["agua"]', 'Calle 2', 'en proceso', '${at}', '${at}', 1, 1)`);
    made.close();
    const lines: string[] = [];
    const logger = new Logger({ write: (line) => lines.push(line) });
    await using daemon = await startInProcess({ db: path, processMs: { min: 0, max: 0 } }, {
      logger,
    });
    assert.ok(
      lines.some((line) =>
        / INFO store\.migrated db=\S+ from=0 to=\d+ orders="taken in from a file without a schema version"$/
          .test(line)
      ),
      lines.join("\n"),
    );
    await using conn = await rawConnect(daemon.port);
    for (const [id, intentos] of [[10, 1], [11, 2]]) {
      await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":10000}\n`);
      const pedido = pedidoOf(await conn.readLine());
      assert.deepEqual([pedido.estado, pedido.intentos], ["listo", intentos], `order ${id}`);
    }
    await conn.write(`${JSON.stringify({ ...ORDER, clave: "k-10" })}\n${JSON.stringify(ORDER)}\n`);
    const again = await conn.readLine();
    assert.deepEqual([again?.id, again?.duplicado], [10, true]);
    assert.equal((await conn.readLine())?.id, 12, "a new id after the old ones");
  },
);
