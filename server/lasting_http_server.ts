/**
 * An HTTP server (`Deno.serve`) that outlives a failure to accept. When
 * accepting a connection fails — the process is out of file descriptors,
 * say, because many clients are connected — `Deno.serve` stops listening
 * and rejects its `finished` promise, which, left alone, ends the process.
 * {@linkcode LastingHttpServer} notes it and listens again on the same
 * address a moment later, until it is closed. Used by the web gateway.
 *
 * Closing is bounded. `Deno.serve`'s own `shutdown()` waits for every open
 * connection to end, however long that is: a client that sent half a
 * request body and then nothing kept the gateway from ever stopping.
 * {@linkcode LastingHttpServer.close} waits at most its grace (`graceMs`,
 * 5 s by default), then abandons what is still open: it no longer keeps
 * the process alive, so the program can exit (which drops it).
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
  /**
   * On close, how long open requests and connections may take to end;
   * those still open then are abandoned. @default {5000}
   */
  graceMs?: number;
  /** Close gave up on connections still open after waiting `waitedMs`. */
  onAbandon?: (waitedMs: number) => void;
}

/** Options of {@linkcode LastingHttpServer.close}. */
export interface LastingHttpServerCloseOptions {
  /**
   * How long to wait for open requests before abandoning them; `0`: not at
   * all. A close already under way with a longer grace is cut short to this.
   * @default {the server's `graceMs`}
   */
  graceMs?: number;
}

/** The default of {@linkcode LastingHttpServerOptions.graceMs}, in ms. */
export const DEFAULT_GRACE_MS = 5000;

/** A running server. Dispose it (or abort its signal) to stop it. */
export class LastingHttpServer implements AsyncDisposable {
  readonly #options: LastingHttpServerOptions;
  #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #addr: Deno.NetAddr;
  readonly #closed = new AbortController();
  /** Aborted when a close stops waiting for open connections. */
  readonly #giveUp = new AbortController();
  #giveUpAt = Infinity;
  #giveUpTimer: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | null = null;
  /**
   * Resolves once it is closed and its last connection has ended: later
   * than {@linkcode LastingHttpServer.close} when that abandoned some.
   */
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

  /**
   * Stops listening and waits for open requests, for at most the grace;
   * then abandons the connections still open (a body that never ends, say):
   * they no longer keep the process alive, and this resolves. Idempotent; a
   * later call with a shorter grace cuts the wait short (`{ graceMs: 0 }`:
   * a stop asked a second time).
   */
  close(options: LastingHttpServerCloseOptions = {}): Promise<void> {
    this.#shortenGrace(options.graceMs ?? this.#options.graceMs ?? DEFAULT_GRACE_MS);
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const started = Date.now();
    this.#closed.abort();
    // Waits for every connection, without limit: never awaited as such.
    this.#server.shutdown().catch(() => {});
    const giveUp = this.#giveUp.signal;
    const gaveUp = new Promise<"gave up">((resolve) => {
      if (giveUp.aborted) resolve("gave up");
      giveUp.addEventListener("abort", () => resolve("gave up"), { once: true });
    });
    const outcome = await Promise.race([this.finished, gaveUp]);
    clearTimeout(this.#giveUpTimer);
    this.#giveUpAt = -Infinity; // closed: later calls set no timer
    if (outcome === "gave up") {
      this.#server.unref();
      this.#options.onAbandon?.(Date.now() - started);
    }
  }

  /** Gives up waiting `graceMs` from now, unless a close will sooner or is over. */
  #shortenGrace(graceMs: number): void {
    const at = Date.now() + graceMs;
    if (at >= this.#giveUpAt) return;
    this.#giveUpAt = at;
    clearTimeout(this.#giveUpTimer);
    if (graceMs <= 0) this.#giveUp.abort();
    else this.#giveUpTimer = setTimeout(() => this.#giveUp.abort(), graceMs);
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
