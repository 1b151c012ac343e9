/**
 * The metrics endpoint (§10) through HTTP: off unless asked, Prometheus
 * text 0.0.4 on `GET /metrics`, 404 elsewhere; the counters, gauges and
 * histograms scraped before and after a burst of orders.
 */
import { unusedPort } from "../client/testing/unused_port.ts";
import assert from "node:assert/strict";
import { Logger } from "../server/log.ts";
import { scrape } from "./metrics_util.ts";
import {
  answers200,
  rawConnect,
  startInProcess,
  startSubprocess,
  tempDir,
  waitUntil,
} from "./test_util.ts";
import { testWith } from "./permissions.ts";

Deno.test("the metrics endpoint is off unless --metrics-port is given", async () => {
  await using daemon = await startInProcess();
  assert.equal(daemon.server.metricsAddr, null);
});

testWith("read", "write", "run", "env")(
  "with --metrics-port 0 the daemon prints the metrics URL after its ready line, even at --log warn",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startSubprocess(dir.path, [
      "--db",
      `${dir.path}/p.db`,
      "--metrics-port",
      "0",
      "--log",
      "warn",
    ]);
    let url = "";
    await waitUntil(() => {
      url = daemon.stdoutSoFar().match(/^metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)$/m)?.[1] ??
        "";
      return url !== "";
    }, { what: "the metrics line on stdout" });
    assert.notEqual(new URL(url).port, String(daemon.port), "a port of its own");
    assert.equal(await answers200(url), true, `${url} is scraped`);
    daemon.kill("SIGTERM");
    const { code, stdout } = await daemon.exited();
    assert.equal(code, 0);
    const lines = stdout.split("\n");
    assert.match(lines[0]!, /^listening on /, "the ready line first");
    assert.equal(lines[1], `metrics on ${url}`);
  },
);

testWith("read", "write", "run", "env")(
  "--metrics-host * serves the metrics endpoint on every address, IPv4 and IPv6 loopback both",
  async () => {
    await using dir = await tempDir();
    const metricsPort = unusedPort();
    await using daemon = await startSubprocess(dir.path, [
      "--db",
      `${dir.path}/p.db`,
      "--metrics-host",
      "*",
      "--metrics-port",
      String(metricsPort),
    ]);
    assert.equal(await answers200(`http://127.0.0.1:${metricsPort}/metrics`), true, "IPv4");
    assert.equal(await answers200(`http://[::1]:${metricsPort}/metrics`), true, "IPv6");
    const line = new RegExp(`metrics on http://\\[::\\]:${metricsPort}/metrics`);
    await waitUntil(() => line.test(daemon.stdoutSoFar()), { what: "the metrics line" });
    daemon.kill("SIGTERM");
    assert.equal((await daemon.exited()).code, 0);
  },
);

Deno.test("a --metrics-port already in use stops the start with an error that names the metrics endpoint", async () => {
  using held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await assert.rejects(
    startInProcess({ metricsPort: held.addr.port }),
    (error: Error) =>
      error instanceof Deno.errors.AddrInUse &&
      error.message.includes(`--metrics-port ${held.addr.port}`),
  );
});

Deno.test("GET /metrics answers Prometheus text 0.0.4 on loopback; other paths 404, other methods 405", async () => {
  await using daemon = await startInProcess({ metricsPort: 0 });
  const addr = daemon.server.metricsAddr!;
  assert.equal(addr.hostname, "127.0.0.1");
  const metrics = await scrape(addr);
  assert.equal(metrics.contentType, "text/plain; version=0.0.4; charset=utf-8");
  assert.match(
    metrics.text,
    /^# HELP pedidos_recibidos_total .+\n# TYPE pedidos_recibidos_total counter\n/m,
  );
  for (const path of ["/", "/metric", "/metrics/x", "/favicon.ico"]) {
    const response = await fetch(`http://127.0.0.1:${addr.port}${path}`);
    await response.body?.cancel();
    assert.equal(response.status, 404, path);
  }
  const post = await fetch(`http://127.0.0.1:${addr.port}/metrics`, { method: "POST" });
  await post.body?.cancel();
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  // HEAD: GET's headers, with the length of the text a GET would get.
  const head = await fetch(`http://127.0.0.1:${addr.port}/metrics`, { method: "HEAD" });
  await head.body?.cancel();
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.ok(Number(head.headers.get("content-length")) > 1000, head.headers.get("content-length")!);
});

