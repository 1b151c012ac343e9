/**
 * End-to-end test in a real browser: headless Chromium (Debian's
 * `/usr/bin/chromium`) driven by playwright-core, against a real daemon and
 * a real `pedidos web`, each a subprocess with the permissions of its task.
 *
 * Run with `deno task test:browser`. Playwright needs `--allow-all` under
 * Deno, so this file is not named `*_test.ts`: the main `deno task test`
 * (loopback-only network, no `--allow-all`) does not collect it.
 *
 * On a failure, a screenshot of the page at that step is saved under
 * `$TMPDIR/pedidos-browser-failures/` and its path is printed.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { setAccountRole } from "../../server/accounts/usuarios_command.ts";
import { startSubprocess, tempDir } from "../test_util.ts";
import { FAILURES, launchChromium, openFakeSite, startGateway } from "./browser_util.ts";

/** Runs one step; on failure saves a screenshot of the page and names it in the error. */
async function step(page: Page, name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    await Deno.mkdir(FAILURES, { recursive: true });
    const path = `${FAILURES}/${name.replace(/\W+/g, "_")}.png`;
    await page.screenshot({ path, fullPage: true }).catch(() => {});
    throw new Error(`Step "${name}" failed (screenshot: ${path}): ${error}`, { cause: error });
  }
}

Deno.test({
  name: "browser: registro → login → tareas → a pedido reaches listo live → the panel shows it",
  // playwright-core keeps a pipe to Chromium and timers of its own until close().
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir();
    await using daemon = await startSubprocess(dir.path, [
      "--host",
      "127.0.0.1",
      "--workers",
      "2",
      "--max-pedidos",
      "4",
      "--process-ms",
      "1200-1800",
    ]);
    const gateway = await startGateway(daemon.port, dir.path);
    let browser: Browser | null = null;
    try {
      browser = await launchChromium();
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const url = (path: string) => new URL(path, gateway.url).href;
      const usuario = `ana_${Date.now() % 100000}`;
      const password = "s3cret-pass";

      await step(page, "registro", async () => {
        await page.goto(url("/registro"));
        await page.fill("input[name=usuario]", usuario);
        await page.fill("input[name=password]", password);
        await page.fill("input[name=password2]", password);
        await page.click("main button[type=submit]");
        await page.waitForURL(url("/login"));
        assert.match(
          await page.textContent(".flash.ok") ?? "",
          new RegExp(`Cuenta ${usuario} creada`),
        );
      });

      // The Panel is for operators: make this account one, as an administrator would.
      assert.equal(await setAccountRole(`${dir.path}/pedidos.db`, usuario, "operador"), true);

      await step(page, "login", async () => {
        await page.fill("input[name=usuario]", usuario);
        await page.fill("input[name=password]", password);
        await page.click("main button[type=submit]");
        await page.waitForURL(url("/"));
        assert.equal(await page.textContent("main h2"), `¡Hola, ${usuario}!`);
        const cookies = await page.context().cookies();
        const session = cookies.find((c) => c.name === "pedidos_sesion");
        assert.ok(session?.httpOnly && session.sameSite === "Lax", JSON.stringify(session));
        assert.ok(cookies.every((c) => !c.value.includes(password)));
      });

      await step(page, "tareas", async () => {
        await page.click("nav >> text=Tareas");
        await page.fill("form:has(input[value=sum]) input[name=numeros]", "1 2 3.5");
        await page.click("form:has(input[value=sum]) button");
        assert.equal(await page.textContent("output[data-tarea=sum]"), "Resultado: 6.5");
        await page.fill("form:has(input[value=upper]) input[name=texto]", "hola");
        await page.click("form:has(input[value=upper]) button");
        assert.equal(await page.textContent("output[data-tarea=upper]"), "Resultado: HOLA");
        await page.fill("form:has(input[value=lower]) input[name=texto]", "HOLA");
        await page.click("form:has(input[value=lower]) button");
        assert.equal(await page.textContent("output[data-tarea=lower]"), "Resultado: hola");
      });

      let id = "";
      await step(page, "pedidos", async () => {
        await page.click("nav >> text=Pedidos");
        const cliente = "Ana <script>window.__xss = 1</script>";
        await page.fill("input[name=cliente]", cliente);
        await page.fill("textarea[name=productos]", "pan\nagua x2");
        await page.fill("input[name=direccion]", "Av. Siempre Viva 742");
        await page.click("main form button[type=submit]");
        await page.waitForURL(url("/pedidos"));
        id = (/Pedido (\d+) recibido/.exec(await page.textContent(".flash.ok") ?? "") ?? [])[1] ??
          "";
        assert.ok(id !== "", "the order got an id");
        const row = `tr[data-id="${id}"]`;
        assert.equal(await page.textContent(`${row} td.cliente`), cliente, "shown as text");
        assert.equal(await page.evaluate("window.__xss"), undefined, "never run");
        // Watch the row change without reloading: mark the page, then record every state the
        // row shows as the live part is replaced (a MutationObserver, so none is missed), until
        // it shows listo or 20 s pass.
        const seen = await page.evaluate(`new Promise((resolve) => {
          window.__sameDocument = true;
          const live = document.querySelector('[data-live="/pedidos/eventos"]');
          const seen = [];
          const done = () => { observer.disconnect(); resolve(seen); };
          const note = () => {
            const estado = live.querySelector('${row}')?.getAttribute("data-estado");
            if (estado && estado !== seen.at(-1)) seen.push(estado);
            if (estado === "listo") done();
          };
          const observer = new MutationObserver(note);
          observer.observe(live, { childList: true, subtree: true, attributes: true });
          setTimeout(done, 20000);
          note();
        })`) as string[];
        assert.equal(seen.at(-1), "listo", `states seen: ${seen.join(" → ")}`);
        assert.ok(seen.includes("en proceso"), `states seen: ${seen.join(" → ")}`);
        const order = ["pendiente", "en proceso", "listo"];
        assert.deepEqual(seen, order.filter((s) => seen.includes(s)), "in lifecycle order");
        assert.equal(await page.evaluate("window.__sameDocument"), true, "no reload");
      });

      await step(page, "panel", async () => {
        await page.click("nav >> text=Panel");
        await page.waitForSelector(`svg.timeline g.tl-bar.listo[data-id="${id}"]`);
        assert.equal(
          await page.locator("svg.timeline text", { hasText: /^Worker \d$/ }).count(),
          2,
        );
        const listos = page.locator(".counter", { hasText: "listos" }).locator(".value");
        assert.ok(Number(await listos.textContent()) >= 1);
        const cancelados = page.locator(".counter", { hasText: "cancelados" }).locator(".value");
        assert.equal(await cancelados.textContent(), "0", "nothing was cancelled");
        await page.evaluate("window.__sameDocument = true");
      });

      await step(page, "panel live", async () => {
        // Place an order through another tab and watch it appear here.
        const other = await context.newPage();
        await other.goto(url("/pedidos"));
        await other.fill("textarea[name=productos]", "café");
        await other.fill("input[name=direccion]", "Calle 2");
        await other.click("main form button[type=submit]");
        await other.waitForURL(url("/pedidos"));
        const next =
          (/Pedido (\d+) recibido/.exec(await other.textContent(".flash.ok") ?? "") ?? [])[1];
        await other.close();
        await page.waitForSelector(`svg.timeline g.tl-bar[data-id="${next}"]`);
        assert.equal(await page.evaluate("window.__sameDocument"), true, "no reload");
      });

      await step(page, "logout", async () => {
        await page.click("header button:has-text('Salir')");
        await page.waitForURL(url("/login"));
        assert.match(await page.textContent(".flash.ok") ?? "", /Sesión cerrada/);
        await page.goto(url("/panel"));
        assert.equal(page.url(), url("/login?next=%2Fpanel"), "and back to the Panel once in");
      });
    } finally {
      await browser?.close();
      const { code, stderr } = await gateway.stop();
      assert.equal(code, 0, stderr);
      assert.ok(!stderr.includes("s3cret-pass"), "no password in the gateway's log");
    }
  },
});

