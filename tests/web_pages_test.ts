/**
 * What the pages show, as a user reads them: no reload under a form being
 * filled, times with their zone and date, user text cut whole and isolated,
 * form limits left to the daemon, tasks' mistakes in the user's terms,
 * notes that go when the order moves on, headings and a skip link. Fake
 * daemon, no sockets.
 */
import assert from "node:assert/strict";
import { fakeGateway, signIn } from "./web_test_util.ts";

/** The HTML of one order's row in a page. */
function row(html: string, id: number): string {
  return new RegExp(`<tr data-id="${id}"[^]*?</tr>`).exec(html)?.[0] ?? "";
}

Deno.test("gateway: without JavaScript Pedidos never reloads by itself (it has a form), and offers Actualizar", async () => {
  using gw = fakeGateway();
  gw.daemon.operators.add("ana");
  const browser = gw.browser();
  await signIn(browser);
  const pedidos = await browser.get("/pedidos");
  assert.doesNotMatch(pedidos.text, /http-equiv="refresh"/);
  assert.match(pedidos.text, /<noscript>[^]*<a href="\/pedidos">Actualizar<\/a>[^]*<\/noscript>/);
  const panel = await browser.get("/panel");
  assert.match(panel.text, /http-equiv="refresh"/, "the Panel, with nothing to type, still does");
});

Deno.test("gateway: Recibido names its time zone, and the date for an order of another day", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const yesterday = new Date(Date.now() - 86_400_000);
  gw.daemon.addPedido({ fecha_recibido: yesterday.toISOString() });
  gw.daemon.addPedido({ fecha_recibido: new Date().toISOString() });
  const page = await browser.get("/pedidos");
  const day = new Intl.DateTimeFormat("es", { dateStyle: "medium" }).format(yesterday);
  const old = /<time datetime="([^"]+)">([^<]+)<\/time>/.exec(row(page.text, 1));
  assert.equal(old?.[1], yesterday.toISOString());
  assert.ok(old?.[2]?.startsWith(`${day}, `), old?.[2]);
  const today = /<time datetime="[^"]+">([^<]+)<\/time>/.exec(row(page.text, 2))?.[1] ?? "";
  assert.match(today, /^\d\d:\d\d:\d\d \S+$/, "time and zone, no date");
  assert.doesNotMatch(today, new RegExp(day));
});

Deno.test("gateway: a long Resultado is cut between emoji, never inside one", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.addPedido({ estado: "error", detalle_error: "a" + "😀".repeat(60) });
  gw.daemon.addPedido({ estado: "listo", resultado: { texto: "😀".repeat(60) } });
  const page = await browser.get("/pedidos");
  assert.ok(!page.text.includes("\uFFFD"), "no replacement character");
  for (const id of [1, 2]) {
    const text = row(page.text, id);
    assert.match(text, /😀…/, `row ${id} is cut, after a whole emoji`);
    assert.ok(text.isWellFormed(), `row ${id} has no lone surrogate`);
  }
});

Deno.test("gateway: user text is isolated, so a right-to-left override reverses nothing after it", async () => {
  using gw = fakeGateway();
  gw.daemon.operators.add("ana");
  const browser = gw.browser();
  await signIn(browser);
  const rlo = "Ana\u202Eevil";
  gw.daemon.addPedido({
    cliente: rlo,
    productos: [{ nombre: "pan\u202E", cantidad: 2 }],
    estado: "en proceso",
    worker: 1,
    fecha_inicio: new Date().toISOString(),
  });
  const pedidos = await browser.get("/pedidos");
  assert.match(row(pedidos.text, 1), /<bdi>Ana\u202Eevil<\/bdi>/);
  assert.match(row(pedidos.text, 1), /<bdi>pan\u202E<\/bdi> ×2/, "the quantity is outside");
  const panel = await browser.get("/panel");
  assert.match(panel.text, /<title>Pedido #1 · \u2068Ana\u202Eevil\u2069 · en proceso/);
  // An isolate left open in the text would take the closing one, and the override go on.
  gw.daemon.addPedido({
    cliente: "Ana\u202E\u2066",
    estado: "en proceso",
    worker: 2,
    fecha_inicio: new Date().toISOString(),
  });
  const again = await browser.get("/panel");
  assert.match(
    again.text,
    /<title>Pedido #2 · \u2068Ana\u202E\u2066\u2069\u2069 · en proceso/,
  );
});

Deno.test("gateway: the order form sets no length the browser counts in UTF-16 units", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const page = await browser.get("/pedidos");
  assert.doesNotMatch(page.text, /maxlength/, "150 emoji are the daemon's to judge");
  const cliente = "😀".repeat(150);
  const sent = await browser.post("/pedidos", {
    cliente,
    productos: "pan",
    direccion: "Calle 1",
    clave: "k",
  });
  assert.equal(sent.status, 303);
  assert.equal(gw.daemon.pedidos[0]?.cliente, cliente);
});

