/**
 * Helpers for the browser test and the docs' screenshots: Debian's Chromium
 * through playwright-core, and `pedidos web` as a subprocess.
 *
 * @module
 */

import { type Browser, chromium } from "playwright-core";
import { ROOT, taskPermissions } from "../test_util.ts";

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
