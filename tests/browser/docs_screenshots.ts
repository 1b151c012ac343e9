/**
 * Takes the screenshots of `docs/web.md` during a `load` run:
 *
 *   deno run --allow-all tests/browser/docs_screenshots.ts
 *
 * Starts a daemon with the default settings (3 workers, capacity 6, 1–3 s
 * per order), `pedidos web`, and Chromium; signs in; then runs
 * `pedidos load` at 4 orders a second, more than 3 workers can take, and
 * photographs the Pedidos and Panel pages while the queue is full.
 * Writes `docs/screenshots/{pedidos,panel,pedidos-movil}.png`.
 *
 * @module
 */

import { setAccountRole } from "../../server/accounts/usuarios_command.ts";
import { ROOT, startSubprocess, taskPermissions, tempDir } from "../test_util.ts";
import { launchChromium, startGateway } from "./browser_util.ts";

const OUT = `${ROOT}docs/screenshots`;

await using dir = await tempDir();
await using daemon = await startSubprocess(dir.path, ["--host", "127.0.0.1"]);
const gateway = await startGateway(daemon.port, dir.path);
const browser = await launchChromium();
try {
  const url = (path: string) => new URL(path, gateway.url).href;
  const laptop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await laptop.newPage();
  await page.goto(url("/registro"));
  await page.fill("input[name=usuario]", "ana");
  await page.fill("input[name=password]", "s3cret-pass");
  await page.fill("input[name=password2]", "s3cret-pass");
  await page.click("main button[type=submit]");
  await page.waitForURL(url("/login"));
  await setAccountRole(`${dir.path}/pedidos.db`, "ana", "operador"); // the Panel is for operators
  await page.fill("input[name=usuario]", "ana");
  await page.fill("input[name=password]", "s3cret-pass");
  await page.click("main button[type=submit]");
  await page.waitForURL(url("/"));
  const panel = await laptop.newPage();
  await panel.goto(url("/panel"));
  await page.goto(url("/pedidos"));
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    storageState: await laptop.storageState(),
  });
  const mobile = await phone.newPage();
  await mobile.goto(url("/pedidos"));

  const load = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...taskPermissions("load"),
      `${ROOT}main.ts`,
      "load",
      "--host",
      "127.0.0.1",
      "--port",
      String(daemon.port),
      "--clientes",
      "8",
      "--tasa",
      "4",
      "--duracion",
      "40",
    ],
    cwd: dir.path,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  await new Promise((resolve) => setTimeout(resolve, 25_000));
  await Deno.mkdir(OUT, { recursive: true });
  await panel.screenshot({ path: `${OUT}/panel.png`, fullPage: true });
  await page.screenshot({ path: `${OUT}/pedidos.png`, fullPage: true });
  await mobile.screenshot({ path: `${OUT}/pedidos-movil.png` });
  load.kill("SIGINT");
  const result = await load.output();
  console.log(new TextDecoder().decode(result.stdout));
  console.log(`screenshots in ${OUT}`);
} finally {
  await browser.close();
  await gateway.stop();
}
