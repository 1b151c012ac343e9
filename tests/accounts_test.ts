/**
 * Accounts over the wire (PROTOCOL.md §2.6), against a real daemon.
 */
import assert from "node:assert/strict";
import { PedidosClient } from "../client/client.ts";
import { startInProcess, startSubprocess, tempDir } from "./test_util.ts";

const ANA = { usuario: "ana", password: "s3cret-pass" };

Deno.test("daemon: REGISTRO, LOGIN and GET_TAREAS_HTML over TCP", async () => {
  await using daemon = await startInProcess({ workers: 3 });
  const client = await daemon.client();
  assert.deepEqual(await client.request({ op: "REGISTRO", data: ANA }), {
    ok: true,
    usuario: "ana",
  });
  assert.equal((await client.request({ op: "REGISTRO", data: ANA })).error, "user_exists");
  const login = await client.request({
    op: "login",
    data: { username: "ANA", password: ANA.password },
  });
  assert.equal(login.ok, true);
  assert.equal(login.usuario, "ana");
  const tareas = await client.request({ op: "GET_TAREAS_HTML", token: login.token });
  assert.equal(tareas.ok, true);
  assert.match(String(tareas.html), /¡Hola, ana!/);
  assert.match(String(tareas.html), /<strong>3<\/strong> workers/);
  assert.equal((await client.request({ op: "GET_TAREAS_HTML" })).error, "unauthorized");
  assert.equal(
    (await client.request({ op: "LOGIN", usuario: "ana", password: "wrong-pass" })).error,
    "bad_credentials",
  );
});

Deno.test("daemon: logins hash off the main thread, so other clients are answered meanwhile", async () => {
  await using daemon = await startInProcess();
  const a = await daemon.client();
  const b = await daemon.client();
  await a.request({ op: "REGISTRO", data: ANA });
  const logins = Array.from({ length: 6 }, () => a.request({ op: "LOGIN", data: ANA }));
  const started = performance.now();
  const worst: number[] = [];
  let done = false;
  const all = Promise.all(logins).finally(() => done = true);
  while (!done) {
    const t = performance.now();
    assert.equal((await b.request({ op: "PING" })).ok, true);
    worst.push(performance.now() - t);
  }
  const took = performance.now() - started;
  for (const reply of await all) assert.equal(reply.ok, true);
  const slowest = Math.max(...worst);
  assert.ok(worst.length >= 3, `only ${worst.length} PINGs answered during ${took.toFixed(0)} ms`);
  assert.ok(slowest < took / 2, `a PING waited ${slowest.toFixed(0)} ms of ${took.toFixed(0)}`);
});

Deno.test("daemon: accounts and sessions survive a restart; --session-ttl-s ends sessions", async () => {
  await using dir = await tempDir();
  let token: unknown;
  {
    await using daemon = await startSubprocess(dir.path, ["--session-ttl-s", "2"]);
    await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: daemon.port });
    assert.equal((await client.request({ op: "REGISTRO", data: ANA })).ok, true);
    token = (await client.request({ op: "LOGIN", data: ANA })).token;
    daemon.kill("SIGTERM");
    assert.equal((await daemon.exited()).code, 0);
  }
  await using daemon = await startSubprocess(dir.path, ["--session-ttl-s", "2"]);
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: daemon.port });
  assert.equal((await client.request({ op: "GET_TAREAS_HTML", token })).ok, true);
  assert.equal((await client.request({ op: "LOGIN", data: ANA })).ok, true);
  await new Promise((resolve) => setTimeout(resolve, 2100));
  assert.equal((await client.request({ op: "GET_TAREAS_HTML", token })).error, "unauthorized");
  daemon.kill("SIGTERM");
  const { stderr } = await daemon.exited();
  assert.ok(!stderr.includes(ANA.password) && !stderr.includes(String(token)));
});
