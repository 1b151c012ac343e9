/**
 * The gateway's connections to a real daemon, and `pedidos web` itself.
 */
import { unusedPort } from "../client/testing/unused_port.ts";
import assert from "node:assert/strict";
import { ClientError, PedidosClient } from "../client/client.ts";
import { connectDaemon, DaemonLink, type DaemonLinkOptions } from "../client/web/daemon.ts";
import { runWebCommand } from "../client/web/main.ts";
import { Logger } from "../server/log.ts";
import { type FakeLineServer, fakeLineServer } from "../client/testing/fake_line_server.ts";
import {
  answers200,
  exhaustAccepts,
  rawConnect,
  ROOT,
  startInProcess,
  taskPermissions,
  waitUntil,
  withFdLimit,
} from "./test_util.ts";
import { testWith } from "./permissions.ts";

const quiet = () => new Logger({ level: "error", write: () => {} });

Deno.test("connectDaemon() keeps one connection for queries, and opens one for tasks when a task comes", async () => {
  await using daemon = await startInProcess();
  await using link = connectDaemon({ hosts: ["127.0.0.1"], port: daemon.port, logger: quiet() });
  const replies = await Promise.all(
    Array.from({ length: 50 }, () => link.request({ op: "STATS" })),
  );
  assert.ok(replies.every((r) => r.ok));
  assert.equal(daemon.server.connections, 1);
  const task = await link.request({ op: "TASK", data: { task: { name: "upper", s: "hola" } } });
  assert.equal(task.result, "HOLA");
  assert.equal(daemon.server.connections, 2);
  await Promise.all(Array.from({ length: 20 }, () => link.request({ op: "PING" })));
  assert.equal(daemon.server.connections, 2);
});

Deno.test("connectDaemon(): an order is answered while a task waits for a worker behind the orders queued before it", async () => {
  await using daemon = await startInProcess({ workers: 1, processMs: { min: 600, max: 600 } });
  await using link = connectDaemon({ hosts: ["127.0.0.1"], port: daemon.port, logger: quiet() });
  const order = { cliente: "Ana", productos: ["pan"], direccion: "C 1" };
  assert.equal((await link.request(order)).ok, true); // the only worker is busy
  assert.equal((await link.request(order)).ok, true); // and this one waits for it
  let taskDone = false;
  const task = link.request({ op: "TASK", data: { task: { name: "upper", s: "hola" } } })
    .finally(() => taskDone = true);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const another = await link.request(order);
  assert.equal(another.ok, true);
  assert.equal(taskDone, false, "the order did not wait behind the task");
  assert.equal((await task).result, "HOLA");
});

/** A clock that moves only when the test says so. */
function manualClock() {
  const clock = { ms: 0, now: () => clock.ms };
  return clock;
}

/** `PedidosClient.connectAny`, counting the attempts. */
function countingConnect() {
  const counter = {
    attempts: 0,
    connect: (hosts: string[], port: number, options: { connectTimeoutMs: number }) => {
      counter.attempts++;
      return PedidosClient.connectAny(hosts, port, options);
    },
  };
  return counter;
}

Deno.test("DaemonLink fails fast while the daemon is down and reconnects when it is back", async () => {
  const first = await startInProcess({ hosts: ["127.0.0.1"] });
  const port = first.port;
  const clock = manualClock();
  const counter = countingConnect();
  const link = new DaemonLink({
    hosts: ["127.0.0.1"],
    port,
    logger: quiet(),
    now: clock.now,
    connect: counter.connect,
  });
  try {
    assert.equal((await link.request({ op: "PING" })).ok, true);
    assert.equal(counter.attempts, 1);
    await first[Symbol.asyncDispose]();
    // The old connection is closed: a query is retried on a new one, which fails to connect.
    await assert.rejects(link.request({ op: "STATS" }), ClientError);
    assert.equal(counter.attempts, 2);
    // Within the backoff (250 ms), requests fail at once, without trying to connect.
    clock.ms += 249;
    await assert.rejects(
      link.request({ op: "STATS" }),
      (e) => e instanceof ClientError && e.code === "connect_failed",
    );
    assert.equal(counter.attempts, 2, "within the backoff, no new attempt");
    await using second = await startInProcess({ hosts: ["127.0.0.1"], port });
    clock.ms += 1; // past the backoff
    assert.equal((await link.request({ op: "PING" })).ok, true);
    assert.equal(counter.attempts, 3);
    assert.equal(second.server.connections, 1);
  } finally {
    await link.close();
  }
});