testWith("read", "write")(
  "metrics scraped before and after a burst count every order, its end and its time",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startInProcess({
      db: `${dir.path}/p.db`,
      metricsPort: 0,
      maxPedidos: 10,
      processMs: { min: 5, max: 20 },
    });
    const addr = daemon.server.metricsAddr!;
    const before = await scrape(addr);
    assert.equal(before.value("pedidos_recibidos_total"), 0);
    assert.equal(before.value("pedidos_capacidad"), 10);
    assert.equal(before.value("pedidos_libres"), 10);
    assert.equal(before.value("pedidos_workers"), 2);
    assert.equal(before.value('pedidos_duracion_segundos_bucket{le="+Inf"}'), 0);

    await using conn = await rawConnect(daemon.port);
    const BURST = 25;
    const order = JSON.stringify({ cliente: "Ana", productos: ["pan"], direccion: "C 1" });
    await conn.write(`${order}\n`.repeat(BURST) + "{}\n");
    const ids: number[] = [];
    let rejected = 0;
    for (let i = 0; i < BURST; i++) {
      const reply = await conn.readLine();
      if (reply?.ok) ids.push(reply.id as number);
      else rejected++;
    }
    assert.equal((await conn.readLine())?.error, "invalid_order");
    const during = await scrape(addr);
    assert.equal(during.value("pedidos_conexiones"), 1);
    for (const id of ids) {
      await conn.write(`{"op":"ESTADO","id":${id},"esperar":true}\n`);
      await conn.readLine();
    }
    await conn.write(`{"op":"CANCELAR","id":${ids[0]}}\n`);
    await conn.readLine();

    const after = await scrape(addr);
    assert.equal(
      after.value("pedidos_recibidos_total"),
      BURST + 1,
      "the invalid one counts as received",
    );
    assert.equal(after.value("pedidos_aceptados_total"), ids.length);
    assert.equal(after.value("pedidos_rechazados_total"), rejected);
    assert.ok(rejected > 0, "a burst over the capacity is partly refused");
    assert.equal(after.value('pedidos_finalizados_total{estado="listo"}'), ids.length);
    assert.equal(after.value('pedidos_finalizados_total{estado="error"}'), 0);
    assert.equal(after.value('pedidos_finalizados_total{estado="cancelado"}'), 0);
    assert.equal(after.value("pedidos_pendientes"), 0);
    assert.equal(after.value("pedidos_en_proceso"), 0);
    assert.equal(after.value("pedidos_libres"), 10);
    // The processing-time histogram: every order, each at least 5 ms, buckets cumulative.
    assert.equal(after.value("pedidos_duracion_segundos_count"), ids.length);
    assert.equal(after.value('pedidos_duracion_segundos_bucket{le="+Inf"}'), ids.length);
    assert.equal(after.value('pedidos_duracion_segundos_bucket{le="0.001"}'), 0);
    assert.ok(after.value("pedidos_duracion_segundos_sum") >= ids.length * 0.005);
    let last = 0;
    for (
      const line of after.text.matchAll(/^pedidos_duracion_segundos_bucket\{le="[^"]+"\} (\d+)$/gm)
    ) {
      assert.ok(Number(line[1]) >= last, "cumulative");
      last = Number(line[1]);
    }
    // The writer committed the burst in batches: inserts, starts and ends.
    const batches = after.value("pedidos_escritor_lote_operaciones_count");
    const ops = after.value("pedidos_escritor_lote_operaciones_sum");
    assert.ok(ops >= ids.length * 3, `${ops} operations for ${ids.length} orders`);
    assert.ok(batches >= 1 && batches <= ops);
    assert.equal(after.value("pedidos_escritor_commit_segundos_count"), batches);
    assert.equal(after.value("pedidos_workers_reiniciados_total"), 0);
    assert.ok(after.value("process_resident_memory_bytes") > 0);
  },
);

