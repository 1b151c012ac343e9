/**
 * The web gateway as a plain fetch handler: every page, form and error,
 * with a fake daemon and no sockets.
 */
import assert from "node:assert/strict";
import { SESSION_COOKIE } from "../client/web/app.tsx";
import { EventStream, FakeBrowser, fakeGateway, ORIGIN, signIn } from "./web_test_util.ts";

const PASSWORD = "s3cret-pass";

function sessionCookie(browser: FakeBrowser): string {
  return browser.cookies.get(SESSION_COOKIE) ?? "";
}

Deno.test("gateway: GET /login sets an HttpOnly, SameSite=Lax session cookie holding a random id", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  const page = await browser.get("/login");
  assert.equal(page.status, 200);
  assert.match(page.text, /^<!DOCTYPE html><html lang="es">/);
  assert.match(page.text, /<h1>Entrar<\/h1>/);
  const cookies = page.headers.getSetCookie();
  const cookie = cookies.find((line) => line.startsWith(`${SESSION_COOKIE}=`));
  assert.match(
    cookie!,
    new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Lax$`),
  );
  assert.match(page.text, /name="_csrf" value="[A-Za-z0-9_-]{43}"/);
});

Deno.test("gateway: every page sends security headers", async () => {
  using gw = fakeGateway();
  const page = await gw.browser().get("/login");
  const csp = page.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(page.headers.get("x-frame-options"), "DENY", "as frame-ancestors says");
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  assert.equal(page.headers.get("cache-control"), "no-store");
  // Its own forms carry its origin (under no-referrer they would say Origin: null).
  assert.equal(page.headers.get("referrer-policy"), "same-origin");
});

Deno.test("gateway: a method other than GET, HEAD and POST gets 405 with Allow, on any path", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser, "ana");
  const asked = gw.daemon.requests.length;
  for (const method of ["PUT", "DELETE", "PATCH", "OPTIONS", "FOO"]) {
    for (const path of ["/", "/pedidos", "/pedidos/1/cancelar", "/nope"]) {
      const response = await gw.handler(new Request(`${ORIGIN}${path}`, { method }));
      assert.equal(response.status, 405, `${method} ${path}`);
      assert.equal(response.headers.get("allow"), "GET, HEAD, POST");
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      await response.body?.cancel();
    }
  }
  assert.equal(gw.daemon.requests.length, asked, "nothing reached the daemon");
});

Deno.test("gateway: a path of its own asked with the other method gets 405 naming the methods it takes; an unknown path 404", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser, "ana");
  const cases: [string, string, string | null][] = [
    ["GET", "/logout", "POST"],
    ["GET", "/pedidos/5/cancelar", "POST"],
    ["POST", "/", "GET, HEAD"],
    ["POST", "/static/app.js", "GET, HEAD"],
    ["POST", "/pedidos/eventos", "GET, HEAD"],
    ["GET", "/pedidos/abc/cancelar", null],
    ["GET", "/pedidos/-1/reintentar", null],
    ["GET", "/nope", null],
    ["POST", "/nope", null],
  ];
  for (const [method, path, allow] of cases) {
    if (method === "POST") await browser.get("/"); // a fresh CSRF token
    const page = method === "GET" ? await browser.get(path) : await browser.post(path, {});
    assert.equal(page.status, allow === null ? 404 : 405, `${method} ${path}`);
    assert.equal(page.headers.get("allow"), allow, `${method} ${path}`);
    // A whole page, with the site's menu and a way back, not a bare text.
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/, `${method} ${path}`);
  }
  const logout = await browser.get("/logout");
  assert.match(logout.text, /Para salir, use el botón Salir/);
  assert.match(logout.text, /href="\/"/);
  for (const op of ["CANCELAR", "PEDIDO"]) assert.equal(gw.daemon.sent(op).length, 0, op);
});

Deno.test("gateway: pages behind the login redirect there; live streams answer 401", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  for (const path of ["/", "/tareas", "/pedidos", "/panel"]) {
    const page = await browser.get(path);
    assert.equal(page.status, 303, path);
    assert.equal(page.location, path === "/" ? "/login" : `/login?next=%2F${path.slice(1)}`, path);
  }
  const login = await browser.get("/login");
  assert.match(login.text, /Inicie sesión para continuar/);
  for (const path of ["/pedidos/eventos", "/panel/eventos"]) {
    assert.equal((await browser.get(path)).status, 401, path);
  }
  assert.equal(gw.daemon.requests.length, 0, "nothing reached the daemon");
});

Deno.test("gateway: Registro creates the account and sends the browser to Login", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  const page = await browser.submit("/registro", {
    usuario: "ana",
    password: PASSWORD,
    password2: PASSWORD,
  });
  assert.equal(page.status, 303);
  assert.equal(page.location, "/login");
  assert.deepEqual(gw.daemon.sent("REGISTRO"), [
    { op: "REGISTRO", data: { usuario: "ana", password: PASSWORD } },
  ]);
  assert.match((await browser.get("/login")).text, /Cuenta ana creada/);
});

Deno.test("gateway: Registro takes a password repeated with its accents typed another way", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  const page = await browser.submit("/registro", {
    usuario: "ana",
    password: "contraseña-1",
    password2: "contrasen\u0303a-1",
  });
  assert.equal(page.status, 303);
  assert.deepEqual(gw.daemon.sent("REGISTRO"), [
    { op: "REGISTRO", data: { usuario: "ana", password: "contraseña-1" } },
  ]);
});

Deno.test("gateway: Registro shows each refusal in words, keeping the name", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  const mismatch = await browser.submit("/registro", {
    usuario: "ana",
    password: PASSWORD,
    password2: "otra-cosa",
  });
  assert.equal(mismatch.status, 422);
  assert.match(mismatch.text, /Las contraseñas no coinciden/);
  assert.equal(gw.daemon.sent("REGISTRO").length, 0);

  const bad = await browser.submit("/registro", {
    usuario: "a!",
    password: PASSWORD,
    password2: PASSWORD,
  });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /El usuario debe tener de 3 a 64 caracteres/);

  await browser.submit("/registro", { usuario: "ana", password: PASSWORD, password2: PASSWORD });
  const taken = await browser.submit("/registro", {
    usuario: "ana",
    password: PASSWORD,
    password2: PASSWORD,
  });
  assert.equal(taken.status, 409);
  assert.match(taken.text, /El usuario ana ya existe/);
  assert.match(taken.text, /name="usuario" value="ana"/);
});

Deno.test("gateway: Login opens a new session id and never puts the password or token in a cookie", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await browser.submit("/registro", { usuario: "ana", password: PASSWORD, password2: PASSWORD });
  await browser.get("/login");
  const before = sessionCookie(browser);
  const page = await browser.post("/login", { usuario: "ana", password: PASSWORD });
  assert.equal(page.status, 303);
  assert.equal(page.location, "/");
  const after = sessionCookie(browser);
  assert.notEqual(after, before, "a new id after login (no session fixation)");
  const cookies = page.headers.getSetCookie();
  const cookie = cookies.find((line) => line.startsWith(`${SESSION_COOKIE}=`));
  assert.match(
    cookie!,
    /^pedidos_sesion=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/,
  );
  // The other cookie a sign-in sets: this browser's mark for the account (random, signed).
  assert.deepEqual(
    cookies.filter((line) => line !== cookie).map((line) => line.split("=")[0]),
    ["pedidos_conocido"],
  );
  const token = [...gw.daemon.tokens.keys()][0]!;
  for (const line of browser.setCookies) {
    assert.ok(!line.includes(PASSWORD) && !line.includes(token), line);
  }
  // The old id is worth nothing now.
  const stale = new FakeBrowser(gw.handler);
  stale.cookies.set(SESSION_COOKIE, before);
  assert.equal((await stale.get("/")).location, "/login");
});

Deno.test("gateway: Login refuses bad credentials with 401, in words", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await browser.submit("/registro", { usuario: "ana", password: PASSWORD, password2: PASSWORD });
  for (const [usuario, password] of [["ana", "wrong-pass"], ["nadie", PASSWORD]]) {
    const page = await browser.submit("/login", { usuario: usuario!, password: password! });
    assert.equal(page.status, 401);
    assert.match(page.text, /Usuario o contraseña incorrectos/);
    assert.ok(!page.text.includes(password!), "the password is not echoed back");
  }
});

Deno.test("gateway: Inicio shows the daemon's GET_TAREAS_HTML fragment", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const page = await browser.get("/");
  assert.equal(page.status, 200);
  assert.match(page.text, /<h2>¡Hola, ana!<\/h2>/);
  assert.match(page.text, /<strong>3<\/strong> workers/);
  assert.match(page.text, /👤 <bdi>ana<\/bdi>/);
  const [request] = gw.daemon.sent("GET_TAREAS_HTML");
  assert.deepEqual(request, {
    op: "GET_TAREAS_HTML",
    data: { token: [...gw.daemon.tokens.keys()][0] },
  });
});

Deno.test("gateway: Inicio shows the Panel's tile to operators only, who alone may open it", async () => {
  using gw = fakeGateway();
  const user = gw.browser();
  await signIn(user);
  const page = await user.get("/");
  assert.match(page.text, /href="\/tareas"/);
  assert.doesNotMatch(page.text, /href="\/panel"/, "no way to a page that answers 403");
  assert.equal((await user.get("/panel")).status, 403);
  gw.daemon.operators.add("eva");
  const operator = gw.browser();
  await signIn(operator, "eva");
  assert.match((await operator.get("/")).text, /class="tile" href="\/panel"/);
});

Deno.test("gateway: a session the daemon no longer knows signs out", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.tokens.clear(); // e.g. it expired
  const page = await browser.get("/");
  assert.equal(page.status, 303);
  assert.equal(page.location, "/login");
  assert.match((await browser.get("/login")).text, /Su sesión venció/);
  assert.equal((await browser.get("/tareas")).location, "/login?next=%2Ftareas");
});

Deno.test("gateway: a session the daemon no longer knows signs out from Pedidos, an order or the Panel too, and its live stream ends", async () => {
  using gw = fakeGateway();
  gw.daemon.operators.add("ana");
  const order = { cliente: "Ana", productos: "pan", direccion: "Calle 1", clave: "k" };
  const visits: [
    string,
    (browser: FakeBrowser) => Promise<{ status: number; location: string | null }>,
  ][] = [
    ["GET /pedidos", (browser) => browser.get("/pedidos")],
    ["POST /pedidos", (browser) => browser.post("/pedidos", order)],
    ["GET /panel", (browser) => browser.get("/panel")],
  ];
  for (const [what, visit] of visits) {
    const browser = gw.browser();
    await signIn(browser);
    await browser.get("/pedidos"); // its CSRF token
    gw.daemon.tokens.clear(); // the daemon restarted on another database
    const page = await visit(browser);
    const back = what.includes("panel") ? "/panel" : "/pedidos";
    assert.deepEqual(
      [page.status, page.location],
      [303, `/login?next=${encodeURIComponent(back)}`],
      what,
    );
    assert.match((await browser.get("/login")).text, /Su sesión venció/, what);
    const again = await browser.get("/pedidos");
    assert.equal(again.location, "/login?next=%2Fpedidos", `${what}: signed out`);
  }
  const browser = gw.browser();
  await signIn(browser);
  const response = await browser.handler(
    new Request(`${ORIGIN}/pedidos/eventos`, {
      headers: { cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; ") },
    }),
  );
  await using stream = new EventStream(response);
  await stream.until(/event: html/);
  gw.daemon.tokens.clear();
  await stream.end();
});

Deno.test("gateway: Tareas runs sum, upper and lower and shows the result", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const sum = await browser.submit("/tareas", { tarea: "sum", numeros: "1 2; 3,5" });
  assert.equal(sum.status, 200);
  assert.match(
    sum.text,
    /<output class="result ok" role="status" data-tarea="sum">Resultado: 6.5<\/output>/,
  );
  assert.deepEqual(gw.daemon.sent("TASK")[0], {
    op: "TASK",
    data: { task: { name: "sum", args: [1, 2, 3.5] } },
  });
  // A full daemon: said of the server, not as "Límite de pedidos" (a task is no order).
  gw.daemon.refuse.TASK = "queue_full";
  const full = await browser.submit("/tareas", { tarea: "sum", numeros: "1 2" });
  assert.match(full.text, /❌ El servidor está a plena capacidad/);
  // (The daemon's own mensaje speaks of orders: "Límite de pedidos alcanzado".)
  assert.doesNotMatch(full.text, /Falla simulada/);
  delete gw.daemon.refuse.TASK;
  // Binary fractions' leftovers are not shown: 0.1 + 0.2 reads 0.3.
  const fraction = await browser.submit("/tareas", { tarea: "sum", numeros: "0,1 0,2" });
  assert.match(fraction.text, /data-tarea="sum">Resultado: 0.3<\/output>/);
  const upper = await browser.submit("/tareas", { tarea: "upper", texto: "hola <b>" });
  assert.match(upper.text, /Resultado: HOLA &lt;B&gt;/);
  const lower = await browser.submit("/tareas", { tarea: "lower", texto: "HOLA" });
  assert.match(lower.text, /data-tarea="lower">Resultado: hola</);
});

Deno.test("gateway: Tareas shows the daemon's error in words", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.refuse.TASK = "invalid_task";
  const bad = await browser.submit("/tareas", { tarea: "sum", numeros: "1 2 3" });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /class="result error"[^>]*>❌ Falla simulada: invalid_task/);
  assert.deepEqual(gw.daemon.sent("TASK")[0], {
    op: "TASK",
    data: { task: { name: "sum", args: [1, 2, 3] } },
  });
  gw.daemon.refuse.TASK = "queue_full";
  const full = await browser.submit("/tareas", { tarea: "upper", texto: "hola" });
  assert.equal(full.status, 503);
  assert.match(full.text, /plena capacidad/);
  const unknown = await browser.submit("/tareas", { tarea: "bailar" });
  assert.equal(unknown.status, 422);
});

Deno.test("gateway: Pedidos places an order with an idempotency key and shows it", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const form = await browser.get("/pedidos");
  assert.equal(form.status, 200);
  assert.match(form.text, /Todavía no hay pedidos/);
  const clave = /name="clave" value="([^"]+)"/.exec(form.text)![1]!;
  const fields = { cliente: "Ana", productos: "pan\nagua x2\n", direccion: "Calle 1", clave };
  const sent = await browser.post("/pedidos", fields);
  assert.equal(sent.status, 303);
  assert.equal(sent.location, "/pedidos");
  assert.deepEqual(gw.daemon.sent("PEDIDO")[0], {
    op: "PEDIDO",
    data: {
      cliente: "Ana",
      productos: ["pan", { nombre: "agua", cantidad: 2 }],
      direccion: "Calle 1",
      clave: `ana:${clave}`,
      token: [...gw.daemon.tokens.keys()][0],
    },
  });
  const list = await browser.get("/pedidos");
  assert.match(list.text, /✅ Pedido 1 recibido/);
  assert.match(list.text, /<tr data-id="1" data-estado="pendiente">/);
  assert.match(list.text, /<bdi>pan<\/bdi>, <bdi>agua<\/bdi> ×2/);
  // Sending the same form twice (a double click, a reload) must make one order. The daemon
  // deduplicates by `clave`; the gateway's part is to send the form's clave again, unchanged,
  // and to show the daemon's answer.
  const again = await browser.post("/pedidos", fields);
  assert.equal(again.status, 303);
  assert.equal(again.location, "/pedidos");
  const [first, second] = gw.daemon.sent("PEDIDO");
  assert.deepEqual(second, first, "the same request again, with the same clave");
  const after = await browser.get("/pedidos");
  assert.match(after.text, /class="flash ok" role="status">✅ Pedido 1 ya estaba registrado/);
  // Each form shown has a new clave, so the next order is a new one.
  const next = /name="clave" value="([^"]+)"/.exec(after.text)![1]!;
  assert.notEqual(next, clave);
  assert.notEqual(/name="clave" value="([^"]+)"/.exec(list.text)![1], clave);
  // A form that comes without a clave still gets one, so a retry of it can be told apart.
  await browser.post("/pedidos", { cliente: "Eva", productos: "pan", direccion: "Calle 2" });
  const sentClave = (gw.daemon.sent("PEDIDO")[2]!.data as { clave: unknown }).clave;
  assert.match(String(sentClave), /^ana:[0-9a-f-]{36}$/);
});

Deno.test("gateway: Pedidos escapes what clients typed", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.addPedido({ cliente: '<script>alert("x")</script>', productos: ["<img src=x>"] });
  const page = await browser.get("/pedidos");
  assert.ok(!page.text.includes("<script>alert"));
  assert.ok(!page.text.includes("<img src=x>"));
  assert.match(page.text, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
});

Deno.test("gateway: Pedidos shows refusals in words and keeps what was typed", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  await browser.get("/pedidos");
  const invalid = await browser.post("/pedidos", {
    cliente: " ",
    productos: "pan",
    direccion: "Calle 1",
    clave: "k1",
  });
  assert.equal(invalid.status, 422);
  assert.match(invalid.text, /Falta el campo &quot;cliente&quot;/);
  assert.match(invalid.text, /name="cliente" value=" "[^>]*aria-invalid="true"/);
  gw.daemon.refuse.PEDIDO = "queue_full";
  const full = await browser.post("/pedidos", {
    cliente: "Eva",
    productos: "pan",
    direccion: "Calle 2",
    clave: "k2",
  });
  assert.equal(full.status, 503);
  assert.match(full.text, /Falla simulada: queue_full[\s\S]*plena capacidad/);
  assert.match(full.text, /name="cliente" value="Eva"/);
  assert.match(full.text, /name="clave" value="k2"/, "the same key, so a retry makes one order");
});

Deno.test("gateway: a form refused at once (another tab's order just taken) does not show that tab's message, which waits for its own page", async () => {
  using gw = fakeGateway();
  const tab1 = gw.browser();
  await signIn(tab1);
  await tab1.get("/pedidos");
  // Tab 1's order is taken: its message waits for the page it is sent to.
  const order = { productos: "pan", direccion: "Calle 1" };
  const taken = await tab1.post("/pedidos", { ...order, cliente: "Ana", clave: "k1" });
  assert.equal(taken.status, 303);
  // Tab 2 (the same session) posts before tab 1's page loads, and is refused.
  gw.daemon.refuse.PEDIDO = "queue_full";
  const full = await tab1.post("/pedidos", { ...order, cliente: "Eva", clave: "k2" });
  assert.equal(full.status, 503);
  assert.doesNotMatch(full.text, /recibido/, "not tab 1's message");
  assert.match((await tab1.get("/pedidos")).text, /class="flash ok"[^>]*>✅ Pedido 1 recibido/);
});

Deno.test("gateway: Panel shows the counters and one timeline lane per worker", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  gw.daemon.operators.add("ana");
  await signIn(browser);
  const t = Date.now();
  gw.daemon.addPedido({
    estado: "listo",
    worker: 2,
    fecha_recibido: new Date(t - 5000).toISOString(),
    fecha_inicio: new Date(t - 4000).toISOString(),
    fecha_fin: new Date(t - 2000).toISOString(),
    duracion_ms: 2000,
  });
  gw.daemon.addPedido({
    cliente: "<b>Eva</b>",
    estado: "en proceso",
    worker: 1,
    fecha_inicio: new Date(t - 1000).toISOString(),
  });
  Object.assign(gw.daemon.stats, { en_proceso: 1, listos: 1, libres: 5, rechazados: 4 });
  const page = await browser.get("/panel");
  assert.equal(page.status, 200);
  for (
    const label of [
      "capacidad",
      "libres",
      "en espera",
      "en proceso",
      "listos",
      "rechazados",
      "p50",
      "p95",
    ]
  ) {
    assert.match(page.text, new RegExp(`<span class="label">${label}</span>`), label);
  }
  assert.match(page.text, /<svg class="timeline"/);
  assert.equal(page.text.match(/Worker \d/g)?.length, 3);
  assert.match(page.text, /<g class="tl-bar listo" data-id="1">/);
  assert.match(page.text, /<g class="tl-bar en-proceso" data-id="2">/);
  assert.match(page.text, /&lt;b&gt;Eva&lt;\/b&gt;/);
  assert.ok(!page.text.includes("<b>Eva"));
});

Deno.test("gateway: cancelled orders show as a grey badge on Pedidos and a counter on the Panel", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  gw.daemon.operators.add("ana");
  await signIn(browser);
  gw.daemon.addPedido({ estado: "cancelado", fecha_fin: new Date().toISOString() });
  gw.daemon.stats.cancelados = 7;
  const pedidos = await browser.get("/pedidos");
  assert.match(
    pedidos.text,
    /<tr data-id="1" data-estado="cancelado">[\s\S]*?<span class="estado cancelado">cancelado<\/span>/,
  );
  const panel = await browser.get("/panel");
  assert.match(panel.text, /<span class="value">7<\/span><span class="label">cancelados<\/span>/);
});

Deno.test("gateway: the live streams send HTML snapshots as server-sent events", async () => {
  using gw = fakeGateway({ liveIntervalMs: 10 });
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.addPedido({ estado: "pendiente" });
  const response = await gw.handler(
    new Request(`${ORIGIN}/pedidos/eventos`, {
      headers: { cookie: `${SESSION_COOKIE}=${sessionCookie(browser)}` },
    }),
  );
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
  await using events = new EventStream(response);
  const text = await events.until('data-estado="pendiente"');
  assert.match(text, /^retry: 2000\n\nevent: html\ndata: /);
  gw.daemon.pedidos[0]!.estado = "listo";
  await events.until(/event: html\ndata: .*data-estado="listo"/);
});

Deno.test("gateway: closing the gateway ends the live streams", async () => {
  using gw = fakeGateway({ liveIntervalMs: 10 });
  const browser = gw.browser();
  gw.daemon.operators.add("ana");
  await signIn(browser);
  const response = await gw.handler(
    new Request(`${ORIGIN}/panel/eventos`, {
      headers: { cookie: `${SESSION_COOKIE}=${sessionCookie(browser)}` },
    }),
  );
  await using events = new EventStream(response);
  await events.until(/event: html\ndata: <div class="counters">/);
  gw.handler.close();
  await events.end({ timeoutMs: 2000 });
  // A stream asked for after close() ends at once too.
  const late = await gw.handler(
    new Request(`${ORIGIN}/panel/eventos`, {
      headers: { cookie: `${SESSION_COOKIE}=${sessionCookie(browser)}` },
    }),
  );
  await using lateEvents = new EventStream(late);
  await lateEvents.end({ timeoutMs: 2000 });
  assert.equal(lateEvents.text, "retry: 2000\n\n", "and sends no snapshot");
});

Deno.test("gateway: an order the daemon did not answer is shown at once, without asking the daemon again", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  await browser.get("/pedidos"); // the form, and its CSRF token
  gw.daemon.down = true;
  const before = gw.daemon.requests.length;
  const order = await browser.post("/pedidos", {
    cliente: "Ana",
    productos: "pan",
    direccion: "C 1",
    clave: "k",
  });
  assert.equal(order.status, 503);
  assert.match(order.text, /No hay conexión/);
  // One request (the PEDIDO): a stalled daemon makes each one wait its full timeout.
  assert.deepEqual(gw.daemon.requests.slice(before).map((r) => r.op), ["PEDIDO"]);
  assert.match(order.text, /value="C 1"/, "the form keeps what was typed");
});

Deno.test("gateway: when the daemon is down every page says so plainly", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  gw.daemon.operators.add("ana");
  await signIn(browser);
  gw.daemon.down = true;
  for (const path of ["/", "/pedidos", "/panel"]) {
    const page = await browser.get(path);
    assert.equal(page.status, 503, path);
    assert.match(page.text, /No hay conexión con el servidor de pedidos \(localhost:8888\)/, path);
    // Said to whoever uses the site: no operator's command in it.
    assert.doesNotMatch(page.text, /deno task/, path);
  }
  const task = await browser.submit("/tareas", { tarea: "upper", texto: "hola" });
  assert.equal(task.status, 503);
  assert.match(task.text, /No hay conexión/);
  // What was typed is kept, in the form it was typed in only.
  assert.equal([...task.text.matchAll(/name="texto" value="hola"/g)].length, 1, task.text);
  const order = await browser.post("/pedidos", {
    cliente: "Ana",
    productos: "pan",
    direccion: "C 1",
    clave: "k",
  });
  assert.equal(order.status, 503);
  const other = gw.browser();
  const login = await other.submit("/login", { usuario: "ana", password: PASSWORD });
  assert.equal(login.status, 503);
  assert.match(login.text, /No hay conexión/);
  gw.daemon.down = false;
  assert.equal((await browser.get("/pedidos")).status, 200, "and recovers when it is back");
});

Deno.test("gateway: a form POST without the session's CSRF token is refused with 403", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const order = { cliente: "Ana", productos: "pan", direccion: "Calle 1", clave: "k" };
  const cases = [
    { csrf: null, origin: ORIGIN },
    { csrf: "forged-token", origin: ORIGIN },
    { csrf: gw.browser().csrf ?? "x".repeat(43), origin: ORIGIN },
    { csrf: undefined, origin: "https://evil.example" },
    { csrf: undefined, origin: null },
  ];
  for (const options of cases) {
    const page = await browser.post("/pedidos", order, options);
    assert.equal(page.status, 403, JSON.stringify(options));
    assert.match(page.text, /protección CSRF/);
  }
  // Another session's token does not work either.
  const other = gw.browser();
  await other.get("/login");
  assert.equal((await browser.post("/pedidos", order, { csrf: other.csrf })).status, 403);
  // Nor does a login form without one.
  assert.equal(
    (await other.post("/login", { usuario: "ana", password: PASSWORD }, { csrf: null })).status,
    403,
  );
  assert.equal(gw.daemon.sent("PEDIDO").length, 0);
  assert.equal(gw.daemon.sent("LOGIN").length, 1, "only the sign-in of setup");
  assert.equal((await browser.post("/pedidos", order)).status, 303, "the real form works");
});

Deno.test('gateway: a POST whose body is no form (multipart without its boundary, with another one, or none at all) gets 400 "Formulario ilegible", not the CSRF page', async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await browser.get("/login");
  const token = browser.csrf ?? "";
  const bodies: [string, string][] = [
    ["multipart/form-data", "usuario=ana"],
    ["multipart/form-data; boundary=x", "garbage without any boundary line"],
    [
      "multipart/form-data; boundary=OTHER",
      `--XyZ\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${token}\r\n--XyZ--\r\n`,
    ],
  ];
  for (const [type, body] of bodies) {
    const headers = new Headers({ "content-type": type, origin: ORIGIN });
    headers.set("cookie", [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const page = await browser.send(
      new Request(`${ORIGIN}/login`, { method: "POST", headers, body }),
    );
    assert.equal(page.status, 400, type);
    assert.match(page.text, /Formulario ilegible/, type);
    assert.match(page.text, /llegó incompleto o mal formado/, type);
    assert.doesNotMatch(page.text, /CSRF/, type);
  }
  assert.deepEqual(
    gw.lines.filter((line) => / (ERROR|WARN) /.test(line) || /csrf_rejected/.test(line)),
    [],
    "nothing for the error log, no false CSRF alarm",
  );
  assert.equal(gw.daemon.sent("LOGIN").length, 0);
});

Deno.test("gateway: Logout forgets the session", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const old = sessionCookie(browser);
  await browser.get("/");
  const page = await browser.post("/logout", {});
  assert.equal(page.status, 303);
  assert.equal(page.location, "/login");
  assert.notEqual(sessionCookie(browser), old);
  assert.match((await browser.get("/login")).text, /Sesión cerrada/);
  const stale = new FakeBrowser(gw.handler);
  stale.cookies.set(SESSION_COOKIE, old);
  assert.equal((await stale.get("/")).location, "/login");
});

Deno.test("gateway: no password or session token in any cookie or log line", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser, "ana", PASSWORD);
  await browser.submit("/login", { usuario: "ana", password: "wrong-pass-123" });
  await browser.get("/");
  await browser.submit("/tareas", { tarea: "sum", numeros: "1 2" });
  await browser.submit("/pedidos", {
    cliente: "Ana",
    productos: "pan",
    direccion: "C 1",
    clave: "k",
  });
  await browser.post("/logout", {});
  const secrets = [PASSWORD, "wrong-pass-123", ...gw.daemon.tokens.keys()];
  const log = gw.lines.join("\n");
  assert.match(log, /web\.request method=POST path=\/login status=303/);
  for (const secret of secrets) {
    assert.ok(!log.includes(secret), `the log shows ${secret}`);
    for (const line of browser.setCookies) assert.ok(!line.includes(secret), line);
  }
});

Deno.test("gateway: unknown pages are 404 and large bodies 413, in Spanish", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  const missing = await browser.get("/nada");
  assert.equal(missing.status, 404);
  assert.match(missing.text, /Página no encontrada/);
  await browser.get("/login");
  const big = await browser.post("/login", { usuario: "ana", password: "x".repeat(100_000) });
  assert.equal(big.status, 413);
  assert.equal(gw.daemon.sent("LOGIN").length, 0);
  // A page that says why, that nothing was sent, and leads back to the form.
  assert.match(big.text, /<title>Formulario demasiado grande/);
  assert.match(big.text, /más de 64 KiB.*No se envió nada: vuelva atrás/s);
  assert.match(big.text, /<a href="\/login">Volver<\/a>/);
});

Deno.test("gateway: HEAD says the length GET's body has, and sends no body", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser, "ana");
  const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  for (const path of ["/", "/tareas", "/static/app.css", "/nope", "/pedidos", "/panel"]) {
    const get = await gw.handler(new Request(`${ORIGIN}${path}`, { headers: { cookie } }));
    const length = (await get.arrayBuffer()).byteLength;
    assert.ok(length > 0 || get.status === 303, `${path} has a body (${get.status})`);
    const head = await gw.handler(
      new Request(`${ORIGIN}${path}`, { method: "HEAD", headers: { cookie } }),
    );
    assert.equal(head.status, get.status, path);
    assert.equal(head.headers.get("content-length"), String(length), path);
    assert.equal(head.headers.get("content-type"), get.headers.get("content-type"), path);
    assert.equal(head.body, null, `${path}: no body`);
  }
});

Deno.test("gateway: a browser reaching it over plain HTTP at a network address (no Sec-Fetch-Site) signs in and orders, its forms carrying the page's origin", async () => {
  using gw = fakeGateway();
  const browser = gw.browser(); // http://pedidos.test: no Sec-Fetch-Site from a real browser
  await signIn(browser);
  await browser.get("/pedidos");
  assert.equal(browser.referrerPolicy, "same-origin");
  const sent = await browser.post("/pedidos", {
    cliente: "Ana",
    productos: "pan",
    direccion: "C 1",
    clave: "lan-1",
  });
  assert.deepEqual([sent.status, sent.location], [303, "/pedidos"]);
  assert.equal(gw.daemon.pedidos.length, 1);
});

Deno.test("gateway: a HEAD of a page (a link checker, a prefetch) leaves its one-time message for the page the user sees", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  await browser.get("/pedidos");
  const sent = await browser.post("/pedidos", {
    cliente: "Ana",
    productos: "pan",
    direccion: "C 1",
    clave: "head-1",
  });
  assert.equal(sent.location, "/pedidos");
  const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  const head = await gw.handler(
    new Request(`${ORIGIN}/pedidos`, { method: "HEAD", headers: { cookie } }),
  );
  assert.equal(head.status, 200);
  assert.match((await browser.get("/pedidos")).text, /Pedido 1 recibido/);
  assert.doesNotMatch((await browser.get("/pedidos")).text, /Pedido 1 recibido/, "shown once");
});
