/**
 * A session that ends while its page is open (it expired, or was signed
 * out elsewhere): a form sent from the page goes to Entrar, not to the CSRF
 * page, and Entrar comes back to the page; the live stream tells the page.
 * Fake daemon, no sockets.
 */
import assert from "node:assert/strict";
import { SESSION_COOKIE } from "../client/web/app.tsx";
import { localPath } from "../client/web/return_path.ts";
import { EventStream, type FakeBrowser, fakeGateway, ORIGIN, signIn } from "./web_test_util.ts";

const ORDER = { cliente: "Ana", productos: "pan", direccion: "Calle 1", clave: "k1" };

/** The browser's session is over on the gateway: the id its cookie holds is no longer known. */
function endSession(browser: FakeBrowser): void {
  browser.cookies.set(SESSION_COOKIE, "x".repeat(43));
}

Deno.test("gateway: an order sent after the session ended goes to Entrar, which comes back to Pedidos", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  await browser.get("/pedidos"); // the page stays open…
  endSession(browser); // …while its session ends
  const sent = await browser.post("/pedidos", ORDER);
  assert.equal(sent.status, 303, "not the CSRF page");
  assert.equal(sent.location, "/login?next=%2Fpedidos");
  assert.equal(gw.daemon.sent("PEDIDO").length, 0, "nothing was ordered");
  const login = await browser.get(sent.location!);
  assert.match(login.text, /Su sesión terminó y el formulario no se envió/);
  assert.match(login.text, /name="next" value="\/pedidos"/);
  const back = await browser.post("/login", {
    usuario: "ana",
    password: "s3cret-pass",
    next: "/pedidos",
  });
  assert.deepEqual([back.status, back.location], [303, "/pedidos"]);
});

Deno.test("gateway: a row's Cancelar after the session ended goes to Entrar and back to Pedidos, cancelling nothing", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.addPedido();
  await browser.get("/pedidos");
  endSession(browser);
  const sent = await browser.post("/pedidos/1/cancelar", {});
  assert.deepEqual([sent.status, sent.location], [303, "/login?next=%2Fpedidos"]);
  assert.equal(gw.daemon.sent("CANCELAR").length, 0);
});

Deno.test("gateway: a row's Cancelar or Reintentar link opened without a session goes to Entrar and back to Pedidos, not to a 405 page", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  for (const action of ["cancelar", "reintentar"]) {
    const page = await browser.get(`/pedidos/5/${action}`);
    assert.deepEqual([page.status, page.location], [303, "/login?next=%2Fpedidos"], action);
  }
  const password = "s3cret-pass";
  await browser.submit("/registro", { usuario: "ana", password, password2: password });
  const back = await browser.post("/login", { usuario: "ana", password, next: "/pedidos" });
  assert.deepEqual([back.status, back.location], [303, "/pedidos"]);
  for (const op of ["CANCELAR", "REINTENTAR"]) assert.equal(gw.daemon.sent(op).length, 0, op);
});

Deno.test("gateway: a page opened without a session goes to Entrar and back to it", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  const page = await browser.get("/tareas");
  assert.deepEqual([page.status, page.location], [303, "/login?next=%2Ftareas"]);
  assert.match((await browser.get(page.location!)).text, /Inicie sesión para continuar/);
  const password = "s3cret-pass";
  await browser.submit("/registro", { usuario: "ana", password, password2: password });
  await browser.get("/login?next=%2Ftareas");
  const back = await browser.post("/login", { usuario: "ana", password, next: "/tareas" });
  assert.equal(back.location, "/tareas");
  assert.equal((await browser.get("/login?next=%2Fpedidos")).location, "/pedidos", "already in");
});

Deno.test("gateway: Entrar goes back only to a path of this site, never to another site", async () => {
  using gw = fakeGateway();
  const password = "s3cret-pass";
  await gw.browser().submit("/registro", { usuario: "ana", password, password2: password });
  const elsewhere = [
    "//evil.example/",
    "/\\evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    "/\t/evil.example/",
    "evil",
  ];
  for (const next of elsewhere) {
    const browser = gw.browser();
    const form = await browser.get(`/login?next=${encodeURIComponent(next)}`);
    assert.equal(form.status, 200);
    assert.doesNotMatch(form.text, /name="next"/, next);
    const page = await browser.post("/login", { usuario: "ana", password, next });
    assert.deepEqual([page.status, page.location], [303, "/"], next);
  }
  assert.equal(localPath("/pedidos?estado=listo"), "/pedidos?estado=listo");
});

