/**
 * An HTTP server (`Deno.serve`) that outlives a failure to accept. When
 * accepting a connection fails — the process is out of file descriptors,
 * say, because many clients are connected — `Deno.serve` stops listening
 * and rejects its `finished` promise, which, left alone, ends the process.
 * {@linkcode LastingHttpServer} notes it and listens again on the same
 * address a moment later, until it is closed. Used by the web gateway.
 *
 * @module
 */

import { pause } from "./pause.ts";

/** Options of {@linkcode LastingHttpServer.start}. */
export interface LastingHttpServerOptions {
  hostname: string;
  /** The port; 0 picks a free one (kept when it listens again). */
  port: number;
  handler: Deno.ServeHandler<Deno.NetAddr>;
  /** As `Deno.serve`'s: the response to a handler that threw. */
  onError?: (error: unknown) => Response | Promise<Response>;
  /** It stopped accepting (`error`), and listens again in `retryMs`. */
  onAcceptFailed: (error: unknown, retryMs: number) => void;
  /** Listening again after a failure. */
  onRelisten?: () => void;
  /** Closes it when aborted. */
  signal?: AbortSignal;
  /** Between a failure and listening again, and between tries. @default 1000 */
  retryMs?: number;
}

/** A running server. Dispose it (or abort its signal) to stop it. */
export class LastingHttpServer implements AsyncDisposable {
  readonly #options: LastingHttpServerOptions;
  #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #addr: Deno.NetAddr;
  readonly #closed = new AbortController();
  #closing: Promise<void> | null = null;
  /** Resolves once it is closed and no longer listens. */
  readonly finished: Promise<void>;

  private constructor(options: LastingHttpServerOptions, server: Deno.HttpServer<Deno.NetAddr>) {
    this.#options = options;
    this.#server = server;
    this.#addr = server.addr;
    this.finished = this.#watch();
    options.signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /**
   * Listens and serves until {@linkcode LastingHttpServer.close}.
   *
   * @throws {Deno.errors.AddrInUse} (and the like) when it cannot listen at first.
   */
  static start(options: LastingHttpServerOptions): LastingHttpServer {
    return new LastingHttpServer(options, LastingHttpServer.#serve(options, options.port));
  }

  static #serve(options: LastingHttpServerOptions, port: number): Deno.HttpServer<Deno.NetAddr> {
    return Deno.serve({
      hostname: options.hostname,
      port,
      onListen: () => {},
      ...(options.onError ? { onError: options.onError } : {}),
    }, options.handler);
  }

  /** The address listened on (the same after listening again). */
  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** Stops listening and waits for open requests. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed.abort();
      await this.#server.shutdown().catch(() => {});
      await this.finished;
    })();
    return this.#closing;
  }

  /** Calls {@linkcode LastingHttpServer.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Serves until closed, listening again after each failure to accept. */
  async #watch(): Promise<void> {
    const retryMs = this.#options.retryMs ?? 1000;
    const closed = this.#closed.signal;
    for (;;) {
      try {
        await this.#server.finished;
        return;
      } catch (error) {
        if (closed.aborted) return;
        this.#options.onAcceptFailed(error, retryMs);
      }
      for (;;) {
        await pause(retryMs, closed);
        if (closed.aborted) return;
        try {
          this.#server = LastingHttpServer.#serve(this.#options, this.#addr.port);
          this.#options.onRelisten?.();
          break;
        } catch (error) {
          // Still out of descriptors, or the port taken meanwhile: try again.
          this.#options.onAcceptFailed(error, retryMs);
        }
      }
    }
  }
}
