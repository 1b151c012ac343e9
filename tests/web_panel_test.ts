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
import { FakeBrowser, FakeDaemon, signIn } from "./web_test_util.ts";
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