Deno.test("gateway: Entrar never goes to a path whose dot segments leave //host, nor to a path that is no page, signed in or not", async () => {
  using gw = fakeGateway();
  const password = "s3cret-pass";
  const signedIn = gw.browser();
  await signIn(signedIn, "ana", password);
  const elsewhere = [
    "/.//evil.example/phish",
    "/%2e//evil.example/phish",
    "/%2E%2e//evil.example/phish",
    "/a/..//evil.example/phish",
    "/a/%2e%2e//evil.example/phish?x=1",
    "/..//evil.example/phish",
    "/\\\\evil.example/phish",
    "/.\\/evil.example/phish",
    // Paths of this site that are no page: raw events in the tab, or a 405.
    "/pedidos/eventos",
    "/panel/eventos?x=1",
    "/logout",
    "/logout/",
    "/pedidos/5/cancelar",
    "/pedidos/5/reintentar/",
  ];
  for (const next of elsewhere) {
    const already = await signedIn.get(`/login?next=${encodeURIComponent(next)}`);
    assert.deepEqual([already.status, already.location], [303, "/"], `signed in: ${next}`);
    const browser = gw.browser();
    const form = await browser.get(`/login?next=${encodeURIComponent(next)}`);
    assert.doesNotMatch(form.text, /name="next"/, next);
    const page = await browser.post("/login", { usuario: "ana", password, next });
    assert.deepEqual([page.status, page.location], [303, "/"], `signing in: ${next}`);
    assert.equal(localPath(next), null, next);
  }
  // A path of this site that merely holds dots or an encoded slash is still followed.
  assert.equal(localPath("/a/../pedidos"), "/pedidos");
  assert.equal(localPath("/./%2f/x"), "/%2f/x");
});

Deno.test("gateway: a form from another site is still refused with 403 when signed out", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  await browser.get("/pedidos");
  endSession(browser);
  const page = await browser.post("/pedidos", ORDER, { origin: "https://evil.example" });
  assert.equal(page.status, 403);
  assert.match(page.text, /protección CSRF/);
});

Deno.test("gateway: Salir on a page whose session ended says the session is closed", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  await browser.get("/pedidos");
  endSession(browser);
  const page = await browser.post("/logout", {});
  assert.deepEqual([page.status, page.location], [303, "/login"]);
  assert.match((await browser.get("/login")).text, /Sesión cerrada/);
});

Deno.test("gateway: a live stream tells its page when the session ends, as its last event", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const response = await browser.handler(
    new Request(`${ORIGIN}/pedidos/eventos`, {
      headers: { cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; ") },
    }),
  );
  await using stream = new EventStream(response);
  await stream.until(/event: html/);
  await browser.get("/pedidos"); // a page of the session, with its CSRF token
  await browser.post("/logout", {}); // in another tab
  await stream.end();
  assert.match(
    stream.text,
    /event: fin\ndata: Su sesión terminó: entre de nuevo para seguir en vivo\.\n\n$/,
  );
});

Deno.test("gateway: an order or a Cancelar the daemon did while its session ended (Salir in another tab) says it was done, not that nothing was sent", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  /** Salir in another tab of the same browser, while the daemon works on the request. */
  const signOutMeanwhile = async () => {
    const tab = gw.browser();
    for (const [name, value] of browser.cookies) tab.cookies.set(name, value);
    await tab.get("/pedidos");
    assert.equal((await tab.post("/logout", {})).status, 303);
  };
  await browser.get("/pedidos");
  gw.daemon.beforeAnswer = signOutMeanwhile;
  const sent = await browser.post("/pedidos", ORDER);
  assert.deepEqual([sent.status, sent.location], [303, "/login?next=%2Fpedidos"]);
  assert.equal(gw.daemon.pedidos.length, 1, "the order was made");
  const login = await browser.get(sent.location!);
  assert.match(login.text, /Pedido 1 recibido\. Su sesión terminó: entre de nuevo/);
  assert.doesNotMatch(login.text, /no se envió/);

  await signIn(browser);
  await browser.get("/pedidos");
  gw.daemon.beforeAnswer = signOutMeanwhile;
  const cancelled = await browser.post("/pedidos/1/cancelar", {});
  assert.equal(cancelled.status, 303);
  assert.equal(gw.daemon.pedidos[0]?.estado, "cancelado", "the cancel was made");
  const again = await browser.get(cancelled.location!);
  assert.match(again.text, /Pedido 1 cancelado\. Su sesión terminó/);
  assert.doesNotMatch(again.text, /no se envió/);
});