Deno.test("DaemonLink finds a stale connection with a PING before a request it must not repeat", async () => {
  const first = await startInProcess({ hosts: ["127.0.0.1"] });
  const port = first.port;
  const clock = manualClock();
  const link = new DaemonLink({
    hosts: ["127.0.0.1"],
    port,
    logger: quiet(),
    checkIdleMs: 5000,
    now: clock.now,
  });
  try {
    assert.equal((await link.request({ op: "PING" })).ok, true);
    await first[Symbol.asyncDispose]();
    await using second = await startInProcess({ hosts: ["127.0.0.1"], port });
    clock.ms += 5001; // idle for longer than checkIdleMs
    // An order without `clave` is never sent twice; the PING finds the old connection gone.
    const reply = await link.request({ cliente: "Ana", productos: ["pan"], direccion: "Calle 1" });
    assert.equal(reply.ok, true);
    assert.equal(second.server.connections, 1);
  } finally {
    await link.close();
  }
});

Deno.test("DaemonLink: a request it must not repeat, after a PING not answered in time, fails with the PING's timeout and is never sent (one wait, not two)", async () => {
  let answering = true;
  await using server = fakeLineServer(() => answering ? '{"ok":true,"pong":true}' : null);
  const clock = manualClock();
  const link = new DaemonLink({
    hosts: ["127.0.0.1"],
    port: server.port,
    logger: quiet(),
    checkIdleMs: 5000,
    timeoutMs: 300,
    now: clock.now,
  });
  try {
    assert.equal((await link.request({ op: "PING" })).ok, true);
    answering = false; // paused
    clock.ms += 5001;
    await assert.rejects(
      link.request({ cliente: "Ana", productos: ["pan"], direccion: "Calle 1" }),
      (error) => error instanceof ClientError && error.code === "timeout",
    );
    assert.deepEqual(
      server.lines.map((line) => JSON.parse(line).op ?? "PEDIDO"),
      ["PING", "PING"],
      "the order was never sent",
    );
  } finally {
    await link.close();
  }
});

Deno.test("DaemonLink: a daemon over --max-connections answers busy to every request, never 'connection closed', and a freed place is taken", async () => {
  await using daemon = await startInProcess({ maxConnections: 1 });
  const held = await rawConnect(daemon.port);
  await held.write('{"op":"PING"}\n');
  assert.equal((await held.readLine())?.pong, true);
  const link = new DaemonLink({ hosts: ["127.0.0.1"], port: daemon.port, logger: quiet() });
  const order = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };
  try {
    for (let i = 0; i < 3; i++) {
      // STATS may be repeated; an order without clave may not: both must be told "busy".
      const stats = await link.request({ op: "STATS" });
      assert.ok(!stats.ok && stats.error === "busy", JSON.stringify(stats));
      const placed = await link.request(order);
      assert.ok(!placed.ok && placed.error === "busy", JSON.stringify(placed));
    }
    held.close();
    await waitUntil(() => daemon.server.connections === 0);
    assert.equal((await link.request(order)).ok, true);
  } finally {
    held.close();
    await link.close();
  }
});

/** A PING padded to exactly `bytes` bytes on the wire (without the newline). */
function pingOf(bytes: number) {
  const empty = JSON.stringify({ op: "PING", relleno: "" }).length;
  return { op: "PING" as const, relleno: "x".repeat(bytes - empty) };
}