Deno.test("gateway: sum says which entry is not a number, and asks for one when none is typed", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const cases: [string, RegExp][] = [
    ["abc", /«abc» no es un número/],
    ["1,2,3", /«1,2,3» no es un número. Separe los números con espacios o «;»/],
    ["1 dos 3", /«dos» no es un número/],
    ["1 1e400", /El número «1e400» es demasiado grande/],
    ["   ", /Escriba al menos un número/],
  ];
  for (const [numeros, said] of cases) {
    const page = await browser.submit("/tareas", { tarea: "sum", numeros });
    assert.equal(page.status, 422, numeros);
    assert.match(page.text, said, numeros);
    assert.doesNotMatch(page.text, /Resultado: 0|"args"/, numeros);
  }
  assert.equal(gw.daemon.sent("TASK").length, 0, "nothing the daemon would refuse is sent");
  const sum = await browser.submit("/tareas", { tarea: "sum", numeros: "1 2; 3,5" });
  assert.match(sum.text, /Resultado: 6.5/);
});

Deno.test("gateway: after Reintentar, an order that fails again no longer says it is back in the queue", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const pedido = gw.daemon.addPedido({ estado: "error", detalle_error: "boom" });
  await browser.get("/pedidos");
  await browser.post("/pedidos/1/reintentar", {});
  assert.match(row((await browser.get("/pedidos")).text, 1), /de vuelta en la cola/);
  Object.assign(gw.daemon.pedidos[pedido.id - 1]!, { estado: "error", detalle_error: "boom" });
  const failed = row((await browser.get("/pedidos")).text, 1);
  assert.match(failed, /data-estado="error"/);
  assert.doesNotMatch(failed, /de vuelta en la cola/);
});

Deno.test("gateway: Inicio has a heading, and every page a link to skip to its content", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  const inicio = await browser.get("/");
  assert.match(inicio.text, /<h1>Inicio<\/h1>/);
  const pages = [
    ...await Promise.all(["/", "/tareas", "/pedidos"].map((path) => browser.get(path))),
    await gw.browser().get("/login"),
  ];
  for (const page of pages) {
    assert.match(page.text, /<body><a class="skip" href="#contenido">Saltar al contenido<\/a>/);
    assert.match(page.text, /<main id="contenido"/);
  }
});

Deno.test("gateway: behind several daemons the Panel says which counters are this node's and which the cluster's", async () => {
  for (const cluster of [false, true]) {
    using gw = fakeGateway({ cluster });
    gw.daemon.operators.add("ana");
    const browser = gw.browser();
    await signIn(browser);
    const t = Date.now();
    // Two daemons' worker 1, at once: the cluster's orders, whichever daemon ran them.
    for (const [from, to] of [[9000, 3000], [8000, 2000]]) {
      gw.daemon.addPedido({
        estado: "listo",
        worker: 1,
        fecha_inicio: new Date(t - from!).toISOString(),
        fecha_fin: new Date(t - to!).toISOString(),
        duracion_ms: from! - to!,
      });
    }
    const page = await browser.get("/panel");
    assert.equal(page.text.match(/· otro nodo/g)?.length, 1, "two lanes for worker 1");
    const counters = [..."rechazados listos p95".split(" ")];
    for (const label of counters) {
      const own = new RegExp(`<span class="label">${label} · este nodo</span>`);
      if (cluster) assert.match(page.text, own, label);
      else assert.doesNotMatch(page.text, own, label);
    }
    assert.match(page.text, /<span class="label">capacidad<\/span>/, "the cluster's, unlabelled");
    if (cluster) {
      assert.match(page.text, /del servidor que responde \(localhost:8888\)/);
      assert.match(page.text, /aceptados de 0 recibidos en este nodo/);
    } else assert.doesNotMatch(page.text, /clúster/);
  }
});

