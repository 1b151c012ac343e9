/**
 * Hostile clients of the web gateway (issue 14): each attack of the review,
 * scaled down, fails. Anonymous page views keep no state; sign-in and
 * sign-up attempts are limited per address and account with 429 and
 * Retry-After; sign-ins never hold up orders on the way to the daemon; a
 * slow daemon is called slow; each account sees its own orders and only
 * operators the Panel; live streams are bounded and end with their
 * session; the CSRF page, the log and the cookies cannot be turned against
 * the user; a form too large for the daemon once encoded is refused by the
 * gateway, never closing the connection other users share.
 */
import assert from "node:assert/strict";
import { ClientError } from "../client/client.ts";
import { fakeLineServer } from "../client/testing/fake_line_server.ts";
import { createGatewayHandler, type GatewayDeps } from "../client/web/app.tsx";
import { connectDaemon, type DaemonClient, type DaemonRequest } from "../client/web/daemon.ts";
import { loggablePath } from "../client/web/middleware/request_log.ts";
import { KNOWN_BROWSER_COOKIE, SESSION_COOKIE } from "../client/web/responses.tsx";
import { SessionStore } from "../client/web/sessions.ts";
import { setAccountRole } from "../server/accounts/usuarios_command.ts";
import { Logger } from "../server/log.ts";
import type { Op, ReplyOf } from "../server/protocol/replies.ts";
import { startInProcess, tempDir, waitUntil } from "./test_util.ts";
import { EventStream, FakeBrowser, FakeDaemon, ORIGIN, signIn } from "./web_test_util.ts";
import { testWith } from "./permissions.ts";

const PASSWORD = "s3cret-pass";

/** A gateway on a fake daemon, its handler called as `Deno.serve` would, from `address`. */
function gateway(options: Partial<GatewayDeps> & { daemon?: DaemonClient } = {}) {
  const daemon = options.daemon ?? new FakeDaemon();
  const lines: string[] = [];
  const handler = createGatewayHandler({
    logger: new Logger({ level: "debug", write: (line) => lines.push(line) }),
    liveIntervalMs: 10,
    ...options,
    daemon,
  });
  const from = (hostname: string) => (request: Request) =>
    handler(request, { remoteAddr: { transport: "tcp", hostname, port: 40000 } });
  return {
    daemon,
    handler,
    lines,
    /** A browser whose requests come from `hostname`. */
    browser: (hostname = "198.51.100.7") => new FakeBrowser(from(hostname)),
    [Symbol.dispose]() {
      handler.close();
    },
  };
}

function streamRequest(browser: FakeBrowser, path: string): Request {
  return new Request(`${ORIGIN}${path}`, {
    headers: { cookie: `${SESSION_COOKIE}=${browser.cookies.get(SESSION_COOKIE)}` },
  });
}

Deno.test("gateway hostile: a flood of anonymous page views keeps no state and cannot void a pending sign-in form", async () => {
  const sessions = new SessionStore({ maxSessions: 50 });
  using gw = gateway({ sessions });
  const daemon = gw.daemon as FakeDaemon;
  daemon.users.set("ana", { usuario: "ana", password: PASSWORD });
  const ana = gw.browser();
  await ana.get("/login"); // the form is open...
  for (let i = 0; i < 500; i++) {
    const flood = await gw.handler(new Request(`${ORIGIN}/login`)); // no cookie, every time
    assert.equal(flood.status, 200);
    await flood.body?.cancel();
  }
  assert.equal(sessions.size, 0, "nothing is kept for anonymous visitors");
  const page = await ana.post("/login", { usuario: "ana", password: PASSWORD }); // ...and still works
  assert.equal(page.status, 303);
  assert.equal(page.location, "/");
  assert.equal(sessions.size, 1, "one session, made by the sign-in");
});