Deno.test("DaemonLink answers a request over the daemon's --max-request-bytes too_large itself, never sending it; one at the limit is sent", async () => {
  const lines: string[] = [];
  await using daemon = await startInProcess({ maxRequestBytes: 1024 }, {
    logger: new Logger({ level: "info", write: (line) => lines.push(line) }),
  });
  const logged: string[] = [];
  const link = new DaemonLink({
    hosts: ["127.0.0.1"],
    port: daemon.port,
    logger: new Logger({ level: "info", write: (line) => logged.push(line) }),
    maxRequestBytes: 1024,
  });
  try {
    assert.equal(JSON.stringify(pingOf(1024)).length, 1024);
    assert.equal((await link.request(pingOf(1024))).ok, true, "at the limit: sent, answered");
    // As many characters, one of them a control character: 1029 bytes once encoded (`\u0001`).
    const over = { op: "PING" as const, relleno: `${pingOf(1024).relleno.slice(1)}\u0001` };
    const refused = await link.request(over);
    assert.ok(!refused.ok && refused.error === "too_large", JSON.stringify(refused));
    assert.match(
      refused.mensaje,
      /^❌ Solicitud demasiado grande: ocupa 1029 bytes codificada, y el servidor de pedidos admite 1024 como máximo\./,
    );
    // The connection stayed: an order without clave (never sent twice) goes on it.
    const order = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };
    assert.equal((await link.request(order)).ok, true);
    assert.deepEqual(lines.filter((line) => line.includes("request.too_large")), []);
    assert.equal(logged.filter((line) => line.includes("web.daemon_connected")).length, 1);
    assert.match(
      logged.join("\n"),
      /web\.request_too_large link=daemon op=PING bytes=1029 max=1024/,
    );
  } finally {
    await link.close();
  }
});

Deno.test("DaemonLink: after too_large from a daemon whose limit is below the link's, the next request opens a new connection", async () => {
  await using daemon = await startInProcess({ maxRequestBytes: 1024 });
  const link = new DaemonLink({ hosts: ["127.0.0.1"], port: daemon.port, logger: quiet() });
  try {
    const over = await link.request(pingOf(2000));
    assert.ok(!over.ok && over.error === "too_large", JSON.stringify(over));
    // The daemon closed that connection: an order without clave (never sent twice) is not lost with it.
    const order = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };
    assert.equal((await link.request(order)).ok, true);
  } finally {
    await link.close();
  }
});

Deno.test("pedidos web serves the gateway until stopped", async () => {
  await using daemon = await startInProcess();
  const stop = new AbortController();
  let out = "";
  let err = "";
  const ready = Promise.withResolvers<string>();
  const exit = runWebCommand(
    ["--web-port", "0", "--host", "127.0.0.1", "--port", String(daemon.port), "--log", "warn"],
    {
      signal: stop.signal,
      sources: { getEnv: () => undefined, readFile: () => null },
      stdout: (text) => {
        out += text;
        const url = /web listening on (http:\/\/\S+) /.exec(out);
        if (url) ready.resolve(url[1]!);
      },
      stderr: (text) => err += text,
    },
  );
  const url = await ready.promise;
  assert.match(out, /^web listening on http:\/\/127\.0\.0\.1:\d+\/ \(daemon 127\.0\.0\.1:\d+\)\n$/);
  const login = await fetch(`${url}login`);
  assert.equal(login.status, 200);
  assert.match(await login.text(), /<h1>Entrar<\/h1>/);
  stop.abort();
  assert.equal(await exit, 0);
  assert.equal(err, "");
});

Deno.test("pedidos web starts without the daemon and says so", async () => {
  using free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = free.addr.port;
  free.close(); // nothing listens there now
  const stop = new AbortController();
  let err = "";
  const ready = Promise.withResolvers<string>();
  const exit = runWebCommand(["--web-port", "0", "--host", "127.0.0.1", "--port", String(port)], {
    signal: stop.signal,
    sources: { getEnv: () => undefined, readFile: () => null },
    stdout: (text) => ready.resolve(/(http:\/\/\S+) /.exec(text)![1]!),
    stderr: (text) => err += text,
  });
  const url = await ready.promise;
  const page = await fetch(`${url}login`);
  assert.equal(page.status, 200, "the pages that need no daemon work");
  await page.body?.cancel();
  stop.abort();
  assert.equal(await exit, 0);
  assert.match(
    err,
    /WARN web\.daemon_not_ready daemon=127\.0\.0\.1:\d+ hint="start it with: deno task server"/,
  );
});

