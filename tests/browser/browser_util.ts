/**
 * Helpers for the browser test and the docs' screenshots: Debian's Chromium
 * through playwright-core, and `pedidos web` as a subprocess, or in this
 * process over a fake daemon.
 *
 * @module
 */

import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { ROOT, taskPermissions } from "../test_util.ts";
import { type FakeDaemon, fakeGateway } from "../web_test_util.ts";

/** The browser: Debian's package (`apt-get install -y chromium`). */
export const CHROMIUM = Deno.env.get("PEDIDOS_CHROMIUM") ?? "/usr/bin/chromium";

/** Flags for a headless run in a container. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
];

/** Where screenshots of failed steps go. */
export const FAILURES = `${Deno.env.get("TMPDIR") ?? "/tmp"}/pedidos-browser-failures`;

/** Launches headless Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
}

/** A running `pedidos web`. */
export interface Gateway {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  /** SIGTERM, then the exit status and everything it logged. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/**
 * Starts `main.ts web` with the `web` task's permissions on a free port,
 * talking to the daemon at 127.0.0.1:`daemonPort`, and waits for its ready line.
 */
export async function startGateway(daemonPort: number, cwd: string): Promise<Gateway> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...taskPermissions("web"),
      `${ROOT}main.ts`,
      "web",
      "--web-port",
      "0",
      "--host",
      "127.0.0.1",
      "--port",
      String(daemonPort),
    ],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let url: string | null = null;
  while (url === null) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`pedidos web did not start: ${out}\n${await stderr}`);
    out += value;
    url = /web listening on (http:\/\/\S+) /.exec(out)?.[1] ?? null;
  }
  const rest = (async () => {
    for (;;) if ((await reader.read()).done) return;
  })();
  return {
    url,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const status = await child.status;
      await rest;
      return { code: status.code, stderr: await stderr };
    },
  };
}

/** A signed-in browser page on a gateway served in this process over a {@linkcode FakeDaemon}. */
export interface FakeSite extends AsyncDisposable {
  /** The daemon behind the gateway: its orders, its `down` switch, its tokens. */
  daemon: FakeDaemon;
  /** A tab, signed in as `ana` (an operador, so the Panel opens too). */
  page: Page;
  /** The page's browser context (cookies, viewport, JavaScript on or off). */
  context: BrowserContext;
  /** The gateway's address of `path`. */
  url(path: string): string;
}

/** Options of {@linkcode openFakeSite}. */
export interface FakeSiteOptions {
  /** @default {{ width: 1280, height: 900 }} */
  viewport?: { width: number; height: number };
  /** @default {true} */
  javaScriptEnabled?: boolean;
}

/**
 * Serves a gateway over a {@linkcode FakeDaemon} on a free loopback port (no
 * daemon to start: its orders can be set by hand, and it can be made to go
 * down and come back), launches Chromium and signs `ana` in. Everything is
 * stopped on dispose.
 */
export async function openFakeSite(options: FakeSiteOptions = {}): Promise<FakeSite> {
  const gateway = fakeGateway({ liveIntervalMs: 50 });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request, info) => gateway.handler(request, info),
  );
  const browser = await launchChromium();
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1280, height: 900 },
    javaScriptEnabled: options.javaScriptEnabled ?? true,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const base = `http://127.0.0.1:${server.addr.port}/`;
  const url = (path: string) => new URL(path, base).href;
  const { daemon } = gateway;
  daemon.users.set("ana", { usuario: "ana", password: "s3cret-pass" });
  daemon.operators.add("ana");
  await page.goto(url("/login"));
  await page.fill("input[name=usuario]", "ana");
  await page.fill("input[name=password]", "s3cret-pass");
  await page.click("main button[type=submit]");
  await page.waitForURL(url("/"));
  return {
    daemon,
    page,
    context,
    url,
    async [Symbol.asyncDispose]() {
      await browser.close();
      gateway.handler.close();
      await server.shutdown();
    },
  };
}