Deno.test("gateway hostile: a burst of wrong-password logins from one address gets 429 with Retry-After; the daemon sees few", async () => {
  const clock = { ms: Date.now() };
  using gw = gateway({ now: () => clock.ms });
  const daemon = gw.daemon as FakeDaemon;
  daemon.users.set("ana", { usuario: "ana", password: PASSWORD });
  const attacker = gw.browser("203.0.113.9");
  await attacker.get("/login");
  const pages = await Promise.all(
    Array.from(
      { length: 300 },
      (_, i) => attacker.post("/login", { usuario: `victima${i % 50}`, password: "wrong-pass" }),
    ),
  );
  const limited = pages.filter((page) => page.status === 429);
  assert.equal(pages.length - limited.length, 10, "10 attempts per address go through");
  assert.equal(daemon.sent("LOGIN").length, 10, "the rest never reach the daemon");
  assert.equal(limited[0]!.headers.get("retry-after"), "1");
  assert.match(limited[0]!.text, /Demasiados intentos\. Espere 1 s y vuelva a intentarlo/);
  // The backoff doubles: after the wait, one more attempt, then a longer wait.
  clock.ms += 1000;
  assert.equal(
    (await attacker.post("/login", { usuario: "x1", password: "wrong-pass" })).status,
    401,
  );
  const next = await attacker.post("/login", { usuario: "x2", password: "wrong-pass" });
  assert.equal(next.headers.get("retry-after"), "2");
  // Another address signs in meanwhile.
  const other = gw.browser("198.51.100.20");
  await other.get("/login");
  assert.equal((await other.post("/login", { usuario: "ana", password: PASSWORD })).status, 303);
});

Deno.test("gateway hostile: sign-ins and sign-ups that never reached the daemon use up no attempts", async () => {
  using gw = gateway();
  const daemon = gw.daemon as FakeDaemon;
  daemon.users.set("ana", { usuario: "ana", password: PASSWORD });
  const browser = gw.browser("203.0.113.7");
  await browser.get("/login");
  daemon.down = true;
  const during: number[] = [];
  for (let i = 0; i < 12; i++) {
    during.push((await browser.post("/login", { usuario: "ana", password: PASSWORD })).status);
  }
  assert.deepEqual(during, Array(12).fill(503), "an outage, not a guess");
  const signUps: number[] = [];
  for (let i = 0; i < 12; i++) {
    const form = { usuario: `bea${i}`, password: PASSWORD, password2: PASSWORD };
    signUps.push((await browser.post("/registro", form)).status);
  }
  assert.deepEqual(signUps, Array(12).fill(503));
  daemon.down = false;
  assert.equal((await browser.post("/login", { usuario: "ana", password: PASSWORD })).status, 303);
});

Deno.test("gateway hostile: sign-ins sent and never answered still count: a flood that makes the daemon late is limited", async () => {
  using gw = gateway();
  const daemon = gw.daemon as FakeDaemon;
  daemon.users.set("ana", { usuario: "ana", password: PASSWORD });
  daemon.silent = true;
  const browser = gw.browser("203.0.113.8");
  await browser.get("/login");
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    statuses.push(
      (await browser.post("/login", { usuario: "ana", password: "wrong-pass" })).status,
    );
  }
  assert.deepEqual(statuses, [503, 503, 503, 503, 503, 429], "the account's 5 free attempts");
});

Deno.test("gateway hostile: logins for one account are limited from any address; a right password resets them", async () => {
  const clock = { ms: Date.now() };
  using gw = gateway({ now: () => clock.ms });
  const daemon = gw.daemon as FakeDaemon;
  daemon.users.set("ana", { usuario: "ana", password: PASSWORD });
  const tries = async (n: number, password: string) => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      const browser = gw.browser(`203.0.113.${i + 1}`); // a new address each time
      await browser.get("/login");
      statuses.push((await browser.post("/login", { usuario: "ANA", password })).status);
    }
    return statuses;
  };
  assert.deepEqual(await tries(6, "wrong-pass"), [401, 401, 401, 401, 401, 429]);
  clock.ms += 1000;
  assert.deepEqual(await tries(1, PASSWORD), [303], "the owner gets in after the wait");
  assert.deepEqual(
    await tries(5, "wrong-pass"),
    [401, 401, 401, 401, 401],
    "and the count starts over",
  );
});

