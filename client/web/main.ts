/**
 * The `web` subcommand: serves the gateway ({@linkcode createGatewayHandler})
 * over HTTP with `Deno.serve`, talking to the daemon over TCP.
 *
 * @module
 */

import { clientPermissionHint } from "../client_config.ts";
import { isLoopbackName } from "./loopback_host.ts";
import { ConfigError, type ConfigSources, wantsHelp } from "../../server/config/settings.ts";
import { Logger } from "../../server/log.ts";
import { LastingHttpServer } from "../../server/lasting_http_server.ts";
import { formatAddress } from "../client.ts";
import { createGatewayHandler } from "./app.tsx";
import { parseWebConfig, WEB_USAGE } from "./config.ts";
import { connectDaemon } from "./daemon.ts";

/** The outside world of {@linkcode runWebCommand}; tests replace it. */
export interface WebIo {
  /**
   * Stops the gateway (main.ts ties it to SIGINT/SIGTERM): it stops
   * listening, ends the live pages, and waits up to 5 s for open requests.
   */
  signal?: AbortSignal;
  /**
   * Stops the gateway at once, abandoning open requests: a stop asked
   * again. @default {the second SIGINT or SIGTERM the process receives}
   */
  force?: AbortSignal;
  /** Writes text as-is. @default {writes to Deno.stdout} */
  stdout?: (text: string) => void;
  /** Writes text as-is. @default {writes to Deno.stderr} */
  stderr?: (text: string) => void;
  /** Where the environment and env file are read. @default {the real ones} */
  sources?: ConfigSources;
}

const encoder = new TextEncoder();

function writeAll(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
}

/** Resolves once `signal` aborts (at once when it has). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Calls `onSignal` on each SIGINT or SIGTERM until the returned function is called. */
function onStopSignals(onSignal: () => void): () => void {
  const signals = ["SIGINT", "SIGTERM"] as const;
  for (const name of signals) Deno.addSignalListener(name, onSignal);
  return () => {
    for (const name of signals) Deno.removeSignalListener(name, onSignal);
  };
}

/**
 * Runs the gateway until `io.signal` aborts: it then stops listening, and
 * waits up to 5 s for open requests (`io.force`, such as a second SIGTERM,
 * ends the wait at once); those still open are abandoned. Prints one ready
 * line to stdout: `web listening on http://127.0.0.1:5000/ (daemon localhost:8888)`.
 *
 * @returns The exit status: 0 after a clean stop, 1 when the port is taken,
 * 2 on bad usage.
 *
 * @example Usage
 * ```ts ignore
 * import { runWebCommand } from "./main.ts";
 * const stop = new AbortController();
 * Deno.addSignalListener("SIGINT", () => stop.abort());
 * Deno.exit(await runWebCommand(["--web-port", "5000"], { signal: stop.signal }));
 * ```
 */
export async function runWebCommand(args: string[], io: WebIo = {}): Promise<number> {
  const out = io.stdout ?? ((text: string) => writeAll(Deno.stdout, text));
  const err = io.stderr ?? ((text: string) => writeAll(Deno.stderr, text));
  if (wantsHelp(args)) {
    out(WEB_USAGE);
    return 0;
  }
  let config;
  try {
    config = parseWebConfig(args, io.sources);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(`pedidos web: ${error.message}${clientPermissionHint(error)}\n\n${WEB_USAGE}`);
    return 2;
  }
  const logger = new Logger({ level: config.log, write: (line) => err(`${line}\n`) });
  const daemon = connectDaemon({
    hosts: config.hosts,
    port: config.port,
    logger,
    maxRequestBytes: config.maxRequestBytes,
  });
  const handler = createGatewayHandler({
    daemon,
    logger,
    trustProxy: config.webTrustProxy,
    secureCookies: config.webSecureCookies,
    maxStreams: config.webMaxStreams,
    maxStreamsPerSession: config.webMaxStreamsPerSession,
    cluster: config.hosts.length > 1,
    // Listening on the loopback only, it is reached by no other name (but a
    // DNS rebinding's); behind a proxy, or on other addresses, by names it
    // cannot know, unless it is told (a container published on 127.0.0.1).
    hosts: config.webAllowedHosts !== "auto"
      ? config.webAllowedHosts
      : isLoopbackName(config.webHost) && !config.webTrustProxy
      ? "loopback"
      : "any",
  });
  const stop = new AbortController();
  const atOnce = new AbortController();
  const onAbort = () => {
    handler.close(); // ends live streams, so the server can finish
    stop.abort();
  };
  const onForce = () => {
    onAbort();
    atOnce.abort();
  };
  // By default a second SIGINT or SIGTERM (main.ts stops on the first) ends the wait.
  let stopSignals = 0;
  const unlisten = io.force === undefined
    ? onStopSignals(() => {
      if (++stopSignals >= 2) onForce();
    })
    : () => {};
  if (io.signal?.aborted) onAbort();
  io.signal?.addEventListener("abort", onAbort, { once: true });
  if (io.force?.aborted) onForce();
  io.force?.addEventListener("abort", onForce, { once: true });
  try {
    let server: LastingHttpServer;
    try {
      // Out of file descriptors, it logs and listens again (not the end of the gateway).
      server = LastingHttpServer.start({
        hostname: config.webHost,
        port: config.webPort,
        signal: stop.signal,
        handler,
        onError: (error) => {
          logger.error("web.error", { error: String(error) });
          return new Response("Error interno", { status: 500 });
        },
        onAcceptFailed: (error, retryMs) =>
          logger.error("web.accept_failed", { error: String(error), retry_ms: retryMs }),
        onRelisten: () => logger.info("web.listening_again", {}),
        onAbandon: (waitedMs) =>
          logger.warn("web.stop_abandoned_requests", { waited_ms: waitedMs }),
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      err(
        `pedidos web: cannot listen on ${
          formatAddress(config.webHost, config.webPort)
        }: ${message}\n`,
      );
      return error instanceof Deno.errors.AddrInUse ? 1 : 2;
    }
    const addr = server.addr;
    const url = `http://${formatAddress(addr.hostname, addr.port)}/`;
    out(`web listening on ${url} (daemon ${daemon.address})\n`);
    const ping = await daemon.request({ op: "PING" }).catch(() => null);
    if (ping === null) {
      logger.warn("web.daemon_not_ready", {
        daemon: daemon.address,
        hint: "start it with: deno task server",
      });
    }
    await aborted(stop.signal);
    // Stops listening; open requests get their grace, or none once stopped again.
    const closed = server.close();
    await Promise.race([closed, aborted(atOnce.signal)]);
    await server.close({ graceMs: 0 });
    return 0;
  } finally {
    io.signal?.removeEventListener("abort", onAbort);
    io.force?.removeEventListener("abort", onForce);
    unlisten();
    handler.close();
    await daemon.close();
  }
}
