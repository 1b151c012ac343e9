/**
 * Accounts over the wire (docs/protocol.md §2.6), against a real daemon.
 */
import assert from "node:assert/strict";
import { PedidosClient } from "../client/client.ts";
import { startInProcess, startSubprocess, tempDir, waitUntil } from "./test_util.ts";
import { testWith } from "./permissions.ts";
import { runUsuariosCommand } from "../server/accounts/usuarios_command.ts";

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

Deno.test("daemon: a name may have letters of any script, and is one account however its accents are typed", async () => {
  await using daemon = await startInProcess({});
  const client = await daemon.client();
  const password = "s3cret-pass";
  const registered = await client.request({ op: "REGISTRO", data: { usuario: "josé", password } });
  assert.deepEqual(registered, { ok: true, usuario: "josé" });
  // The same name with the accent as a combining mark: the same account.
  const again = await client.request({
    op: "REGISTRO",
    data: { usuario: "jose\u0301", password },
  });
  assert.equal(again.error, "user_exists");
  const login = await client.request({ op: "LOGIN", data: { usuario: "jose\u0301", password } });
  assert.deepEqual([login.ok, login.usuario], [true, "josé"]);
  const tareas = await client.request({ op: "GET_TAREAS_HTML", token: login.token });
  assert.match(String(tareas.html), /¡Hola, josé!/);
  assert.equal(
    (await client.request({ op: "REGISTRO", data: { usuario: "Ñandú_2", password } })).ok,
    true,
  );
});

Deno.test("daemon: a password is one password however its accents are typed, counted composed", async () => {
  await using daemon = await startInProcess({});
  const client = await daemon.client();
  const decomposed = "contrasen\u0303a"; // 11 code points as typed, 10 composed
  const registered = await client.request({
    op: "REGISTRO",
    data: { usuario: "marta", password: decomposed },
  });
  assert.equal(registered.ok, true);
  const login = await client.request({
    op: "LOGIN",
    data: { usuario: "marta", password: "contraseña" },
  });
  assert.deepEqual([login.ok, login.usuario], [true, "marta"]);
  assert.equal(
    (await client.request({ op: "LOGIN", data: { usuario: "marta", password: "contrasena" } }))
      .error,
    "bad_credentials",
  );
  // Eight code points as typed, seven once composed: too short, at either request.
  for (const op of ["REGISTRO", "LOGIN"]) {
    const short = await client.request({
      op,
      data: { usuario: "marta", password: "an\u0303o-123" },
    });
    assert.deepEqual([short.error, short.campo], ["invalid_user", "password"], op);
  }
});

Deno.test("daemon: other clients are answered while logins are being hashed", async () => {
  await using daemon = await startInProcess();
  const a = await daemon.client();
  const b = await daemon.client();
  await a.request({ op: "REGISTRO", data: ANA });
  // Six default-cost hashes, one after another on a's connection; b's PINGs
  // are answered before the first of them is done. (That hashes leave the
  // event loop free is shown in server/accounts/password_hash_test.ts.)
  let firstLoginAnswered = false;
  const logins = Array.from({ length: 6 }, () => a.request({ op: "LOGIN", data: ANA }));
  logins[0]!.finally(() => firstLoginAnswered = true);
  let answered = 0;
  while (!firstLoginAnswered && answered < 3) {
    assert.equal((await b.request({ op: "PING" })).ok, true);
    if (!firstLoginAnswered) answered++;
  }
  for (const reply of await Promise.all(logins)) assert.equal(reply.ok, true);
  assert.equal(answered, 3, "three PINGs were answered before the first LOGIN");
});

Deno.test("daemon: forty clients signing in at once are all signed in, with the default settings", async () => {
  await using daemon = await startInProcess();
  const first = await daemon.client();
  await first.request({ op: "REGISTRO", data: ANA });
  const clients = await Promise.all(Array.from({ length: 40 }, () => daemon.client()));
  const replies = await Promise.all(clients.map((c) => c.request({ op: "LOGIN", data: ANA })));
  const refused = replies.filter((reply) => !reply.ok);
  assert.deepEqual(refused, [], "every sign-in waits its turn for the hasher");
  assert.equal(new Set(replies.map((reply) => reply.token)).size, 40, "forty sessions");
});

