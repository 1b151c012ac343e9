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
import { FakeBrowser, signIn } from "./web_test_util.ts";

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