/**
 * Waits until the text of `selector` changes (a new snapshot), 10 s at most.
 * (The pages' CSP forbids `waitForFunction`'s eval; `evaluate` is not bound by it.)
 */
async function changed(page: Page, selector: string): Promise<void> {
  await page.evaluate(`new Promise((resolve, reject) => {
    const text = () => document.querySelector(${JSON.stringify(selector)})?.textContent;
    const before = text();
    const observer = new MutationObserver(() => {
      if (text() !== before) { observer.disconnect(); clearTimeout(timer); resolve(); }
    });
    observer.observe(document.body, { childList: true, subtree: true, characterData: true });
    const timer = setTimeout(() => reject(new Error("no new text in " + ${
    JSON.stringify(selector)
  })), 10000);
  })`);
}

/** The browser tests on a fake daemon: playwright-core keeps a pipe and timers until close(). */
function fakeSiteTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });
}

fakeSiteTest(
  "browser: Back to a sent order form, then Enviar again, makes no second order",
  async () => {
    await using site = await openFakeSite();
    const { page, url, daemon } = site;
    await step(page, "send an order", async () => {
      await page.goto(url("/pedidos"));
      await page.fill("textarea[name=productos]", "pan x2");
      await page.fill("input[name=direccion]", "Calle 1");
      await page.click("main form button[type=submit]");
      await page.waitForSelector(".flash.ok");
      assert.match(await page.textContent(".flash.ok") ?? "", /Pedido 1 recibido/);
    });
    await step(page, "back, and send again", async () => {
      await page.goBack();
      await page.waitForSelector("main form textarea[name=productos]");
      const typed = await page.inputValue("textarea[name=productos]");
      await page.click("main form button[type=submit]");
      // Either the browser refuses the empty form or the gateway answers: wait for the page to settle.
      await page.waitForLoadState();
      assert.equal(
        daemon.pedidos.length,
        1,
        `one order, not two (the form came back with "${typed}")`,
      );
    });
  },
);

