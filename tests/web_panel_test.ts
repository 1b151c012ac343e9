/**
 * The Panel's timeline against a real daemon, as an operador reads it: the
 * "Lugares ocupados" chart at its right end ("ahora") says what the
 * counters above it say.
 */
import assert from "node:assert/strict";
import { createGatewayHandler } from "../client/web/app.tsx";
import { connectDaemon } from "../client/web/daemon.ts";
import { Logger } from "../server/log.ts";
import { Server } from "../server/server.ts";
import { MemoryStore } from "../server/store/memory_store.ts";
import { rawConnect, TEST_SETTINGS } from "./test_util.ts";
import { EventStream, FakeBrowser, FakeDaemon, ORIGIN, signIn } from "./web_test_util.ts";
import type { Pedido } from "../server/protocol/messages.ts";

/** The points of an SVG path of the timeline's chart (`M x,y L x,y … Z`). */
function points(d: string): [number, number][] {
  return d.split(/[MLZ]/).filter((p) => p !== "").map((p) => {
    const [x, y] = p.split(",").map(Number);
    return [x!, y!];
  });
}

/**
 * How many orders a band of the chart stands for at its right end: the
 * height of its top's last step, read against the capacity line and 0.
 */
function atRightEnd(svg: string, band: "tl-wait" | "tl-run", capacidad: number): number {
  const d = new RegExp(`class="${band}" d="([^"]*)"`).exec(svg)?.[1];
  assert.ok(d, `no ${band} band`);
  const all = points(d);
  const top = all.slice(0, all.length / 2);
  let y = NaN;
  for (let i = 0; i + 1 < top.length; i += 2) if (top[i + 1]![0] > top[i]![0]) y = top[i]![1];
  const cap = Number(/class="tl-cap" x1="[\d.]+" x2="[\d.]+" y1="([\d.]+)"/.exec(svg)?.[1]);
  const zero = Number(/y="([\d.]+)" text-anchor="end">0</.exec(svg)?.[1]);
  return (zero - y) / (zero - cap) * capacidad;
}

/**
 * How many orders a band of the chart stands for `secondsAgo` before its
 * right end: the step of its top there, placed by the time axis's labels
 * ("−60 s" … "ahora") and read against the capacity line and 0.
 */
function bandAt(
  svg: string,
  band: "tl-wait" | "tl-run",
  secondsAgo: number,
  capacidad: number,
): number {
  const d = new RegExp(`class="${band}" d="([^"]*)"`).exec(svg)?.[1];
  assert.ok(d, `no ${band} band`);
  const tick = (label: string) =>
    Number(new RegExp(`class="tl-tick" x="([\\d.]+)"[^>]*>${label}<`).exec(svg)?.[1]);
  const right = tick("ahora");
  const left = tick("−60 s");
  const x = Math.min(right - (right - left) * secondsAgo / 60, right - 0.01);
  const all = points(d);
  const top = all.slice(0, all.length / 2);
  let y = NaN;
  for (let i = 0; i + 1 < top.length; i += 2) {
    if (top[i]![0] <= x && x < top[i + 1]![0]) y = top[i]![1];
  }
  const cap = Number(/class="tl-cap" x1="[\d.]+" x2="[\d.]+" y1="([\d.]+)"/.exec(svg)?.[1]);
  const zero = Number(/y="([\d.]+)" text-anchor="end">0</.exec(svg)?.[1]);
  return Math.round((zero - y) / (zero - cap) * capacidad * 10) / 10;
}

/** Orders waiting `secondsAgo` before the chart's right end. */
function waitingAt(svg: string, secondsAgo: number): number {
  return bandAt(svg, "tl-wait", secondsAgo, 6) - bandAt(svg, "tl-run", secondsAgo, 6);
}

/**
 * A gateway on the fake daemon whose clock the test moves, with an operador
 * signed in; `at(s)` is the time `s` seconds after the start, as the
 * daemon writes it.
 */
async function panelAtTimes() {
  const start = Date.now();
  const clock = { s: 0 };
  const daemon = new FakeDaemon();
  daemon.operators.add("ana");
  const quiet = new Logger({ level: "error", write: () => {} });
  const handler = createGatewayHandler({
    daemon,
    logger: quiet,
    now: () => start + clock.s * 1000,
  });
  const browser = new FakeBrowser(handler);
  await signIn(browser);
  return {
    daemon,
    browser,
    /** Another operador, signed in in a browser of their own. */
    operador: async (usuario: string) => {
      // Made at the daemon (the gateway limits sign-ups from one address).
      daemon.users.set(usuario, { usuario, password: "s3cret-pass" });
      daemon.operators.add(usuario);
      const other = new FakeBrowser(handler);
      const page = await other.submit("/login", { usuario, password: "s3cret-pass" });
      assert.equal(page.status, 303);
      return other;
    },
    /** Sets the clock to `s` seconds after the start. */
    setClock: (s: number) => {
      clock.s = s;
    },
    at: (s: number) => new Date(start + s * 1000).toISOString(),
    /** The Panel as it is `s` seconds after the start. */
    panel: async (s: number) => {
      clock.s = s;
      const page = await browser.get("/panel");
      assert.equal(page.status, 200);
      return page.text;
    },
    [Symbol.dispose]: () => handler.close(),
  };
}