testWith("read", "write", "run", "env")(
  "daemon: accounts and sessions survive a restart; --session-ttl-s ends sessions",
  async () => {
    await using dir = await tempDir();
    let token: unknown;
    {
      await using daemon = await startSubprocess(dir.path, ["--session-ttl-s", "3600"]);
      await using client = await PedidosClient.connect({
        hostname: "127.0.0.1",
        port: daemon.port,
      });
      assert.equal((await client.request({ op: "REGISTRO", data: ANA })).ok, true);
      token = (await client.request({ op: "LOGIN", data: ANA })).token;
      daemon.kill("SIGTERM");
      assert.equal((await daemon.exited()).code, 0);
    }
    // A daemon that gives sessions 2 s: the hour-long one still works after the
    // restart; a new one works at first, then ends.
    await using daemon = await startSubprocess(dir.path, ["--session-ttl-s", "2"]);
    await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: daemon.port });
    assert.equal((await client.request({ op: "GET_TAREAS_HTML", token })).ok, true);
    const short = (await client.request({ op: "LOGIN", data: ANA })).token;
    assert.equal((await client.request({ op: "GET_TAREAS_HTML", token: short })).ok, true);
    await waitUntil(
      async () => (await client.request({ op: "GET_TAREAS_HTML", token: short })).ok === false,
      { timeoutMs: 30_000, everyMs: 200, what: "the 2 s session to end" },
    );
    assert.equal(
      (await client.request({ op: "GET_TAREAS_HTML", token: short })).error,
      "unauthorized",
    );
    assert.equal(
      (await client.request({ op: "GET_TAREAS_HTML", token })).ok,
      true,
      "the hour-long session goes on",
    );
    daemon.kill("SIGTERM");
    const { stderr } = await daemon.exited();
    for (const secret of [ANA.password, String(token), String(short)]) {
      assert.ok(!stderr.includes(secret), "no secret in the log");
    }
  },
);

testWith("read", "write")(
  "pedidos usuarios finds an account however the accents of its name are typed",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    await using daemon = await startInProcess({ db });
    const client = await daemon.client();
    const password = "s3cret-pass";
    assert.equal((await client.request({ op: "REGISTRO", usuario: "Zoé", password })).ok, true);
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    // The name with the accent as a combining mark (a macOS file name, a paste).
    assert.equal(
      await runUsuariosCommand(["operador", "zoe\u0301", "--db", db], io),
      0,
      lines.join(),
    );
    const login = await client.request({ op: "LOGIN", usuario: "zoe\u0301", password });
    assert.equal(login.rol, "operador");
  },
);

Deno.test("daemon: sign-ups still waiting for the hasher when the daemon stops are each answered", async () => {
  const daemon = await startInProcess();
  try {
    // Forty default-cost hashes take longer than the stop waits for busy
    // connections: those not hashed yet must be answered shutting_down, not
    // left without a reply when their connection is closed.
    const clients = await Promise.all(Array.from({ length: 40 }, () => daemon.client()));
    const replies = clients.map((c, i) =>
      c.request({ op: "REGISTRO", data: { usuario: `user${i}`, password: "s3cret-pass" } })
    );
    // Every request is in the daemon before it stops.
    await daemon.client().then((c) => c.request({ op: "PING" }));
    await daemon.server.shutdown();
    const settled = await Promise.allSettled(replies);
    const codes = settled.map((s) => s.status === "fulfilled" ? s.value.error ?? "ok" : "no reply");
    assert.deepEqual(
      codes.filter((code) => code !== "ok" && code !== "shutting_down"),
      [],
      `every sign-up answered: ${codes.join(" ")}`,
    );
    assert.ok(codes.includes("shutting_down"), "some sign-ups were still waiting at the stop");
  } finally {
    await daemon[Symbol.asyncDispose]();
  }
});