Deno.test("gateway hostile: a sign-in with a name longer than any account's is refused as the daemon would, asked of no one and counted nowhere", async () => {
  using gw = gateway();
  const daemon = gw.daemon as FakeDaemon;
  daemon.users.set("ana", { usuario: "ana", password: PASSWORD });
  const attacker = gw.browser("203.0.113.9");
  await attacker.get("/login");
  const long = "a".repeat(65);
  for (const usuario of [long, long, `${long}${"b".repeat(60_000)}`, ...Array(20).fill(long)]) {
    const page = await attacker.post("/login", { usuario, password: "wrong-pass" });
    assert.equal(page.status, 422, `a name of ${usuario.length}`);
    assert.match(
      page.text,
      /❌ El usuario debe tener de 3 a 64 caracteres: letras, dígitos, &quot;.&quot;, &quot;_&quot; o &quot;-&quot;./,
    );
  }
  assert.equal(daemon.sent("LOGIN").length, 0, "the daemon was never asked");
  // Nothing was counted for the address: its 10 free attempts are all still there.
  const statuses = [];
  for (let i = 0; i < 11; i++) {
    const page = await attacker.post("/login", { usuario: `victima${i}`, password: "wrong-pass" });
    statuses.push(page.status);
  }
  assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
  // 64 letters, however typed (here with combining accents: 128 UTF-16 units), may be a name.
  const accented = "e\u0301".repeat(64);
  const other = gw.browser("198.51.100.30");
  await other.get("/login");
  assert.equal((await other.post("/login", { usuario: accented, password: PASSWORD })).status, 401);
  assert.deepEqual(daemon.sent("LOGIN").at(-1)?.data, { usuario: accented, password: PASSWORD });
});

Deno.test("gateway hostile: wrong passwords from elsewhere do not lock out a browser that signed in to the account before", async () => {
  const clock = { ms: Date.now() };
  using gw = gateway({ now: () => clock.ms });
  const daemon = gw.daemon as FakeDaemon;
  daemon.users.set("ana", { usuario: "ana", password: PASSWORD });
  // Ana signs in on her browser, which keeps the gateway's mark for her account, and signs out.
  const own = gw.browser("198.51.100.20");
  await own.get("/login");
  assert.equal((await own.post("/login", { usuario: "ana", password: PASSWORD })).status, 303);
  assert.ok(own.cookies.has(KNOWN_BROWSER_COOKIE), "the browser is marked");
  await own.get("/");
  assert.equal((await own.post("/logout", {})).status, 303);
  // Someone else, from many addresses, tries her account until it is limited.
  const guess = async (browser: FakeBrowser, password: string, usuario = "ANA") => {
    await browser.get("/login");
    return (await browser.post("/login", { usuario, password })).status;
  };
  const guesses = [];
  for (let i = 0; i < 6; i++) guesses.push(await guess(gw.browser(`203.0.113.${i + 1}`), "x"));
  assert.deepEqual(guesses, [401, 401, 401, 401, 401, 429]);
  assert.equal(await guess(gw.browser("203.0.113.50"), PASSWORD), 429, "a new browser waits");
  // Her own browser is counted on its own: her right password still gets her in.
  assert.equal(await guess(own, PASSWORD), 303);
  // A mark is the account's and the gateway's: another account's, or a forged one, counts for nothing.
  const forger = gw.browser("203.0.113.60");
  forger.cookies.set(KNOWN_BROWSER_COOKIE, own.cookies.get(KNOWN_BROWSER_COOKIE)!);
  daemon.users.set("eva", { usuario: "eva", password: PASSWORD });
  for (let i = 0; i < 5; i++) await guess(gw.browser(`203.0.113.${70 + i}`), "x", "eva");
  assert.equal(await guess(forger, PASSWORD, "eva"), 429, "ana's mark is no mark for eva");
  forger.cookies.set(KNOWN_BROWSER_COOKIE, "abc.def");
  assert.equal(await guess(forger, PASSWORD, "eva"), 429, "a forged mark is none");
  // And the marked browser's own wrong guesses are limited like anyone's.
  await own.get("/");
  assert.equal((await own.post("/logout", {})).status, 303);
  const mine = [];
  for (let i = 0; i < 6; i++) mine.push(await guess(own, "x"));
  assert.deepEqual(mine, [401, 401, 401, 401, 401, 429]);
});

Deno.test("gateway hostile: registrations are limited per address", async () => {
  using gw = gateway();
  const browser = gw.browser();
  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) {
    const page = await browser.submit("/registro", {
      usuario: `user${i}`,
      password: PASSWORD,
      password2: PASSWORD,
    });
    statuses.push(page.status);
  }
  assert.deepEqual(statuses, [303, 303, 303, 303, 303, 429, 429]);
  assert.equal((gw.daemon as FakeDaemon).sent("REGISTRO").length, 5);
});

