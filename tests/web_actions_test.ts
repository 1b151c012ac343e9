/**
 * The Pedidos page's row actions (§2.8, §2.9 from the browser): Cancelar on
 * a `pendiente` row, Reintentar on an `error` row, CSRF-checked like every
 * form, what became of it shown in the order's row; and the processor's
 * `resultado` shown in the row. Against the fake daemon, then a real one.
 */
import assert from "node:assert/strict";
import { createGatewayHandler } from "../client/web/app.tsx";
import { connectDaemon } from "../client/web/daemon.ts";
import { Logger } from "../server/log.ts";
import { rawConnect, startInProcess } from "./test_util.ts";
import { EventStream, FakeBrowser, fakeGateway, ORIGIN, signIn } from "./web_test_util.ts";

/** The `<tr>` of order `id` in a page. */
function row(text: string, id: number): string {
  const match = new RegExp(`<tr data-id="${id}"[\\s\\S]*?</tr>`).exec(text);
  assert.ok(match, `no row for order ${id}`);
  return match[0];
}

Deno.test("gateway: a pendiente row has a Cancelar button, an error row a Reintentar button, others none", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.addPedido({ estado: "pendiente" });
  gw.daemon.addPedido({ estado: "error", detalle_error: "boom: sin stock" });
  gw.daemon.addPedido({ estado: "listo", resultado: { total: 3 } });
  gw.daemon.addPedido({ estado: "en proceso" });
  const page = await browser.get("/pedidos");
  const token = browser.csrf!;
  assert.match(
    row(page.text, 1),
    new RegExp(
      `<form method="post" action="/pedidos/1/cancelar" class="accion"><input type="hidden" name="_csrf" value="${token}"><button type="submit" class="small cancelar">Cancelar</button></form>`,
    ),
  );
  assert.match(row(page.text, 2), /action="\/pedidos\/2\/reintentar"[\s\S]*>Reintentar</);
  assert.match(row(page.text, 2), /boom: sin stock/, "the error's reason in its row");
  assert.doesNotMatch(row(page.text, 3), /<form/);
  assert.match(
    row(page.text, 3),
    /<code title="\u2068\{&quot;total&quot;:3\}\u2069">\{&quot;total&quot;:3\}<\/code>/,
  );
  assert.doesNotMatch(row(page.text, 4), /<form/);
});

Deno.test("gateway: Cancelar cancels the order and says so in its row; a second time (a double click) says it is cancelled, not an error; a running order says why not", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.addPedido({ estado: "pendiente" });
  await browser.get("/pedidos");
  const sent = await browser.post("/pedidos/1/cancelar", {});
  assert.deepEqual([sent.status, sent.location], [303, "/pedidos"]);
  // With the session's token, so that the daemon lets an account act only on its own orders.
  const [token] = [...gw.daemon.tokens.keys()];
  assert.deepEqual(gw.daemon.sent("CANCELAR"), [{ op: "CANCELAR", id: 1, token }]);
  const after = await browser.get("/pedidos");
  assert.match(row(after.text, 1), /data-estado="cancelado"/);
  assert.match(
    row(after.text, 1),
    /<small class="nota ok" role="status">✅ Pedido 1 cancelado.<\/small>/,
  );
  await browser.post("/pedidos/1/cancelar", {});
  const again = await browser.get("/pedidos");
  assert.match(
    row(again.text, 1),
    /<small class="nota ok" role="status">✅ Pedido 1 cancelado \(ya lo estaba\).<\/small>/,
  );
  assert.doesNotMatch(again.text, /class="flash error"/);
  // An order that is running cannot be cancelled: that is an error, and says why.
  gw.daemon.addPedido({ estado: "en proceso" });
  await browser.post("/pedidos/2/cancelar", {});
  const running = await browser.get("/pedidos");
  assert.match(row(running.text, 2), /class="nota error"[^>]*>❌ El pedido 2 está en proceso/);
  assert.match(running.text, /class="flash error"/);
});

