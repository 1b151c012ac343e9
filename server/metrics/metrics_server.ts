/**
 * The metrics endpoint (docs/protocol.md §10): `GET /metrics` over HTTP, in the
 * Prometheus text format; any other path is 404, any other method on
 * `/metrics` 405. Off unless `--metrics-port` is given; on loopback unless
 * `--metrics-host` says otherwise. The text is built on each scrape. A
 * failure to accept (out of file descriptors) is logged and the endpoint
 * listens again a second later; it never ends the daemon.
 *
 * @module
 */

import { LastingHttpServer } from "../lasting_http_server.ts";
import type { Logger } from "../log.ts";
import { CONTENT_TYPE } from "./prometheus_text.ts";

/** Options of {@linkcode MetricsServer.start}. */
export interface MetricsServerOptions {
  /** The address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** The port; 0 picks a free one. */
  port: number;
  /** The exposition text now. */
  render: () => string | Promise<string>;
  /** Where a failed render, or a failure to accept, is logged. */
  logger?: Logger;
  /**
   * Whether there is anything to render yet: until then a scrape gets 503
   * (the daemon is starting), not a page that looks up with half its numbers.
   * @default {always}
   */
  ready?: () => boolean;
}

/** A running metrics endpoint. Dispose it to stop it. */
export class MetricsServer implements AsyncDisposable {
  readonly #server: LastingHttpServer;

  private constructor(server: LastingHttpServer) {
    this.#server = server;
  }

  /**
   * Listens and serves until {@linkcode MetricsServer.close}.
   *
   * @throws {Deno.errors.AddrInUse} (and the like) when it cannot listen.
   */
  static start(options: MetricsServerOptions): MetricsServer {
    const { render, logger } = options;
    const hostname = options.hostname ?? "127.0.0.1";
    const handler = async (request: Request): Promise<Response> => {
      const { pathname } = new URL(request.url);
      if (pathname !== "/metrics") return new Response("Not found\n", { status: 404 });
      if (request.method !== "GET" && request.method !== "HEAD") {
        return new Response("Method not allowed\n", {
          status: 405,
          headers: { allow: "GET, HEAD" },
        });
      }
      if (options.ready?.() === false) {
        return new Response("Starting\n", { status: 503, headers: { "retry-after": "1" } });
      }
      let body: string;
      try {
        body = await render();
      } catch (error) {
        logger?.error("metrics.render_failed", { error: String(error) });
        return new Response("Cannot render metrics\n", { status: 500 });
      }
      const headers: Record<string, string> = {
        "content-type": CONTENT_TYPE,
        "cache-control": "no-store",
      };
      if (request.method !== "HEAD") return new Response(body, { headers });
      // HEAD: GET's headers, its length too, without the body.
      headers["content-length"] = String(new TextEncoder().encode(body).byteLength);
      return new Response(null, { headers });
    };
    const server = LastingHttpServer.start({
      hostname,
      port: options.port,
      handler,
      onAcceptFailed: (error, retryMs) =>
        logger?.error("metrics.accept_failed", { error: String(error), retry_ms: retryMs }),
      onRelisten: () => logger?.info("metrics.listening_again", {}),
    });
    return new MetricsServer(server);
  }

  /** The address listened on. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /** Stops listening and waits for open requests. Idempotent. */
  close(): Promise<void> {
    return this.#server.close();
  }

  /** Calls {@linkcode MetricsServer.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