Deno.test("gateway hostile: a sign-up the daemon refuses by its rules (a name too short, a space in it) uses up none of the address's sign-ups", async () => {
  using gw = gateway();
  const browser = gw.browser();
  const statuses: number[] = [];
  for (
    const usuario of [
      "ab",
      "a b",
      "x",
      "yo",
      "ab",
      "cd",
      "user1",
      "user2",
      "user3",
      "user4",
      "user5",
      "user6",
    ]
  ) {
    const page = await browser.submit("/registro", {
      usuario,
      password: PASSWORD,
      password2: PASSWORD,
    });
    statuses.push(page.status);
  }
  assert.deepEqual(statuses, [422, 422, 422, 422, 422, 422, 303, 303, 303, 303, 303, 429]);
});

Deno.test("gateway hostile: X-Forwarded-For counts only with --web-trust-proxy", async () => {
  for (const trustProxy of [false, true]) {
    using gw = gateway({ trustProxy });
    const browser = gw.browser("127.0.0.1"); // the proxy
    await browser.get("/login");
    let limited = 0;
    for (let i = 0; i < 12; i++) {
      const request = new Request(`${ORIGIN}/login`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          origin: ORIGIN,
          cookie: `${SESSION_COOKIE}=${browser.cookies.get(SESSION_COOKIE)}`,
          "x-forwarded-for": `10.0.0.1, 192.0.2.${i}`, // the proxy appends the real client last
        },
        body: new URLSearchParams({ usuario: `u${i}`, password: "wrong", _csrf: browser.csrf! }),
      });
      if ((await browser.send(request)).status === 429) limited++;
    }
    assert.equal(limited, trustProxy ? 0 : 2, `trustProxy ${trustProxy}`);
  }
});

/**
 * A daemon that answers like the real one, in order on each connection, but
 * never answers LOGIN (a password hashed for ever): what comes after a LOGIN
 * on its connection waits too.
 */
function stuckLoginDaemon() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        let buffer = "";
        let stuck = false;
        for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) {
          buffer += chunk;
          for (let at = buffer.indexOf("\n"); at >= 0; at = buffer.indexOf("\n")) {
            const request = JSON.parse(buffer.slice(0, at));
            buffer = buffer.slice(at + 1);
            if (request.op === "LOGIN") stuck = true;
            if (stuck) continue;
            const reply = request.op === "PING"
              ? { ok: true, pong: true }
              : { ok: true, id: 1, estado: "pendiente", mensaje: "✅ Pedido 1 recibido." };
            await conn.write(new TextEncoder().encode(JSON.stringify(reply) + "\n"));
          }
        }
      })().catch(() => {}).finally(() => conns.delete(conn));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) conn.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test("gateway hostile: logins waiting on the daemon never hold up an order", async () => {
  await using daemon = stuckLoginDaemon();
  await using link = connectDaemon({
    hosts: ["127.0.0.1"],
    port: daemon.port,
    logger: new Logger({ level: "error", write: () => {} }),
    timeoutMs: 60_000,
  });
  const stop = new AbortController();
  const logins = Array.from(
    { length: 5 },
    () =>
      link.request({ op: "LOGIN", data: { usuario: "ana", password: "wrong-pass" } }, {
        signal: stop.signal,
      }).catch(() => null),
  );
  const order = await link.request({ cliente: "Ana", productos: ["pan"], direccion: "C 1" });
  assert.equal(order.ok, true, "the order went on its own connection and was answered");
  stop.abort();
  await Promise.all(logins);
});