fakeSiteTest(
  "browser: when the session ends on an open Pedidos page, the ● says so and Entrar comes back to Pedidos",
  async () => {
    await using site = await openFakeSite();
    const { page, url, daemon } = site;
    await step(page, "the session ends", async () => {
      await page.goto(url("/pedidos"));
      await page.waitForSelector("[data-live-status][data-state=on]");
      daemon.tokens.clear(); // the daemon forgot it: expired there
      await page.waitForSelector("[data-live-status] a", { state: "attached" });
      assert.match(await page.textContent("[data-live-status]") ?? "", /Su sesión terminó/);
      assert.equal(
        await page.getAttribute("[data-live-status] a", "href"),
        "/login?next=%2Fpedidos",
      );
    });
    await step(page, "the order typed goes to Entrar, then back to Pedidos", async () => {
      await page.fill("textarea[name=productos]", "pan");
      await page.fill("input[name=direccion]", "Calle 1");
      await page.click("main form button[type=submit]");
      await page.waitForURL(url("/login?next=%2Fpedidos"));
      assert.match(await page.textContent(".flash.error") ?? "", /el formulario no se envió/);
      assert.equal(daemon.pedidos.length, 0);
      await page.fill("input[name=usuario]", "ana");
      await page.fill("input[name=password]", "s3cret-pass");
      await page.click("main button[type=submit]");
      await page.waitForURL(url("/pedidos"));
    });
  },
);

fakeSiteTest(
  "browser: a keyboard user on a row's Cancelar keeps the focus while the table updates",
  async () => {
    await using site = await openFakeSite();
    const { page, url, daemon } = site;
    const running = daemon.addPedido({
      estado: "en proceso",
      worker: 1,
      fecha_inicio: new Date().toISOString(),
    });
    const waiting = daemon.addPedido({ cliente: "Bruno" });
    const duration = `tr[data-id="${running.id}"] td:nth-child(7)`;
    const cancelar = `tr[data-id="${waiting.id}"] button.cancelar`;
    await step(page, "focus stays on Cancelar", async () => {
      await page.goto(url("/pedidos"));
      await page.focus(cancelar);
      // The running order's duration counts up: each new value is a new snapshot.
      for (let i = 0; i < 3; i++) await changed(page, duration);
      assert.equal(
        await page.evaluate(`document.activeElement?.closest("tr")?.dataset.id`),
        String(waiting.id),
      );
    });
    await step(page, "a new order on top does not move it to another row", async () => {
      daemon.addPedido({ cliente: "Carla" });
      await page.waitForSelector(`tr[data-id="${waiting.id + 1}"]`);
      await page.keyboard.press("Enter");
      await page.waitForSelector(".flash");
      assert.equal(daemon.pedidos[waiting.id - 1]!.estado, "cancelado", "Enter cancelled Bruno's");
      assert.equal(daemon.pedidos[waiting.id]!.estado, "pendiente", "not Carla's");
    });
    await step(page, "a change of state is announced in a line of its own", async () => {
      assert.equal(
        await page.$("[data-live][aria-live]"),
        null,
        "the table is not read every tick",
      );
      daemon.pedidos[running.id - 1]!.estado = "listo";
      const line = `[data-live-announce]:has-text("Pedido ${running.id}: listo.")`;
      await page.waitForSelector(line, { state: "attached" });
    });
  },
);

fakeSiteTest(
  "browser: the banner and the ● follow the daemon going down and coming back",
  async () => {
    await using site = await openFakeSite();
    const { page, url, daemon } = site;
    await step(page, "down: the ● says so", async () => {
      await page.goto(url("/pedidos"));
      await page.waitForSelector("[data-live-status][data-state=on]");
      daemon.down = true;
      await page.waitForSelector("[data-live-status][data-state=off]");
      assert.match(await page.textContent("[data-live-status]") ?? "", /sin respuesta/);
    });
    await step(page, "back: the page's banner goes, the ● is green", async () => {
      await page.reload();
      assert.match(await page.textContent("main > .banner") ?? "", /No hay conexión/);
      daemon.down = false;
      await page.waitForSelector("[data-live-status][data-state=on]");
      assert.equal(await page.$(".banner"), null, "no banner left");
    });
  },
);

fakeSiteTest("browser: on a phone the Panel's timeline starts at its right end, now", async () => {
  await using site = await openFakeSite({ viewport: { width: 360, height: 740 } });
  const { page, url } = site;
  await step(page, "ahora is on screen", async () => {
    await page.goto(url("/panel"));
    const ahora = page.locator("svg.timeline text.tl-tick", { hasText: "ahora" });
    const box = await ahora.boundingBox();
    assert.ok(box !== null);
    assert.ok(box.x >= 0 && box.x + box.width <= 360, `ahora at x=${box.x}`);
  });
});
