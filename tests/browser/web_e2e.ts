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
import { FAILURES, launchChromium, startGateway } from "./browser_util.ts";

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
        assert.equal(page.url(), url("/login"));
      });
    } finally {
      await browser?.close();
      const { code, stderr } = await gateway.stop();
      assert.equal(code, 0, stderr);
      assert.ok(!stderr.includes("s3cret-pass"), "no password in the gateway's log");
    }
  },
});