/** A daemon client whose replies never come in time, like a daemon swamped with work. */
class SlowDaemon implements DaemonClient {
  readonly address = "localhost:8888";
  request<O extends Op>(_body: DaemonRequest<O>): Promise<ReplyOf<O>> {
    return Promise.reject(new ClientError("timeout", "No reply from the daemon within 15000 ms"));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

Deno.test("gateway hostile: a daemon that is up but slow is called slow, not down", async () => {
  using gw = gateway({ daemon: new SlowDaemon() });
  const browser = gw.browser();
  await browser.get("/login");
  const page = await browser.post("/login", { usuario: "ana", password: PASSWORD });
  assert.equal(page.status, 503);
  assert.match(page.text, /está en marcha pero tarda demasiado en responder/);
  assert.doesNotMatch(page.text, /No hay conexión/);
});

Deno.test("gateway hostile: a daemon address that answers with something not of the protocol is called that, not down", async () => {
  // Something at the daemon's address that answers `{"ok":true}` to every line, whatever it asked.
  await using other = fakeLineServer(() => '{"ok":true}');
  await using link = connectDaemon({
    hosts: ["127.0.0.1"],
    port: other.port,
    logger: new Logger({ level: "error", write: () => {} }),
  });
  using gw = gateway({ daemon: link });
  const browser = gw.browser();
  await browser.get("/login");
  const page = await browser.post("/login", { usuario: "ana", password: PASSWORD });
  assert.equal(page.status, 503);
  assert.match(page.text, /no envió una respuesta válida del protocolo de pedidos/);
  assert.doesNotMatch(page.text, /No hay conexión/);
});

testWith("read", "write")(
  "gateway hostile: each account sees its own orders and feed; only operators get the Panel",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    await using daemon = await startInProcess({ db, maxPedidos: 20 });
    await using link = connectDaemon({
      hosts: ["127.0.0.1"],
      port: daemon.port,
      logger: new Logger({ level: "error", write: () => {} }),
    });
    using gw = gateway({ daemon: link });
    const ana = gw.browser("198.51.100.1");
    const beto = gw.browser("198.51.100.2");
    await signIn(ana, "ana");
    await signIn(beto, "beto");
    const form = { cliente: "Ana Secreta", productos: "pan", direccion: "Calle 1", clave: "k-1" };
    await ana.get("/pedidos");
    assert.equal((await ana.post("/pedidos", form)).status, 303);
    const anaPage = await ana.get("/pedidos");
    assert.match(anaPage.text, /Ana Secreta/);
    assert.doesNotMatch((await beto.get("/pedidos")).text, /Ana Secreta/, "beto does not see it");
    // The same clave from beto is his own order, never "already registered" with ana's id.
    assert.equal((await beto.post("/pedidos", { ...form, cliente: "Beto" })).status, 303);
    const betoPage = await beto.get("/pedidos");
    assert.match(betoPage.text, /✅ Pedido 2 recibido/);
    assert.doesNotMatch(betoPage.text, /ya estaba registrado/);
    // Live feeds are per session.
    {
      await using events = new EventStream(
        await gw.handler(streamRequest(beto, "/pedidos/eventos")),
      );
      const text = await events.until(/data-id="2"/);
      assert.doesNotMatch(text, /Ana Secreta/);
    }
    // The Panel: 403 for users, in Spanish; 200 for an operator.
    const refused = await beto.get("/panel");
    assert.equal(refused.status, 403);
    assert.match(refused.text, /Solo para operadores/);
    assert.doesNotMatch(refused.text, /href="\/panel"/, "no Panel link for users");
    assert.equal((await gw.handler(streamRequest(beto, "/panel/eventos"))).status, 403);
    assert.equal(await setAccountRole(db, "ana", "operador"), true);
    await signIn(ana, "ana"); // the gateway learns the role at sign-in
    const panel = await ana.get("/panel");
    assert.equal(panel.status, 200);
    assert.match(panel.text, /href="\/panel"/);
    assert.match(panel.text, /data-id="1"/);
    assert.match(panel.text, /data-id="2"/, "an operador sees everyone's orders");
  },
);

Deno.test("gateway hostile: a live stream ends when its session ends: logout, expiry", async () => {
  const clock = { offset: 0 };
  const now = () => Date.now() + clock.offset;
  using gw = gateway({ now, sessions: new SessionStore({ now }) });
  const browser = gw.browser();
  await signIn(browser);
  {
    await using events = new EventStream(
      await gw.handler(streamRequest(browser, "/pedidos/eventos")),
    );
    await events.until("event: html");
    await browser.get("/tareas"); // a page of the session, with its CSRF token
    assert.equal((await browser.post("/logout", {})).status, 303);
    await events.end({ timeoutMs: 2000 });
  }
  await signIn(browser); // the fake daemon's sessions last an hour
  clock.offset = 3600_000 - 300; // the session has about 300 ms left
  await using events = new EventStream(
    await gw.handler(streamRequest(browser, "/pedidos/eventos")),
  );
  await events.until("event: html");
  await events.end({ timeoutMs: 5000 });
  const after = await browser.get("/pedidos");
  assert.equal(after.location, "/login?next=%2Fpedidos", "and the session is over");
});

Deno.test("gateway hostile: live streams are capped per session and in all with 429", async () => {
  using gw = gateway({ maxStreams: 5, maxStreamsPerSession: 3 });
  const ana = gw.browser();
  const eva = gw.browser();
  await signIn(ana, "ana");
  await signIn(eva, "eva");
  const open: EventStream[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const response = await gw.handler(streamRequest(ana, "/pedidos/eventos"));
      assert.equal(response.status, 200);
      open.push(new EventStream(response));
    }
    const fourth = await gw.handler(streamRequest(ana, "/pedidos/eventos"));
    assert.equal(fourth.status, 429);
    assert.match(await fourth.text(), /demasiadas páginas en vivo abiertas \(máximo 3\)/);
    for (let i = 0; i < 2; i++) {
      const response = await gw.handler(streamRequest(eva, "/pedidos/eventos"));
      assert.equal(response.status, 200);
      open.push(new EventStream(response));
    }
    const sixth = await gw.handler(streamRequest(eva, "/pedidos/eventos"));
    assert.equal(sixth.status, 429, "5 in all");
    assert.equal(sixth.headers.get("retry-after"), "10");
    await sixth.body?.cancel();
    // A browser that leaves gives its place back.
    await open.shift()![Symbol.asyncDispose]();
    await waitUntil(async () => {
      const again = await gw.handler(streamRequest(eva, "/pedidos/eventos"));
      if (again.status !== 200) return (await again.body?.cancel(), false);
      open.push(new EventStream(again));
      return true;
    }, { what: "a place to be given back" });
  } finally {
    for (const events of open) await events[Symbol.asyncDispose]();
  }
});