testWith("read", "write", "run", "env")(
  "out of file descriptors taken by order connections, the metrics endpoint accepts again: the daemon stays up and serves",
  async () => {
    await using dir = await tempDir();
    const metricsPort = unusedPort();
    await using daemon = await startSubprocess(dir.path, [
      "--db",
      `${dir.path}/p.db`,
      "--metrics-port",
      String(metricsPort),
      "--process-ms",
      "0",
    ], { fdLimit: 128 });
    // Order connections take every descriptor left; a scrape meanwhile cannot be accepted.
    const held: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 160; i++) {
        held.push(await Deno.connect({ hostname: "127.0.0.1", port: daemon.port }));
      }
      await fetch(`http://127.0.0.1:${metricsPort}/metrics`, {
        signal: AbortSignal.timeout(1500),
      }).then((response) => response.body?.cancel(), () => {});
    } finally {
      for (const conn of held) conn.close();
    }
    // Once they are gone, it is scraped again; the daemon never stopped.
    await waitUntil(() => answers200(`http://127.0.0.1:${metricsPort}/metrics`), {
      timeoutMs: 10_000,
      everyMs: 200,
      what: "the metrics endpoint back",
    });
    {
      await using conn = await rawConnect(daemon.port);
      await conn.write('{"op":"PING"}\n');
      assert.equal((await conn.readLine())?.ok, true);
    }
    daemon.process.kill("SIGTERM");
    const { code, stderr } = await daemon.exited();
    // (Whether a scrape met an accept failure, logged metrics.accept_failed, depends
    // on the moment it came: the daemon staying up and serving is what counts.)
    assert.equal(code, 0, stderr);
    // The order port's accepts failed every 50 ms meanwhile: said once, with advice,
    // not 20 times a second.
    const failed = stderr.split("\n").filter((line) => line.includes("server.accept_failed"));
    assert.ok(failed.length >= 1 && failed.length <= 2, failed.join("\n"));
    assert.match(failed[0] ?? "", /advice="out of file descriptors\?/);
  },
);

testWith("read", "write", "run", "env")(
  "silent connections to the metrics endpoint hold only its share: the order port answers, and a scrape is still answered",
  async () => {
    await using dir = await tempDir();
    const metricsPort = unusedPort();
    await using daemon = await startSubprocess(dir.path, [
      "--db",
      `${dir.path}/p.db`,
      "--metrics-port",
      String(metricsPort),
      "--process-ms",
      "0",
    ], { fdLimit: 128 });
    // More silent connections than the daemon has descriptors.
    const held: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 160; i++) {
        held.push(await Deno.connect({ hostname: "127.0.0.1", port: metricsPort }));
      }
      {
        await using conn = await rawConnect(daemon.port);
        await conn.write('{"op":"PING"}\n');
        assert.equal((await conn.readLine())?.ok, true, "the order port still answers");
        await conn.write('{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"}\n');
        assert.equal((await conn.readLine())?.ok, true, "and takes orders");
      }
      // The oldest silent connection gives its place to the scrape.
      const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.match(await scraped.text(), /^pedidos_aceptados_total 1$/m);
      assert.equal(scraped.status, 200, "silent connections cannot keep a scrape out");
    } finally {
      for (const conn of held) conn.close();
    }
    await waitUntil(() => answers200(`http://127.0.0.1:${metricsPort}/metrics`), {
      timeoutMs: 10_000,
      everyMs: 200,
      what: "the metrics endpoint serving again",
    });
    daemon.process.kill("SIGTERM");
    assert.equal((await daemon.exited()).code, 0);
  },
);

testWith("read", "write")(
  "connections reset before the metrics endpoint accepts them cost nothing: no error logged, the next scrape answered",
  async () => {
    const lines: string[] = [];
    const logger = new Logger({ level: "info", write: (line) => lines.push(line) });
    await using daemon = await startInProcess({ metricsPort: 0 }, { logger });
    const { port } = daemon.server.metricsAddr!;
    // A worker connects and resets 20 times while this thread (the daemon's) is
    // blocked, so each accept() meets a peer already gone (NotConnected). The
    // endpoint took that for running out of descriptors and waited a second for
    // each: 20 s without a scrape.
    const done = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL("./fixtures/reset_peers_worker.ts", import.meta.url), {
      type: "module",
    });
    worker.postMessage({ port, count: 20, done });
    assert.equal(Atomics.wait(done, 0, 0, 20_000), "ok", "the worker reset its connections");
    worker.terminate();
    const metrics = await scrape(daemon.server.metricsAddr!);
    assert.ok(metrics.text.includes("pedidos_recibidos_total"));
    assert.deepEqual(lines.filter((line) => line.includes("accept_failed")), []);
  },
);