Deno.test("gateway: behind a queue longer than the Panel's list, its worker lanes still show the orders running and just finished", async () => {
  using gw = fakeGateway();
  gw.daemon.operators.add("ana");
  // The fake lists every state; the daemon filters by `estado` (§2.3).
  const answer = gw.daemon.request.bind(gw.daemon);
  gw.daemon.request = ((body: Record<string, unknown>) => {
    const data = (body.data ?? body) as Record<string, unknown>;
    if (body.op !== "LISTAR" || typeof data.estado !== "string") return answer(body as never);
    gw.daemon.requests.push(structuredClone(body));
    const limit = typeof data.limit === "number" ? data.limit : 50;
    const pedidos = [...gw.daemon.pedidos].reverse().filter((p) => p.estado === data.estado);
    return Promise.resolve({ ok: true, pedidos: pedidos.slice(0, limit) });
  }) as typeof gw.daemon.request;
  const browser = gw.browser();
  await signIn(browser);
  const t = Date.now();
  const at = (ago: number) => new Date(t - ago).toISOString();
  // Orders run oldest first: the three just done and the three running are
  // older than the 400 waiting behind them.
  for (const worker of [1, 2, 3]) {
    gw.daemon.addPedido({
      estado: "listo",
      worker,
      fecha_inicio: at(5000),
      fecha_fin: at(3000),
      duracion_ms: 2000,
      intentos: 1,
    });
  }
  for (const worker of [1, 2, 3]) {
    gw.daemon.addPedido({ estado: "en proceso", worker, fecha_inicio: at(2000), intentos: 1 });
  }
  for (let i = 0; i < 400; i++) gw.daemon.addPedido();
  gw.daemon.stats = { ...gw.daemon.stats, capacidad: 1000, pendientes: 400, en_proceso: 3 };
  const page = await browser.get("/panel");
  const bars = [...page.text.matchAll(/<g class="tl-bar [^"]*" data-id="(\d+)"/g)].map((m) =>
    Number(m[1])
  );
  assert.deepEqual(bars.sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
});

Deno.test("gateway: the Panel's counter tiles fit a capacity of 6 digits, even at their narrowest", async () => {
  using gw = fakeGateway();
  gw.daemon.operators.add("ana");
  const browser = gw.browser();
  await signIn(browser);
  gw.daemon.stats = { ...gw.daemon.stats, capacidad: 999_999, libres: 999_999 };
  const panel = await browser.get("/panel");
  assert.match(panel.text, /<span class="value">999999<\/span><span class="label">capacidad</);
  const css = (await browser.get("/static/app.css")).text;
  const rem = (pattern: RegExp) => Number(pattern.exec(css)?.[1]) * 16;
  // The narrowest tile: its grid column's minimum, less its padding and border.
  const column = rem(/\.counters \{[^}]*minmax\(([\d.]+)rem/);
  const padding = rem(/\.counter \{[^}]*padding: [\d.]+rem ([\d.]+)rem/);
  const room = column - 2 * padding - 2;
  // Six digits in DejaVu Sans Bold (0.696 em each), the widest of the usual sans-serifs.
  const size = rem(/\.counter \.value \{[^}]*font-size: ([\d.]+)rem/);
  const needed = 6 * 0.696 * size;
  assert.ok(
    needed <= room,
    `six digits take ${needed.toFixed(1)} px; a tile has ${room.toFixed(1)}`,
  );
});