Deno.test("gateway hostile: one account signed in many times cannot take more than its share of the live streams", async () => {
  using gw = gateway({ maxStreams: 10, maxStreamsPerSession: 2, maxStreamsPerAccount: 3 });
  const sessions = [gw.browser(), gw.browser()];
  for (const browser of sessions) await signIn(browser, "ana");
  const eva = gw.browser();
  await signIn(eva, "eva");
  const open: EventStream[] = [];
  try {
    for (const browser of [sessions[0]!, sessions[0]!, sessions[1]!]) {
      const response = await gw.handler(streamRequest(browser, "/pedidos/eventos"));
      assert.equal(response.status, 200);
      open.push(new EventStream(response));
    }
    // Ana's second session has a place of its own left, but her account has none.
    const fourth = await gw.handler(streamRequest(sessions[1]!, "/pedidos/eventos"));
    assert.equal(fourth.status, 429);
    assert.match(
      await fourth.text(),
      /Su cuenta tiene demasiadas páginas en vivo abiertas \(máximo 3/,
    );
    // Another account is served.
    const other = await gw.handler(streamRequest(eva, "/pedidos/eventos"));
    assert.equal(other.status, 200);
    open.push(new EventStream(other));
    // One of Ana's pages closed gives her account its place back.
    await open.shift()![Symbol.asyncDispose]();
    await waitUntil(async () => {
      const again = await gw.handler(streamRequest(sessions[1]!, "/pedidos/eventos"));
      if (again.status !== 200) return (await again.body?.cancel(), false);
      open.push(new EventStream(again));
      return true;
    }, { what: "the account's place to be given back" });
  } finally {
    for (const events of open) await events[Symbol.asyncDispose]();
  }
});

Deno.test("gateway hostile: HEAD on a live stream opens none, so it takes no place from a page", async () => {
  using gw = gateway({ maxStreams: 2, maxStreamsPerSession: 2 });
  const ana = gw.browser();
  await signIn(ana, "ana");
  const asked = () => (gw.daemon as FakeDaemon).requests.length;
  for (let i = 0; i < 6; i++) {
    const head = await gw.handler(
      new Request(streamRequest(ana, "/pedidos/eventos"), { method: "HEAD" }),
    );
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "text/event-stream");
    assert.equal(head.headers.get("cache-control"), "no-store", "a user's orders, as pages");
    assert.equal(head.body, null);
  }
  const before = asked();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(asked(), before, "nothing polls the daemon for a HEAD");
  const open: EventStream[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const response = await gw.handler(streamRequest(ana, "/pedidos/eventos"));
      assert.equal(response.status, 200, "the session's places are all free");
      assert.equal(response.headers.get("cache-control"), "no-store", "kept in no cache");
      open.push(new EventStream(response));
    }
  } finally {
    for (const events of open) await events[Symbol.asyncDispose]();
  }
});