Deno.test("gateway: Pedidos lists every order still unfinished below the newest, so the oldest waiting, which run first, can be cancelled too, and one running is seen", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  // 3 waiting orders and one running, then 20 more that ended: the newest 15 hold none of them.
  for (let i = 0; i < 3; i++) gw.daemon.addPedido({ estado: "pendiente" });
  gw.daemon.addPedido({ estado: "en proceso" }); // 4
  for (let i = 0; i < 20; i++) gw.daemon.addPedido({ estado: i === 16 ? "pendiente" : "listo" });
  const page = await browser.get("/pedidos");
  // A waiting order among the newest is listed once.
  assert.equal(page.text.split('<tr data-id="21"').length - 1, 1);
  for (const id of [1, 2, 3]) {
    assert.match(row(page.text, id), new RegExp(`action="/pedidos/${id}/cancelar"`), `order ${id}`);
  }
  assert.match(row(page.text, 4), /data-estado="en proceso"/);
  // Newest first: the running order above the older waiting ones.
  assert.ok(page.text.indexOf('<tr data-id="4"') < page.text.indexOf('<tr data-id="3"'));
  // Orders that ended, older than the newest 15, are not listed.
  assert.doesNotMatch(page.text, /<tr data-id="5"/);
  await browser.post("/pedidos/1/cancelar", {});
  assert.equal(gw.daemon.sent("CANCELAR").length, 1);
});

Deno.test("gateway: Reintentar sends an error order back to the queue; queue_full is said in words", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.addPedido({ estado: "error", detalle_error: "boom" });
  await browser.get("/pedidos");
  gw.daemon.refuse.REINTENTAR = "queue_full";
  await browser.post("/pedidos/1/reintentar", {});
  const full = await browser.get("/pedidos");
  assert.match(
    full.text,
    /class="flash error"[^>]*>❌ Falla simulada: queue_full. El servidor está a plena capacidad/,
  );
  assert.match(row(full.text, 1), /data-estado="error"/);
  delete gw.daemon.refuse.REINTENTAR;
  await browser.post("/pedidos/1/reintentar", {});
  const after = await browser.get("/pedidos");
  assert.match(row(after.text, 1), /data-estado="pendiente"/);
  assert.match(row(after.text, 1), /✅ Pedido 1 de vuelta en la cola./);
  assert.match(row(after.text, 1), /action="\/pedidos\/1\/cancelar"/, "now it can be cancelled");
  // Clicked twice: the second is refused as the order is back in the queue already; not an error.
  await browser.post("/pedidos/1/reintentar", {});
  const twice = await browser.get("/pedidos");
  assert.match(row(twice.text, 1), /✅ Pedido 1 de vuelta en la cola \(ya lo estaba\)./);
  assert.doesNotMatch(twice.text, /class="flash error"/);
});