Deno.test("pedidos web answers a Host header that makes no URL with 400, logging no error", async () => {
  await using daemon = await startInProcess();
  const stop = new AbortController();
  let err = "";
  const ready = Promise.withResolvers<string>();
  const exit = runWebCommand(
    ["--web-port", "0", "--host", "127.0.0.1", "--port", String(daemon.port)],
    {
      signal: stop.signal,
      sources: { getEnv: () => undefined, readFile: () => null },
      stdout: (text) => ready.resolve(/http:\/\/127\.0\.0\.1:(\d+)\//.exec(text)![1]!),
      stderr: (text) => err += text,
    },
  );
  const port = Number(await ready.promise);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode("GET /login HTTP/1.1\r\nHost: a b<c>\r\nConnection: close\r\n\r\n"),
  );
  let text = "";
  const buf = new Uint8Array(4096);
  for (let n; (n = await conn.read(buf)) !== null;) {
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  conn.close();
  assert.match(text, /^HTTP\/1\.1 400 /);
  stop.abort();
  assert.equal(await exit, 0);
  assert.doesNotMatch(err, /ERROR/);
});

Deno.test("pedidos web: bad flags exit 2 with the usage; --help exits 0", async () => {
  let err = "";
  const code = await runWebCommand(["--web-port", "x"], {
    sources: { getEnv: () => undefined, readFile: () => null },
    stderr: (text) => err += text,
  });
  assert.equal(code, 2);
  assert.match(err, /Invalid --web-port "x"/);
  assert.match(err, /Usage: pedidos web/);
  let out = "";
  assert.equal(await runWebCommand(["--help"], { stdout: (text) => out += text }), 0);
  assert.match(out, /--web-host/);
});

testWith("read", "run", "env")(
  "pedidos web out of file descriptors logs it and listens again, rather than exiting",
  async () => {
    const webPort = unusedPort();
    // (No daemon: the sign-in page needs none.)
    const command = [
      Deno.execPath(),
      "run",
      ...taskPermissions("web"),
      `${ROOT}main.ts`,
      "web",
      "--host",
      "127.0.0.1",
      "--port",
      "1",
      "--web-host",
      "127.0.0.1",
      "--web-port",
      String(webPort),
    ];
    const [program, ...args] = withFdLimit(64, command);
    const child = new Deno.Command(program!, {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const output = Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    let status: Deno.CommandStatus;
    let stderr: string;
    try {
      const page = () => answers200(`http://127.0.0.1:${webPort}/login`);
      await waitUntil(page, { timeoutMs: 15_000, everyMs: 100, what: "the gateway listening" });
      // More connections than it has descriptors left: accepting fails.
      await exhaustAccepts(webPort, 100);
      await waitUntil(page, { timeoutMs: 10_000, everyMs: 200, what: "the gateway back" });
    } finally {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      // Awaited here, also when the test failed: the next test must not see it end.
      status = await child.status;
      [, stderr] = await output;
    }
    assert.equal(status.code, 0, stderr);
    assert.match(stderr, /web\.accept_failed/, "the failure was logged");
  },
);

/** Two daemons as hosts "a" and "b" of one link (each a fake on its own port). */
function twoHosts(a: FakeLineServer, b: FakeLineServer) {
  const ports: Record<string, number> = { a: a.port, b: b.port };
  return (hosts: string[]) =>
    PedidosClient.connect({ hostname: "127.0.0.1", port: ports[hosts[0] ?? ""]! });
}

/** A link to hosts "a" and "b", the fakes `a` and `b`, quiet, with `options` on top. */
function twoHostLink(
  a: FakeLineServer,
  b: FakeLineServer,
  options: Partial<DaemonLinkOptions> = {},
): DaemonLink {
  return new DaemonLink({
    hosts: ["a", "b"],
    port: 1,
    logger: quiet(),
    connect: twoHosts(a, b),
    ...options,
  });
}

/** The `op` of every request line `server` received, in order. */
function ops(server: FakeLineServer): string[] {
  return server.lines.map((line) => JSON.parse(line).op);
}

Deno.test("DaemonLink with several hosts sends a request refused by a stopping daemon to the next one, and stays there", async () => {
  await using a = fakeLineServer(() => ({
    close: true,
    reply: '{"ok":false,"error":"shutting_down","mensaje":"❌ Se está deteniendo."}',
  }));
  await using b = fakeLineServer(() => '{"ok":true,"pong":true}');
  const link = twoHostLink(a, b);
  try {
    assert.equal((await link.request({ op: "PING" })).ok, true, "answered by b");
    assert.equal((await link.request({ op: "PING" })).ok, true);
    assert.deepEqual([a.lines.length, b.lines.length], [1, 2], "a once, then b");
  } finally {
    await link.close();
  }
});

Deno.test("DaemonLink with several hosts gives up a daemon that does not answer in time: a request it must not repeat fails, one it may goes to the next host, as do the requests after", async () => {
  await using a = fakeLineServer(() => null); // paused: accepts, never answers
  await using b = fakeLineServer((line) =>
    JSON.parse(line).op === "PING" ? '{"ok":true,"pong":true}' : SIGNED_IN
  );
  for (const [first, resent] of [["LOGIN", false], ["PING", true]] as const) {
    const link = twoHostLink(a, b, {
      timeoutMs: 200,
    });
    try {
      const body = first === "LOGIN" ? { op: first, usuario: "ana", password: "x" } : { op: first };
      if (resent) assert.equal((await link.request(body)).ok, true, "answered by b");
      else await assert.rejects(link.request(body), /No reply from the daemon within 200 ms/);
      assert.equal((await link.request({ op: "PING" })).ok, true, "answered by b");
    } finally {
      await link.close();
    }
  }
  assert.deepEqual(ops(a), ["LOGIN", "PING"], "once each");
  assert.deepEqual(ops(b), ["PING", "PING", "PING"]);
});

const STOPPING = '{"ok":false,"error":"shutting_down","mensaje":"❌ Se está deteniendo."}';
const SIGNED_IN =
  '{"ok":true,"token":"t","usuario":"ana","rol":"usuario","expira":"2027-01-01T00:00:00.000Z"}';

Deno.test("DaemonLink with several hosts: a connection the stopping daemon closed while idle is replaced before a request it must not repeat is sent, and the daemon's refusal sends it to the next host", async () => {
  // a: answers one PING, then closes (a daemon that drains closes idle
  // connections); a later connection is refused shutting_down as it is accepted.
  await using a = fakeLineServer(() => ({ close: true, reply: '{"ok":true,"pong":true}' }), {
    refuse: (connection) => connection === 0 ? null : STOPPING,
  });
  await using b = fakeLineServer(() => SIGNED_IN);
  const link = twoHostLink(a, b);
  try {
    assert.equal((await link.request({ op: "PING" })).ok, true);
    // Within the idle check's 5 s: no PING first, the LOGIN itself goes out,
    // once the link has seen a's close (and closed its side too).
    await waitUntil(() => Promise.resolve(a.openConnections === 0), { what: "a's close" });
    const login = await link.request({ op: "LOGIN", usuario: "ana", password: "x" });
    assert.equal(login.ok, true, JSON.stringify(login));
    assert.deepEqual(ops(a), ["PING"], "the LOGIN never done by a");
    assert.deepEqual(ops(b), ["LOGIN"]);
  } finally {
    await link.close();
  }
});

Deno.test("DaemonLink with several hosts: a daemon that closed an idle connection (its idle timeout) and serves on is not set aside: the next request goes to it again", async () => {
  await using a = fakeLineServer((_line, { connection }) =>
    connection === 0 ? { close: true, reply: '{"ok":true,"pong":true}' } : SIGNED_IN
  );
  await using b = fakeLineServer(() => SIGNED_IN);
  const link = twoHostLink(a, b);
  try {
    assert.equal((await link.request({ op: "PING" })).ok, true);
    await waitUntil(() => Promise.resolve(a.openConnections === 0), { what: "a's close" });
    assert.equal((await link.request({ op: "LOGIN", usuario: "ana", password: "x" })).ok, true);
    assert.deepEqual(ops(a), ["PING", "LOGIN"]);
    assert.equal(b.lines.length, 0);
  } finally {
    await link.close();
  }
});

Deno.test("DaemonLink with several hosts: the PING that checks an idle connection, meeting the daemon's idle close, opens a new one on the same host, quietly", async () => {
  // a: its first connection signs in, then closes under the PING (its idle sweep).
  await using a = fakeLineServer((line, { connection }) =>
    connection === 0 && JSON.parse(line).op === "PING" ? { close: true } : SIGNED_IN
  );
  await using b = fakeLineServer(() => SIGNED_IN);
  const lines: string[] = [];
  const link = twoHostLink(a, b, {
    logger: new Logger({ write: (line) => lines.push(line) }),
    checkIdleMs: 0, // every sign-in checks its connection first
  });
  try {
    for (let i = 0; i < 2; i++) {
      const login = await link.request({ op: "LOGIN", usuario: "ana", password: "x" });
      assert.equal(login.ok, true, JSON.stringify(login));
    }
    assert.deepEqual(a.linesByConnection.map((c) => c.map((l) => JSON.parse(l).op)), [
      ["LOGIN", "PING"],
      ["LOGIN"],
    ]);
    assert.equal(b.lines.length, 0, "a healthy daemon is not set aside");
    assert.deepEqual(lines.filter((line) => / WARN /.test(line)), [], "nothing to warn of");
  } finally {
    await link.close();
  }
});

Deno.test("DaemonLink with every host set aside tries the one set aside longest ago first, not the one that refused just now", async () => {
  await using a = fakeLineServer(() => null, { refuse: () => STOPPING });
  await using b = fakeLineServer(() => SIGNED_IN);
  let clock = 0;
  // Both set aside (a rolling restart): b until 20 s, a until 10 s.
  const aside = new Map([["a", 10_000], ["b", 20_000]]);
  const link = twoHostLink(a, b, {
    now: () => clock,
    aside,
  });
  try {
    clock = 1_000;
    const login = await link.request({ op: "LOGIN", usuario: "ana", password: "x" });
    assert.equal(login.ok, true, JSON.stringify(login));
    assert.equal(b.lines.length, 1, "b, once a refused");
    assert.ok((aside.get("a") ?? 0) > 20_000, "a set aside again, past b");
  } finally {
    await link.close();
  }
});

Deno.test("DaemonLink with several hosts: an order with a clave, bare or in the gateway's data envelope, lost with its connection is sent again, to the next host", async () => {
  const order = { cliente: "Ana", productos: ["pan"], direccion: "C 1", clave: "k-1" };
  for (const body of [order, { op: "PEDIDO" as const, data: order }]) {
    // a: the connection is lost under the order (a daemon killed).
    await using a = fakeLineServer(() => ({ close: true }));
    await using b = fakeLineServer(() => '{"ok":true,"id":7,"estado":"pendiente"}');
    const link = twoHostLink(a, b);
    try {
      const placed = await link.request(body);
      assert.equal(placed.ok, true, JSON.stringify(placed));
      assert.deepEqual([a.lines.length, b.lines.length], [1, 1], JSON.stringify(body));
    } finally {
      await link.close();
    }
  }
});

Deno.test("connectDaemon() with several hosts: a host one connection found paused is tried last by the others, so it costs one wait, not one per connection", async () => {
  await using a = fakeLineServer(() => null); // paused: accepts, never answers
  await using b = fakeLineServer((line) =>
    JSON.parse(line).op === "PING"
      ? '{"ok":true,"pong":true}'
      : '{"ok":true,"id":1,"estado":"pendiente"}'
  );
  await using daemon = connectDaemon({
    hosts: ["a", "b"],
    port: 1,
    logger: quiet(),
    timeoutMs: 200,
    connect: twoHosts(a, b),
  });
  // The PING waits its 200 ms on a, then is answered by b.
  assert.equal((await daemon.request({ op: "PING" })).ok, true);
  // The orders connection, not opened yet, goes to b at once.
  const placed = await daemon.request({ cliente: "Ana", productos: ["pan"], direccion: "C 1" });
  assert.equal(placed.ok, true, JSON.stringify(placed));
  assert.equal(a.lines.length, 1, "only the first connection's PING ever reached a");
});

Deno.test("connectDaemon() with several hosts: a connection already open to a host another one found paused moves to the next host before its next request", async () => {
  let paused = false;
  await using a = fakeLineServer((line) =>
    paused ? null : JSON.parse(line).op === "PING" ? '{"ok":true,"pong":true}' : SIGNED_IN
  );
  await using b = fakeLineServer((line) =>
    JSON.parse(line).op === "PING" ? '{"ok":true,"pong":true}' : SIGNED_IN
  );
  await using daemon = connectDaemon({
    hosts: ["a", "b"],
    port: 1,
    logger: quiet(),
    timeoutMs: 200,
    connect: twoHosts(a, b),
  });
  // The queries and an accounts connection, both open on a.
  assert.equal((await daemon.request({ op: "PING" })).ok, true);
  assert.equal((await daemon.request({ op: "LOGIN", usuario: "ana", password: "x" })).ok, true);
  paused = true;
  // The queries connection finds a paused (one wait) and sets it aside.
  await daemon.request({ op: "PING" }).catch(() => {});
  // The accounts connection goes to b at once: a sign-in must not wait, nor fail.
  const login = await daemon.request({ op: "LOGIN", usuario: "ana", password: "x" });
  assert.equal(login.ok, true, JSON.stringify(login));
  assert.deepEqual(
    ops(a),
    ["PING", "LOGIN", "PING"],
    "the second sign-in never sent to a",
  );
});

/** The HTTP status of `GET target` with `Host: host` on a gateway started with `args`. */
async function withGateway(
  args: string[],
  use: (statusFor: (host: string, target?: string) => Promise<number>) => Promise<void>,
): Promise<void> {
  await using daemon = await startInProcess();
  const stop = new AbortController();
  const ready = Promise.withResolvers<string>();
  const exit = runWebCommand(
    [
      "--web-port",
      "0",
      "--host",
      "127.0.0.1",
      "--port",
      String(daemon.port),
      "--log",
      "warn",
      ...args,
    ],
    {
      signal: stop.signal,
      sources: { getEnv: () => undefined, readFile: () => null },
      stdout: (text) => ready.resolve(/http:\/\/127\.0\.0\.1:(\d+)\//.exec(text)![1]!),
      stderr: () => {},
    },
  );
  const port = Number(await ready.promise);
  const statusFor = async (host: string, target = "/login") => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode(
        `GET ${target} HTTP/1.1\r\nHost: ${host.replace("PORT", String(port))}\r\n` +
          "Connection: close\r\n\r\n",
      ),
    );
    let text = "";
    const buf = new Uint8Array(4096);
    for (let n; (n = await conn.read(buf)) !== null;) {
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    conn.close();
    return Number(/^HTTP\/1\.1 (\d+) /.exec(text)?.[1]);
  };
  try {
    await use(statusFor);
  } finally {
    stop.abort();
    assert.equal(await exit, 0);
  }
}

Deno.test("pedidos web on the loopback answers only loopback Host names: a DNS rebinding's name gets 421", async () => {
  await withGateway([], async (statusFor) => {
    assert.equal(await statusFor("evil.example:PORT"), 421);
    assert.equal(await statusFor("127.0.0.1:PORT"), 200);
    assert.equal(await statusFor("localhost:PORT"), 200);
    assert.equal(await statusFor("[::1]:PORT"), 200);
    // A request target in absolute form names the host too.
    assert.equal(await statusFor("localhost:PORT", "http://evil.example/login"), 421);
  });
});

Deno.test("pedidos web --web-allowed-hosts: behind a trusted proxy it answers any name, unless told loopback; any answers any", async () => {
  await withGateway(["--web-trust-proxy", "yes"], async (statusFor) => {
    assert.equal(await statusFor("pedidos.example"), 200);
  });
  await withGateway(
    ["--web-trust-proxy", "yes", "--web-allowed-hosts", "loopback"],
    async (statusFor) => {
      assert.equal(await statusFor("pedidos.example"), 421);
      assert.equal(await statusFor("localhost:PORT"), 200);
    },
  );
  await withGateway(["--web-allowed-hosts", "any"], async (statusFor) => {
    assert.equal(await statusFor("pedidos.example"), 200);
  });
});