Deno.test("gateway hostile: the CSRF page links back to a fixed page, never to the request's path", async () => {
  using gw = gateway();
  for (const path of ["//evil.example/", "/\\evil.example"]) {
    const page = await gw.browser().send(
      new Request(`${ORIGIN}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          origin: "https://evil.example",
        },
        body: "x=1",
      }),
    );
    assert.equal(page.status, 403, path);
    assert.match(page.text, /<a href="\/">Volver<\/a>/, path);
    assert.doesNotMatch(page.text, /evil\.example/, path);
  }
});

Deno.test("gateway hostile: control characters in a request path are logged escaped", async () => {
  using gw = gateway();
  await gw.browser().get("/%1b[2J%00x%7f");
  const line = gw.lines.find((l) => l.includes("web.request") && l.includes("[2J"))!;
  assert.ok(line !== undefined, gw.lines.join("\n"));
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f]/);
  assert.equal(loggablePath("/a\u001b[2J\u0000\u009b"), "/a%1B[2J%00%C2%9B");
});

Deno.test("gateway hostile: a right-to-left override in a path is shown escaped on the 404 page and in the log", async () => {
  using gw = gateway();
  // Reads as "No existe /.Verifique su cuenta en example.com" once reversed.
  const page = await gw.browser().get("/%E2%80%AEmoc.elpmaxe%20ne%20atneuc%20us%20euqifireV");
  assert.equal(page.status, 404);
  assert.match(page.text, /No existe \/%E2%80%AEmoc\.elpmaxe ne atneuc us euqifireV\./);
  assert.doesNotMatch(page.text, /\u202e/);
  const line = gw.lines.find((l) => l.includes("web.request") && l.includes("elpmaxe"));
  assert.ok(line !== undefined, gw.lines.join("\n"));
  assert.doesNotMatch(line, /\u202e/);
  assert.equal(loggablePath("/a\u2066b\u200f"), "/a%E2%81%A6b%E2%80%8F");
});

Deno.test("gateway hostile: cookies are Secure behind an HTTPS proxy only when it is trusted, or always when configured", async () => {
  const cookieOf = async (options: Partial<GatewayDeps>, headers: Record<string, string>) => {
    using gw = gateway(options);
    const response = await gw.handler(new Request(`${ORIGIN}/login`, { headers }));
    await response.body?.cancel();
    return response.headers.getSetCookie().join("\n");
  };
  const proxied = { "x-forwarded-proto": "https" };
  assert.doesNotMatch(await cookieOf({}, proxied), /Secure/, "an untrusted header is ignored");
  assert.match(await cookieOf({ trustProxy: true }, proxied), /; Secure/);
  assert.doesNotMatch(await cookieOf({ trustProxy: true }, {}), /Secure/, "plain HTTP");
  assert.match(await cookieOf({ secureCookies: "always" }, {}), /; Secure/);
});

Deno.test("gateway hostile: behind a trusted HTTPS proxy a form from the page's own https origin passes, without Sec-Fetch-Site", async () => {
  // What an older browser sends (no Sec-Fetch-Site) through the documented proxy.
  const post = async (options: Partial<GatewayDeps>, origin: string) => {
    using gw = gateway(options);
    const browser = gw.browser();
    await browser.get("/login");
    const headers = new Headers({
      "content-type": "application/x-www-form-urlencoded",
      "x-forwarded-proto": "https",
      origin,
      cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
    });
    const body = new URLSearchParams({ usuario: "ana", password: "s3cret-pass" });
    body.set("_csrf", browser.csrf!);
    const response = await gw.handler(
      new Request(`${ORIGIN}/login`, { method: "POST", headers, body }),
    );
    await response.body?.cancel();
    return response.status;
  };
  const https = ORIGIN.replace("http:", "https:");
  assert.notEqual(await post({ trustProxy: true }, https), 403, "its own origin");
  assert.equal(await post({ trustProxy: true }, "https://evil.test"), 403, "another origin");
  assert.equal(await post({}, https), 403, "the proxy's word is not taken unless trusted");
});

/** A gateway on a real daemon (`--max-request-bytes` 65536), with what each logs. */
async function gatewayOnDaemon() {
  const daemonLines: string[] = [];
  const daemon = await startInProcess({ drainTimeoutMs: 50 }, {
    logger: new Logger({ level: "info", write: (line) => daemonLines.push(line) }),
  });
  const lines: string[] = [];
  const logger = new Logger({ level: "info", write: (line) => lines.push(line) });
  const link = connectDaemon({ hosts: ["127.0.0.1"], port: daemon.port, logger });
  const handler = createGatewayHandler({ daemon: link, logger });
  return {
    handler,
    lines,
    daemonLines,
    async [Symbol.asyncDispose]() {
      handler.close();
      await link.close();
      await daemon[Symbol.asyncDispose]();
    },
  };
}

Deno.test("gateway hostile: an order form under 64 KiB but over the daemon's request limit once encoded is refused by the gateway, and another user's order at the same time is made", async () => {
  await using gw = await gatewayOnDaemon();
  const mallory = new FakeBrowser(gw.handler);
  const ana = new FakeBrowser(gw.handler);
  await signIn(mallory, "mallory");
  await signIn(ana, "ana");
  await mallory.get("/pedidos");
  await ana.get("/pedidos");
  // 12000 control characters: 36000 bytes of form (%01 each), under the
  // gateway's 64 KiB; 72000 bytes of JSON (\u0001 each), over the daemon's 65536.
  const direccion = "\u0001".repeat(12_000);
  const hostile = { cliente: "Mallory", productos: "pan", direccion, clave: "mallory-1" };
  assert.ok(new URLSearchParams(hostile).toString().length < 64 * 1024);
  assert.ok(JSON.stringify(hostile).length > 65536);
  const [refused, ...made] = await Promise.all([
    mallory.post("/pedidos", hostile),
    ...["pan", "agua", "leche"].map((productos) =>
      ana.post("/pedidos", { cliente: "Ana", productos, direccion: "Calle 1" })
    ),
  ]);
  // Sent, it would make the daemon close the shared orders connection under all four (502, 503s).
  assert.deepEqual([refused, ...made].map((page) => page.status), [413, 303, 303, 303]);
  assert.match(
    refused.text,
    /❌ Solicitud demasiado grande: ocupa \d+ bytes codificada, y el servidor de pedidos admite 65536 como máximo\./,
  );
  // The form again, with what was typed and its key (sent again, one order).
  assert.ok(refused.text.includes(`name="direccion" value="${direccion}"`), "dirección kept");
  assert.ok(refused.text.includes('value="Mallory"'), "cliente kept");
  assert.ok(refused.text.includes('name="clave" value="mallory-1"'), "clave kept");
  for (const page of made) assert.equal(page.location, "/pedidos");
  // Nothing reached the daemon, and the gateway's connection to it stayed up.
  assert.deepEqual(gw.daemonLines.filter((line) => line.includes("request.too_large")), []);
  assert.deepEqual(gw.lines.filter((line) => line.includes("web.daemon_lost")), []);
  const connected = gw.lines.filter((line) => /web\.daemon_connected link=pedidos /.test(line));
  assert.equal(connected.length, 1, connected.join("\n"));
  // The same user's next, smaller order goes through.
  const next = await mallory.post("/pedidos", { ...hostile, direccion: "Calle 2" });
  assert.equal(next.status, 303, next.text.slice(0, 300));
  assert.match((await ana.get("/pedidos")).text, /agua/);
});

Deno.test("gateway hostile: a task or a sign-in over the daemon's request limit once encoded is refused by the gateway, keeping what was typed", async () => {
  await using gw = await gatewayOnDaemon();
  const mallory = new FakeBrowser(gw.handler);
  await signIn(mallory, "mallory");
  await mallory.get("/tareas");
  // 54000 bytes of form (%22, %01), 68000 of JSON (\", \u0001).
  const texto = '"'.repeat(10_000) + "\u0001".repeat(8_000);
  const task = await mallory.post("/tareas", { tarea: "upper", texto });
  assert.equal(task.status, 413, task.text.slice(0, 300));
  assert.match(task.text, /❌ Solicitud demasiado grande: ocupa \d+ bytes codificada/);
  assert.ok(task.text.includes(texto.replaceAll('"', "&quot;")), "texto kept");
  const other = new FakeBrowser(gw.handler);
  await other.get("/login");
  const login = await other.post("/login", { usuario: "ana", password: "\u0001".repeat(15_000) });
  assert.equal(login.status, 413, login.text.slice(0, 300));
  assert.match(login.text, /❌ Solicitud demasiado grande/);
  assert.ok(login.text.includes('value="ana"'), "usuario kept");
  assert.deepEqual(gw.daemonLines.filter((line) => line.includes("request.too_large")), []);
  assert.deepEqual(gw.lines.filter((line) => line.includes("web.daemon_lost")), []);
  // The task connection is still up: a task of the right size is answered.
  const upper = await mallory.post("/tareas", { tarea: "upper", texto: "hola" });
  assert.equal(upper.status, 200);
  assert.match(upper.text, /HOLA/);
});