Deno.test("gateway: another user's Cancelar or Reintentar that the daemon did not answer leaves no note in the owner's row", async () => {
  using gw = fakeGateway();
  const ana = gw.browser();
  await signIn(ana, "ana");
  gw.daemon.addPedido({ estado: "pendiente" });
  const bruno = gw.browser();
  await signIn(bruno, "bruno");
  await bruno.get("/pedidos");
  gw.daemon.down = true;
  for (const action of ["cancelar", "reintentar"]) {
    const sent = await bruno.post(`/pedidos/1/${action}`, {});
    assert.deepEqual([sent.status, sent.location], [303, "/pedidos"], action);
  }
  assert.equal(gw.daemon.sent("CANCELAR").length, 1, "it was asked");
  const told = await bruno.get("/pedidos");
  // The asker is told, once: the page's banner says it, so the message left for it is not repeated.
  assert.equal(told.text.match(/No hay conexión/g)?.length, 1, told.text);
  assert.doesNotMatch(told.text, /class="flash/);
  gw.daemon.down = false;
  const page = await ana.get("/pedidos");
  assert.doesNotMatch(row(page.text, 1), /class="nota/, "nothing of Bruno's in Ana's row");
  assert.doesNotMatch(page.text, /No hay conexión/);
  const headers = new Headers({
    cookie: [...ana.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
  });
  const response = await gw.handler(new Request(`${ORIGIN}/pedidos/eventos`, { headers }));
  await using events = new EventStream(response);
  const snapshot = await events.until(/<tr data-id="1"[\s\S]*?<\/tr>/);
  assert.doesNotMatch(row(snapshot, 1), /class="nota/, "nor in its live snapshots");
});

Deno.test("gateway: row actions need the session's CSRF token, a signed-in user, and a real id", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.addPedido({ estado: "pendiente" });
  await browser.get("/pedidos");
  const forged = await browser.post("/pedidos/1/cancelar", {}, { csrf: "forged" });
  assert.equal(forged.status, 403);
  const crossSite = await browser.post("/pedidos/1/cancelar", {}, { origin: "http://evil.test" });
  assert.equal(crossSite.status, 403);
  for (const id of ["0", "abc", "1.5", "-1", "1e3", "01", "99999999999999999"]) {
    assert.equal((await browser.post(`/pedidos/${id}/cancelar`, {})).status, 404, id);
  }
  assert.deepEqual(gw.daemon.sent("CANCELAR"), [], "nothing reached the daemon");
  const stranger = new FakeBrowser(gw.handler);
  await stranger.get("/login");
  const anonymous = await stranger.post("/pedidos/1/cancelar", {});
  assert.equal(anonymous.status, 303);
  assert.equal(anonymous.location, "/login?next=%2Fpedidos");
  assert.deepEqual(gw.daemon.sent("CANCELAR"), []);
});

Deno.test("gateway: row actions take every id the daemon gives, up to 2^53 − 1 (16 digits)", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  for (const id of [1_000_000_000_000_000, Number.MAX_SAFE_INTEGER]) {
    gw.daemon.addPedido({ id, estado: "pendiente" });
    const page = await browser.get("/pedidos");
    assert.match(row(page.text, id), new RegExp(`action="/pedidos/${id}/cancelar"`));
    const sent = await browser.post(`/pedidos/${id}/cancelar`, {});
    assert.deepEqual([sent.status, sent.location], [303, "/pedidos"], String(id));
    assert.match(row((await browser.get("/pedidos")).text, id), /data-estado="cancelado"/);
  }
  assert.deepEqual(
    gw.daemon.sent("CANCELAR").map((r) => r.id),
    [1_000_000_000_000_000, Number.MAX_SAFE_INTEGER],
  );
});

Deno.test("gateway: a row action's id past 2^53 − 1 gets a 404 page that says so, and reaches no daemon", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  await browser.get("/pedidos");
  // 2^53 and past it: as numbers they would read as another id (…993 reads as …992).
  for (const id of ["9007199254740992", "9007199254740993", "9999999999999999"]) {
    for (const action of ["cancelar", "reintentar"]) {
      const refused = await browser.post(`/pedidos/${id}/${action}`, {});
      assert.equal(refused.status, 404, id);
      assert.match(refused.text, /<h1[^>]*>Pedido no encontrado<\/h1>/);
      assert.match(refused.text, /los ids van de 1 a 9007199254740991/);
    }
  }
  assert.deepEqual([...gw.daemon.sent("CANCELAR"), ...gw.daemon.sent("REINTENTAR")], []);
});

Deno.test("gateway: the live snapshots carry the row actions without any CSRF token", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.addPedido({ estado: "pendiente" });
  const headers = new Headers({
    cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
  });
  const response = await gw.handler(new Request(`${ORIGIN}/pedidos/eventos`, { headers }));
  await using events = new EventStream(response);
  const text = await events.until(/action="\/pedidos\/1\/cancelar"/);
  assert.match(text, /<input type="hidden" name="_csrf" data-csrf="true">/);
  assert.ok(!text.includes(browser.csrf!), "no session's token in shared HTML");
});