/** Sets an order's fields as the daemon would have them now. */
function set(pedido: Pedido, fields: Partial<Pedido>): void {
  Object.assign(pedido, fields);
}

/** The value of the Panel's counter `label`. */
function counter(html: string, label: string): number {
  const value = new RegExp(
    `<span class="value">(\\d+)</span><span class="label">${label}</span>`,
  ).exec(html)?.[1];
  assert.ok(value !== undefined, `no counter ${label}`);
  return Number(value);
}

Deno.test("gateway with a real daemon: the Panel's waiting band at 'ahora' counts every order en espera, past the 300 it lists", async () => {
  // One worker busy for a minute: of 350 orders, one runs and 349 wait.
  const store = new MemoryStore();
  const quiet = new Logger({ level: "error", write: () => {} });
  const capacidad = 400;
  const server = await Server.start({
    config: {
      ...TEST_SETTINGS,
      workers: 1,
      maxPedidos: capacidad,
      processMs: { min: 60_000, max: 60_000 },
      drainTimeoutMs: 50,
    },
    logger: quiet,
    store,
    inlineProcessing: true,
  });
  try {
    await using conn = await rawConnect(server.port);
    const order = JSON.stringify({ cliente: "Ana", productos: ["pan"], direccion: "C 1" });
    await conn.write(`${order}\n`.repeat(350));
    for (let i = 0; i < 350; i++) assert.equal((await conn.readLine())?.ok, true);
    await using link = connectDaemon({ hosts: ["127.0.0.1"], port: server.port, logger: quiet });
    // The gateway's clock a second after the orders came: each of them has waited a second.
    const now = () => Date.now() + 1000;
    const handler = createGatewayHandler({ daemon: link, logger: quiet, now });
    try {
      const browser = new FakeBrowser(handler);
      await signIn(browser);
      assert.equal(await store.setRole("ana", "operador"), true);
      await signIn(browser); // the role is learnt at sign-in
      const panel = await browser.get("/panel");
      assert.equal(panel.status, 200);
      assert.equal(counter(panel.text, "en espera"), 349);
      assert.equal(counter(panel.text, "en proceso"), 1);
      const waiting = atRightEnd(panel.text, "tl-wait", capacidad) -
        atRightEnd(panel.text, "tl-run", capacidad);
      assert.ok(Math.abs(waiting - 349) < 1, `the band shows ${waiting.toFixed(1)} waiting`);
      assert.ok(Math.abs(atRightEnd(panel.text, "tl-run", capacidad) - 1) < 1);
    } finally {
      handler.close();
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("gateway: an order sent back by Reintentar is drawn waiting only since then, not over its run and its time in error", async () => {
  using gw = await panelAtTimes();
  const pedido = gw.daemon.addPedido({ fecha_recibido: gw.at(0) });
  gw.daemon.stats = { ...gw.daemon.stats, pendientes: 1 };
  await gw.panel(0.5);
  // It runs on worker 1 from 2 s to 5 s and fails: error, its slot given back.
  set(pedido, { estado: "en proceso", worker: 1, fecha_inicio: gw.at(2), intentos: 1 });
  gw.daemon.stats = { ...gw.daemon.stats, pendientes: 0, en_proceso: 1 };
  await gw.panel(3);
  set(pedido, { estado: "error", fecha_fin: gw.at(5), duracion_ms: 3000, detalle_error: "boom" });
  gw.daemon.stats = { ...gw.daemon.stats, en_proceso: 0, errores: 1 };
  await gw.panel(6);
  await gw.panel(9.5);
  // Then the user sends it back to the queue.
  await gw.browser.get("/pedidos");
  const sent = await gw.browser.post("/pedidos/1/reintentar", {});
  assert.equal(sent.status, 303);
  assert.equal(pedido.estado, "pendiente");
  gw.daemon.stats = { ...gw.daemon.stats, pendientes: 1 };
  const first = await gw.panel(10);
  assert.match(
    first,
    /<g class="tl-bar error" data-id="1:1">/,
    "its failed attempt is still drawn",
  );
  await gw.panel(10.5);
  const svg = await gw.panel(14);
  // It waited from 0 to 2 s, ran to 5 s, was in error to about 10 s, waits since.
  assert.equal(waitingAt(svg, 14 - 1), 1, "it waited before its first attempt");
  assert.equal(waitingAt(svg, 14 - 3.5), 0, "not while it ran");
  assert.equal(bandAt(svg, "tl-run", 14 - 3.5, 6), 1, "it ran then");
  assert.equal(waitingAt(svg, 14 - 7), 0, "not while it was in error");
  assert.equal(bandAt(svg, "tl-run", 14 - 7, 6), 0);
  assert.equal(waitingAt(svg, 14 - 12), 1, "it waits since Reintentar");
  assert.equal(waitingAt(svg, 0), 1, "and now, as the counter says");
  assert.match(svg, /<g class="tl-bar error" data-id="1:1">/);
  assert.match(svg, /Pedido #1 · \u2068Ana\u2069 · intento 1: error · 3.00 s/);
});

Deno.test("gateway: an order waiting out its retry backoff is drawn waiting since its attempt failed, and the attempt as a failed bar", async () => {
  using gw = await panelAtTimes();
  const pedido = gw.daemon.addPedido({ fecha_recibido: gw.at(0) });
  await gw.panel(0.5);
  set(pedido, { estado: "en proceso", worker: 2, fecha_inicio: gw.at(1), intentos: 1 });
  await gw.panel(1.5);
  await gw.panel(2.5);
  // The attempt fails: back to pendiente (its attempt's fields cleared,
  // `intentos` kept) until its backoff ends; the next snapshot sees it at 3 s.
  set(pedido, { estado: "pendiente", worker: null, fecha_inicio: null, intentos: 1 });
  await gw.panel(3);
  const waitingOut = await gw.panel(4.5);
  assert.equal(waitingAt(waitingOut, 4.5 - 0.5), 1, "it waited before its first attempt");
  assert.equal(waitingAt(waitingOut, 4.5 - 2), 0, "not while it ran");
  assert.equal(bandAt(waitingOut, "tl-run", 4.5 - 2, 6), 1, "it ran then");
  assert.equal(waitingAt(waitingOut, 4.5 - 3.8), 1, "it waits out its backoff");
  assert.match(waitingOut, /<g class="tl-bar error" data-id="1:1">/, "the failed attempt's bar");
  // The second attempt, from 5.5 s on.
  set(pedido, { estado: "en proceso", worker: 1, fecha_inicio: gw.at(5.5), intentos: 2 });
  const again = await gw.panel(6.5);
  assert.equal(waitingAt(again, 6.5 - 2), 0, "still not waiting while it first ran");
  assert.equal(waitingAt(again, 6.5 - 4.5), 1, "waiting between its attempts");
  assert.equal(waitingAt(again, 0), 0);
  assert.equal(bandAt(again, "tl-run", 0, 6), 1);
  assert.match(again, /<g class="tl-bar error" data-id="1:1">/);
  assert.match(again, /<g class="tl-bar en-proceso" data-id="1">/);
});

Deno.test("gateway: an order first seen back in the queue is not drawn waiting before the gateway saw it", async () => {
  using gw = await panelAtTimes();
  // Received 30 s ago, it ran and failed, and was sent back before anyone watched.
  gw.daemon.addPedido({ fecha_recibido: gw.at(0), intentos: 1 });
  gw.daemon.stats = { ...gw.daemon.stats, pendientes: 1 };
  const first = await gw.panel(30);
  assert.equal(waitingAt(first, 20), 0, "when it waited again is unknown");
  assert.equal(waitingAt(first, 0), 1, "it waits now");
  const later = await gw.panel(32);
  assert.equal(waitingAt(later, 1), 1, "waiting since it was seen");
});

/** The timeline's bars: state, merged or not, id, and where (x, lane top, width). */
function bars(svg: string) {
  const found = svg.matchAll(
    /<g class="tl-bar ([a-z-]+)( tl-merged)?" data-id="([^"]+)"><rect x="([\d.]+)" y="(\d+)" width="([\d.]+)"/g,
  );
  return [...found].map((m) => ({
    estado: m[1]!,
    merged: m[2] !== undefined,
    id: m[3]!,
    x: Number(m[4]),
    y: Number(m[5]),
    width: Number(m[6]),
  }));
}

/** The x of a tick of the time axis ("ahora", "−60 s"). */
function tick(svg: string, label: string): number {
  return Number(new RegExp(`class="tl-tick" x="([\\d.]+)"[^>]*>${label}<`).exec(svg)?.[1]);
}

/**
 * Orders that each ran `runMs` on workers 1 to 3 in turn, one every
 * `everyMs` from `fromS` seconds after the start to `toS`, all `listo`.
 */
function ranOrders(
  gw: { daemon: FakeDaemon; at: (s: number) => string },
  options: { fromS: number; toS: number; everyMs: number; runMs: number },
): void {
  const { fromS, toS, everyMs, runMs } = options;
  for (let t = fromS * 1000; t < toS * 1000; t += everyMs) {
    const i = gw.daemon.pedidos.length;
    gw.daemon.addPedido({
      estado: "listo",
      worker: (i % 3) + 1,
      intentos: 1,
      fecha_recibido: gw.at(t / 1000),
      fecha_inicio: gw.at(t / 1000),
      fecha_fin: gw.at((t + runMs) / 1000),
      duracion_ms: runMs,
    });
  }
}

Deno.test("gateway: at 20 orders a second the Panel's worker lanes show the whole last minute busy, not only its last 15 s", async () => {
  using gw = await panelAtTimes();
  // 20 orders a second for the last minute, each 2 ms, on three workers: 1200 orders.
  ranOrders(gw, { fromS: 0, toS: 60, everyMs: 50, runMs: 2 });
  const svg = await gw.panel(60);
  const left = tick(svg, "−60 s");
  const right = tick(svg, "ahora");
  const perSecond = (right - left) / 60;
  const lanes = Map.groupBy(bars(svg), (bar) => bar.y);
  assert.equal(lanes.size, 3, "three worker lanes with bars");
  for (const [y, drawn] of lanes) {
    const first = Math.min(...drawn.map((bar) => bar.x));
    const last = Math.max(...drawn.map((bar) => bar.x + bar.width));
    assert.ok(first - left < 2 * perSecond, `lane ${y} starts ${(first - left) / perSecond} s in`);
    assert.ok(right - last < 2 * perSecond, `lane ${y} ends ${(right - last) / perSecond} s early`);
  }
  assert.doesNotMatch(svg, /sin datos/, "the whole minute was read");
  // Too close to draw one by one, they are drawn merged, as faint as the workers were busy.
  assert.match(svg, /pedidos listos seguidos \(#\d+ … #\d+\)/);
  assert.match(svg, /el worker ocupado el [0-9] % de ese tiempo/);
});

Deno.test("gateway: at 1000 orders a second the Panel says how much of the minute it could read, marks the rest 'sin datos', and stays bounded", async () => {
  using gw = await panelAtTimes();
  // A minute at 1000 orders a second: 60 000 orders.
  ranOrders(gw, { fromS: 0, toS: 60, everyMs: 1, runMs: 1 });
  const first = await gw.panel(60);
  assert.match(
    first,
    /<p class="small" data-coverage="true">La línea de tiempo solo está completa en los últimos \d s/,
  );
  assert.match(first, /aún lo está leyendo del servidor/);
  assert.match(first, /<g class="tl-gap">/);
  assert.ok(first.length < 100_000, `the page is ${first.length} bytes`);
  // One refresh asks a bounded number of pages of a bounded size (and, the
  // window knowing no order yet, one list of the newest to check its token).
  const listed = gw.daemon.sent("LISTAR");
  assert.ok(listed.length <= 2 + 6 + 1, `${listed.length} LISTAR in one refresh`);
  assert.ok(listed.every((r) => typeof r.limit === "number" && r.limit <= 500));
  // Half a second later each time, with 500 more orders: it reads further back each time.
  let page = first;
  let s = 60;
  const complete = () => Number(/completa en los últimos (\d+) s/.exec(page)?.[1]);
  const before = complete();
  for (; s < 90; s += 0.5) {
    ranOrders(gw, { fromS: s, toS: s + 0.5, everyMs: 1, runMs: 1 });
    gw.daemon.requests.length = 0;
    page = await gw.panel(s + 0.5);
    assert.ok(page.length < 100_000, `the page is ${page.length} bytes at ${s} s`);
    // 2 lists of the live orders, 6 pages, and the role check's list of the newest.
    assert.ok(gw.daemon.sent("LISTAR").length <= 9);
    assert.ok(gw.daemon.sent("ESTADO").length <= 16);
  }
  assert.ok(complete() > before, `${complete()} s, up from ${before} s`);
  // It keeps 30 000 finished orders: half a minute at this rate, and says so.
  assert.match(page, /guarda como mucho 30000 pedidos terminados/);
  assert.ok(Math.abs(complete() - 30) <= 1, `complete for the last ${complete()} s`);
  const svg = page;
  const perSecond = (tick(svg, "ahora") - tick(svg, "−60 s")) / 60;
  const gap = Number(/<g class="tl-gap"><rect x="[\d.]+" y="\d+" width="([\d.]+)"/.exec(svg)?.[1]);
  assert.ok(Math.abs(gap / perSecond - 30) <= 1, `'sin datos' spans ${gap / perSecond} s`);
});

Deno.test("gateway: nine operadors watching the Panel at once each see the whole minute, read once for all", async () => {
  using gw = await panelAtTimes();
  const browsers = [gw.browser];
  for (let i = 2; i <= 9; i++) browsers.push(await gw.operador(`oper${i}`));
  // 50 orders a second for the last minute: more than one refresh reads (2000 listo at first).
  ranOrders(gw, { fromS: 0, toS: 60, everyMs: 20, runMs: 2 });
  let s = 60;
  const pages: string[] = [];
  for (let round = 0; round < 2; round++) {
    pages.length = 0;
    for (const browser of browsers) {
      gw.setClock(s += 0.05);
      const page = await browser.get("/panel");
      assert.equal(page.status, 200);
      pages.push(page.text);
    }
  }
  pages.forEach((page, i) => {
    assert.doesNotMatch(page, /data-coverage/, `operador ${i + 1}'s Panel says it is not whole`);
    assert.doesNotMatch(page, /sin datos/);
  });
  // Once whole, a refresh reads only what is new: one small page per finished state.
  gw.daemon.requests.length = 0;
  gw.setClock(s + 0.05);
  await browsers[4]!.get("/panel");
  const listed = gw.daemon.sent("LISTAR").filter((r) =>
    r.estado !== "en proceso" && r.estado !== "pendiente"
  );
  // One small page per finished state, and the role check's list of the newest (no state).
  assert.equal(listed.filter((r) => r.estado !== undefined).length, 3);
  assert.equal(listed.filter((r) => r.estado === undefined).length, 1);
  assert.ok(listed.every((r) => (r.limit as number) <= 20));
});

Deno.test("gateway: when the daemon does not answer the Panel's lists, the timeline says 'sin datos', not idle workers", async () => {
  using gw = await panelAtTimes();
  ranOrders(gw, { fromS: 0, toS: 10, everyMs: 500, runMs: 400 });
  const first = await gw.panel(10);
  assert.doesNotMatch(first, /sin datos/);
  // More orders run, and the lists of finished orders are refused (a slow or failing store).
  ranOrders(gw, { fromS: 10, toS: 20, everyMs: 500, runMs: 400 });
  gw.daemon.refuse.LISTAR = "internal";
  const failed = await gw.panel(20);
  assert.match(failed, /<g class="tl-gap" data-unread="true">/);
  assert.match(failed, /data-coverage="true">La línea de tiempo no se pudo leer del servidor/);
  delete gw.daemon.refuse.LISTAR;
  const back = await gw.panel(21);
  assert.doesNotMatch(back, /sin datos/);
  assert.doesNotMatch(back, /data-coverage/);
});

Deno.test("gateway: Reintentar of the newest failed order keeps the Panel's other bars, and it stays whole", async () => {
  using gw = await panelAtTimes();
  ranOrders(gw, { fromS: 0, toS: 10, everyMs: 500, runMs: 400 });
  const older = gw.daemon.pedidos[5]!;
  const newest = gw.daemon.pedidos.at(-1)!;
  set(older, { estado: "error", detalle_error: "falló" });
  set(newest, { estado: "error", detalle_error: "falló" });
  const before = bars(await gw.panel(10)).map((bar) => bar.id);
  // Reintentar, as the daemon does it (§2.9): the newest error id goes down to the older one.
  gw.daemon.requests.length = 0;
  set(newest, { estado: "pendiente", fecha_inicio: null, fecha_fin: null, worker: null });
  const after = await gw.panel(10.5);
  assert.doesNotMatch(after, /sin datos/);
  assert.doesNotMatch(after, /data-coverage/);
  // Every order's bar stays (the one back in the queue as its failed attempt, `id:1`).
  const ids = (svg: string) => bars(svg).map((bar) => bar.id).sort();
  const expected = before.map((id) => id === String(newest.id) ? `${id}:1` : id).sort();
  assert.deepEqual(ids(after), expected);
  assert.deepEqual(ids(await gw.panel(11)), expected);
});

/** A GET of the Panel's event stream in `browser`, as its page's EventSource makes it. */
function panelEvents(browser: FakeBrowser): Promise<Response> {
  const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  return browser.handler(new Request(`${ORIGIN}/panel/eventos`, { headers: { cookie } }));
}

/** The ids of the orders that ended at or after `s` seconds after the start. */
function endedSince(gw: { daemon: FakeDaemon; at: (s: number) => string }, s: number): string[] {
  return gw.daemon.pedidos
    .filter((p) => p.fecha_fin !== null && p.fecha_fin >= gw.at(s))
    .map((p) => String(p.id));
}

Deno.test("gateway: an operador whose role is taken back no longer sees others' orders on the Panel and is told to sign in again, while another operador's Panel keeps the whole minute", async () => {
  using gw = await panelAtTimes();
  gw.daemon.scoped = true; // as the daemon: a usuario's token sees only its own orders
  const bob = await gw.operador("bob");
  // A minute of orders placed without a token (nobody's: not bob's).
  ranOrders(gw, { fromS: 0, toS: 60, everyMs: 500, runMs: 400 });
  // And the newest, bob's own, placed on Pedidos and waiting.
  gw.setClock(59);
  const sent = await bob.submit("/pedidos", { cliente: "Bob", productos: "pan", direccion: "C 2" });
  assert.equal(sent.status, 303);
  const drawn = (html: string) => new Set(bars(html).map((bar) => bar.id));

  const whole = endedSince(gw, 0);
  assert.deepEqual([...drawn(await gw.panel(60))].sort(), whole.sort());
  gw.setClock(60.1);
  const before = await bob.get("/panel");
  assert.equal(before.status, 200);
  assert.deepEqual([...drawn(before.text)].sort(), endedSince(gw, 0.1).sort());
  const response = await panelEvents(bob);
  assert.equal(response.status, 200);
  await using stream = new EventStream(response);
  await stream.until("event: html");
  const mark = stream.text.length;

  // `pedidos usuarios usuario bob`: the daemon scopes bob's token at once.
  gw.daemon.operators.delete("bob");
  gw.setClock(60.5);
  const page = await bob.get("/panel");
  assert.equal(page.status, 403);
  assert.match(page.text, /Su rol cambió: esta cuenta ya no es operador/);
  assert.match(page.text, /salga y entre de nuevo/);
  assert.doesNotMatch(page.text, /data-id=/, "no order of the Panel");
  // Its open Panel ends, saying why, with nothing of the Panel sent since.
  await stream.end();
  const after = stream.text.slice(mark);
  assert.match(after, /event: fin\ndata: Su rol cambió/);
  assert.doesNotMatch(after, /data-id=/);
  // A new Panel stream is refused too; its pages no longer offer the Panel.
  const again = await panelEvents(bob);
  assert.equal(again.status, 403);
  assert.match(await again.text(), /Su rol cambió/);
  const pedidos = await bob.get("/pedidos");
  assert.equal(pedidos.status, 200);
  assert.doesNotMatch(pedidos.text, /href="\/panel"/);

  // Ana's Panel still has every order of the minute: nothing bob read was kept.
  const anas = await gw.panel(60.6);
  assert.doesNotMatch(anas, /sin datos/);
  assert.doesNotMatch(anas, /data-coverage/);
  assert.deepEqual([...drawn(anas)].sort(), endedSince(gw, 0.6).sort());
  // Orders that end from now on still reach her.
  ranOrders(gw, { fromS: 60.6, toS: 61, everyMs: 100, runMs: 50 });
  assert.deepEqual([...drawn(await gw.panel(61.2))].sort(), endedSince(gw, 1.2).sort());
});

Deno.test("gateway: an operador whose role is kept keeps the Panel after Reintentar of the newest failed order, and when the newest orders read are pruned", async () => {
  using gw = await panelAtTimes();
  gw.daemon.scoped = true;
  const bob = await gw.operador("bob");
  ranOrders(gw, { fromS: 0, toS: 10, everyMs: 500, runMs: 400 });
  const newest = gw.daemon.pedidos.at(-1)!;
  set(newest, { estado: "error", detalle_error: "falló" });
  const panel = async (s: number) => {
    gw.setClock(s);
    const page = await bob.get("/panel");
    assert.equal(page.status, 200, `bob's Panel at ${s} s: ${page.text.slice(0, 300)}`);
    assert.doesNotMatch(page.text, /Su rol cambió/);
    assert.match(page.text, /href="\/panel"/);
    return page.text;
  };
  await gw.panel(10);
  await panel(10.1);
  const response = await panelEvents(bob);
  await using stream = new EventStream(response);
  await stream.until("event: html");

  // Reintentar, as the daemon does it (§2.9): the newest error order is back in the queue.
  set(newest, { estado: "pendiente", fecha_inicio: null, fecha_fin: null, worker: null });
  await panel(10.5);
  // Retention prunes the newest orders the gateway read (the one it read last among them).
  const pruned = gw.daemon.pedidos.slice(-3).map((p) => p.id);
  for (const id of pruned) gw.daemon.prune(id);
  const after = await panel(11);
  assert.doesNotMatch(after, /data-coverage/);
  const ids = new Set(bars(after).map((bar) => bar.id));
  assert.ok(ids.size > 10, `${ids.size} bars`);
  await gw.panel(11.5);
  await panel(12);
  // Its stream goes on (a stream ended for the role would have said so).
  const mark = stream.text.length;
  ranOrders(gw, { fromS: 12, toS: 12.5, everyMs: 100, runMs: 50 });
  await stream.until("event: html", { from: mark });
  assert.doesNotMatch(stream.text, /event: fin/);
});

Deno.test("gateway: a Panel first opened by an operador whose role was taken back keeps nothing it read: the next operador's Panel has the whole minute", async () => {
  using gw = await panelAtTimes();
  gw.daemon.scoped = true;
  const bob = await gw.operador("bob");
  ranOrders(gw, { fromS: 0, toS: 58, everyMs: 500, runMs: 400 });
  // The newest finished order is bob's own, placed on Pedidos.
  gw.setClock(59);
  const sent = await bob.submit("/pedidos", { cliente: "Bob", productos: "pan", direccion: "C 2" });
  assert.equal(sent.status, 303);
  set(gw.daemon.pedidos.at(-1)!, {
    estado: "listo",
    worker: 1,
    intentos: 1,
    fecha_inicio: gw.at(59),
    fecha_fin: gw.at(59.5),
  });
  // Taken back before anyone opened the Panel: bob's read would be the window's first.
  gw.daemon.operators.delete("bob");
  gw.setClock(60);
  const page = await bob.get("/panel");
  assert.equal(page.status, 403);
  assert.match(page.text, /Su rol cambió/);
  const anas = await gw.panel(60.1);
  assert.doesNotMatch(anas, /sin datos/);
  assert.doesNotMatch(anas, /data-coverage/);
  const drawn = new Set(bars(anas).map((bar) => bar.id.replace(/\+$/, "")));
  for (const id of endedSince(gw, 0.1)) assert.ok(drawn.has(id), `order ${id} is not drawn`);
});

/** Orders that ended within the minute, placed over TCP by `usuario` with its token (the gateway does not know them). */
function ownOrders(
  gw: { daemon: FakeDaemon; at: (s: number) => string },
  usuario: string,
  times: number[],
): void {
  for (const s of times) {
    const pedido = gw.daemon.addPedido({
      estado: "listo",
      worker: 1,
      intentos: 1,
      fecha_recibido: gw.at(s),
      fecha_inicio: gw.at(s),
      fecha_fin: gw.at(s + 0.2),
    });
    gw.daemon.owners.set(pedido.id, usuario);
  }
}

const ids = (html: string) => new Set(bars(html).map((bar) => bar.id.replace(/\+$/, "")));

Deno.test("gateway: a demoted operador whose check gets no reply keeps nothing in the shared window, sees none of it, and the next operador's Panel has the whole minute", async () => {
  using gw = await panelAtTimes();
  gw.daemon.scoped = true;
  const bob = await gw.operador("bob");
  // Orders 1-10 are nobody's; 11 is bob's, placed over TCP with his token.
  ranOrders(gw, { fromS: 50, toS: 55, everyMs: 500, runMs: 400 });
  ownOrders(gw, "bob", [56]);
  gw.daemon.operators.delete("bob");
  // No ESTADO with a token is answered: the check can prove nothing.
  gw.daemon.unanswered = (op, data) => op === "ESTADO" && typeof data.token === "string";
  gw.setClock(60);
  const page = await bob.get("/panel"); // the window's first refresh
  assert.equal(page.status, 200);
  assert.match(page.text, /No se pudo comprobar en esta actualización/);
  assert.match(page.text, /sin datos/);
  assert.deepEqual([...ids(page.text)], [], "no finished order of the shared window");
  // Ana's Panel, while no ESTADO is answered, says so too: never a minute of idle workers.
  const unproven = await gw.panel(60.1);
  assert.match(unproven, /sin datos/);
  assert.deepEqual([...ids(unproven)], []);
  // Answered again, it has the whole minute: nothing bob read was kept.
  gw.daemon.unanswered = null;
  const anas = await gw.panel(60.2);
  assert.doesNotMatch(anas, /sin datos/);
  assert.doesNotMatch(anas, /data-coverage/);
  assert.deepEqual([...ids(anas)].sort(), endedSince(gw, 0.2).sort());
  assert.equal(ids(anas).size, 11);
});

Deno.test("gateway: a demoted operador whose newest orders are its own (placed over TCP) is not shown others' orders, and keeps nothing", async () => {
  using gw = await panelAtTimes();
  gw.daemon.scoped = true;
  const bob = await gw.operador("bob");
  ranOrders(gw, { fromS: 50, toS: 55, everyMs: 500, runMs: 400 });
  await gw.panel(56); // the window holds orders 1-10
  // Then bob's own: the newest orders, and the newest two the window will know.
  ownOrders(gw, "bob", [56, 56.5]);
  await gw.panel(57);
  ownOrders(gw, "bob", [57.5]);
  gw.daemon.operators.delete("bob");
  gw.setClock(58);
  const page = await bob.get("/panel");
  assert.equal(page.status, 403);
  assert.match(page.text, /Su rol cambió/);
  assert.doesNotMatch(page.text, /data-id=/, "none of the Panel's orders");
  const anas = await gw.panel(58.1);
  assert.doesNotMatch(anas, /data-coverage/);
  assert.deepEqual([...ids(anas)].sort(), endedSince(gw, 0.1).sort());
  assert.equal(ids(anas).size, 13);
});

Deno.test("gateway: an operador's Panel stays whole when some of its check's ESTADO get no reply, and says 'sin datos' for a refresh none is answered", async () => {
  using gw = await panelAtTimes();
  gw.daemon.scoped = true;
  const bob = await gw.operador("bob");
  ranOrders(gw, { fromS: 0, toS: 60, everyMs: 500, runMs: 400 });
  const panel = async (s: number) => {
    gw.setClock(s);
    const page = await bob.get("/panel");
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.text, /Su rol cambió/);
    return page.text;
  };
  assert.deepEqual([...ids(await panel(60))].sort(), endedSince(gw, 0).sort());
  // The first ESTADO with a token of each refresh gets no reply: the next ones prove it.
  let asked = 0;
  gw.daemon.unanswered = (op, data) =>
    op === "ESTADO" && typeof data.token === "string" && asked++ === 0;
  ranOrders(gw, { fromS: 60, toS: 60.5, everyMs: 100, runMs: 50 });
  const some = await panel(60.6);
  assert.doesNotMatch(some, /data-coverage/);
  assert.deepEqual([...ids(some)].sort(), endedSince(gw, 0.6).sort());
  // None answered for one refresh: its finished orders are "sin datos", not idle workers.
  gw.daemon.unanswered = (op, data) => op === "ESTADO" && typeof data.token === "string";
  ranOrders(gw, { fromS: 60.6, toS: 61, everyMs: 100, runMs: 50 });
  const none = await panel(61.1);
  assert.match(none, /No se pudo comprobar en esta actualización/);
  assert.match(none, /<g class="tl-gap">/);
  assert.deepEqual([...ids(none)], []);
  // The next refresh, answered, has the whole minute again.
  gw.daemon.unanswered = null;
  const after = await panel(61.6);
  assert.doesNotMatch(after, /data-coverage/);
  assert.deepEqual([...ids(after)].sort(), endedSince(gw, 1.6).sort());
});

/** Every order of `gw` still waiting ends `listo` on worker 1, started at `startS`, ended at `endS`. */
function endWaiting(
  gw: { daemon: FakeDaemon; at: (s: number) => string },
  startS: number,
  endS: number,
): void {
  for (const pedido of gw.daemon.pedidos) {
    if (pedido.estado !== "pendiente") continue;
    set(pedido, {
      estado: "listo",
      worker: 1,
      intentos: 1,
      fecha_inicio: gw.at(startS),
      fecha_fin: gw.at(endS),
    });
  }
}

/**
 * `pedidos usuarios usuario bob` at `s` seconds: bob's next Panel is a 403
 * saying his role changed, with none of the orders `others`.
 */
async function assertTakenBack(
  gw: { daemon: FakeDaemon; setClock: (s: number) => void },
  bob: FakeBrowser,
  others: string[],
  s: number,
): Promise<void> {
  gw.daemon.operators.delete("bob");
  gw.setClock(s);
  const page = await bob.get("/panel");
  for (const id of others) {
    assert.doesNotMatch(page.text, new RegExp(`data-id="${id}\\+?"`), `order ${id} shown to bob`);
  }
  assert.equal(page.status, 403);
  assert.match(page.text, /Su rol cambió/);
}

Deno.test("gateway: a demoted operador whose 20 newest orders are its own, placed on Pedidos, is not shown the older orders of others the Panel holds", async () => {
  using gw = await panelAtTimes();
  gw.daemon.scoped = true;
  const bob = await gw.operador("bob");
  ranOrders(gw, { fromS: 50, toS: 52, everyMs: 500, runMs: 400 }); // nobody's
  await gw.panel(53); // the window holds them
  // Then 22 orders of bob's own, placed on Pedidos, all ended: the newest orders, and held.
  gw.setClock(53.5);
  for (let i = 0; i < 22; i++) {
    const sent = await bob.submit("/pedidos", { cliente: "Bob", productos: "pan", direccion: "C" });
    assert.equal(sent.status, 303);
  }
  endWaiting(gw, 53.6, 54);
  const others = endedSince(gw, 0).filter((id) => !gw.daemon.owners.has(Number(id)));
  assert.equal(others.length, 4);
  const anas = await gw.panel(55);
  for (const id of others) assert.ok(ids(anas).has(id), `ana's Panel holds order ${id}`);
  await assertTakenBack(gw, bob, others, 55.5);
});

Deno.test("gateway: a demoted operador whose newest orders are its own, placed over TCP, is still caught through an older order another account placed on Pedidos", async () => {
  using gw = await panelAtTimes();
  gw.daemon.scoped = true;
  const bob = await gw.operador("bob");
  const otro = await gw.operador("otro");
  gw.setClock(50);
  for (let i = 0; i < 2; i++) {
    const sent = await otro.submit("/pedidos", {
      cliente: "Otro",
      productos: "pan",
      direccion: "C",
    });
    assert.equal(sent.status, 303);
  }
  endWaiting(gw, 50.5, 51);
  const others = gw.daemon.pedidos.map((p) => String(p.id));
  await gw.panel(52);
  // Then 22 of bob's own over TCP (the gateway cannot know them as his): all of the newest.
  ownOrders(gw, "bob", Array.from({ length: 22 }, (_, i) => 52 + i * 0.1));
  const anas = await gw.panel(55);
  for (const id of others) assert.ok(ids(anas).has(id), `ana's Panel holds order ${id}`);
  await assertTakenBack(gw, bob, others, 55.5);
});