Deno.test("gateway with a real daemon: Cancelar on a waiting order; its row says cancelado", async () => {
  // One worker busy for a minute: the second order waits, pendiente.
  await using daemon = await startInProcess({
    workers: 1,
    processMs: { min: 60_000, max: 60_000 },
    drainTimeoutMs: 50,
  });
  await using conn = await rawConnect(daemon.port);
  const order = JSON.stringify({ cliente: "Ana", productos: ["pan"], direccion: "C 1" });
  await conn.write(`${order}\n`);
  await conn.readLine(); // runs for a minute
  const logger = new Logger({ level: "error", write: () => {} });
  await using link = connectDaemon({ hosts: ["127.0.0.1"], port: daemon.port, logger });
  const handler = createGatewayHandler({ daemon: link, logger });
  try {
    const browser = new FakeBrowser(handler);
    await signIn(browser);
    // The user's own order (a web user sees only theirs): it waits behind the running one.
    await browser.get("/pedidos");
    await browser.post("/pedidos", { cliente: "Eva", productos: "pan", direccion: "Calle 2" });
    await conn.write('{"op":"LISTAR","limit":1}\n');
    const waiting = ((await conn.readLine())?.pedidos as { id: number }[])[0]!.id;
    assert.match(row((await browser.get("/pedidos")).text, waiting), /Cancelar/);
    const sent = await browser.post(`/pedidos/${waiting}/cancelar`, {});
    assert.equal(sent.status, 303);
    const after = await browser.get("/pedidos");
    assert.match(row(after.text, waiting), /data-estado="cancelado"/);
    assert.match(row(after.text, waiting), /✅ Pedido \d+ cancelado./);
    await conn.write(`{"op":"ESTADO","id":${waiting}}\n`);
    assert.equal(((await conn.readLine())?.pedido as { estado: string }).estado, "cancelado");
  } finally {
    handler.close();
  }
});

Deno.test("gateway with a real daemon: Cancelar on another account's order changes nothing", async () => {
  await using daemon = await startInProcess({
    workers: 1,
    processMs: { min: 60_000, max: 60_000 },
    drainTimeoutMs: 50,
  });
  await using conn = await rawConnect(daemon.port);
  const order = JSON.stringify({ cliente: "Ana", productos: ["pan"], direccion: "C 1" });
  await conn.write(`${order}\n${order}\n`);
  await conn.readLine(); // runs for a minute
  const notMine = (await conn.readLine())?.id as number; // placed over TCP: no account's
  const logger = new Logger({ level: "error", write: () => {} });
  await using link = connectDaemon({ hosts: ["127.0.0.1"], port: daemon.port, logger });
  const handler = createGatewayHandler({ daemon: link, logger });
  try {
    const browser = new FakeBrowser(handler);
    await signIn(browser);
    await browser.get("/pedidos");
    const sent = await browser.post(`/pedidos/${notMine}/cancelar`, {});
    assert.equal(sent.status, 303);
    await conn.write(`{"op":"ESTADO","id":${notMine}}\n`);
    assert.equal(((await conn.readLine())?.pedido as { estado: string }).estado, "pendiente");
  } finally {
    handler.close();
  }
});

Deno.test("gateway: while the daemon cannot be reached, the live order list keeps the states last read, said to be so, under the banner", async () => {
  using gw = fakeGateway();
  const ana = gw.browser();
  await signIn(ana, "ana");
  gw.daemon.addPedido({ estado: "en proceso" });
  const headers = new Headers({
    cookie: [...ana.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
  });
  const response = await gw.handler(new Request(`${ORIGIN}/pedidos/eventos`, { headers }));
  await using events = new EventStream(response);
  await events.until(/<tr data-id="1"[\s\S]*?<\/table>/);
  let from = events.text.length;
  gw.daemon.down = true;
  const downPattern = /No hay conexión[\s\S]*?(<\/table>|No se pudieron leer los pedidos)/;
  await events.until(downPattern, { from });
  const down = events.text.slice(from);
  assert.match(down, /Últimos estados leídos, de antes de perder la conexión/);
  assert.match(down, /<tr data-id="1"[\s\S]*?en proceso/, "the row as last read");
  assert.doesNotMatch(down, /No se pudieron leer los pedidos/);
  from = events.text.length;
  gw.daemon.down = false;
  await events.until(/<tr data-id="1"[\s\S]*?<\/table>/, { from });
  assert.doesNotMatch(events.text.slice(from), /Últimos estados leídos|No hay conexión/);
});
