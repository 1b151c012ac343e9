/**
 * The metrics endpoint (docs/protocol.md §10): `GET /metrics` over HTTP, in the
 * Prometheus text format; any other path is 404, any other method on
 * `/metrics` 405. Off unless `--metrics-port` is given; on loopback unless
 * `--metrics-host` says otherwise. The text is built on each scrape.
 *
 * A small HTTP/1.x server of its own on `Deno.listen`, one request per
 * connection (`Connection: close`, as a scraper is content with), so that a
 * peer can hold no more than its share: at most
 * {@linkcode MetricsServerOptions.maxConnections} connections are open at
 * once (more are answered 503 and closed), and each must send its request
 * and take its reply within {@linkcode MetricsServerOptions.timeoutMs}.
 * (`Deno.serve` has neither limit: thousands of silent connections held
 * every file descriptor of the process, and the order port stopped
 * answering.) A failure to accept (out of file descriptors) is logged and
 * accepting starts again a second later; it never ends the daemon.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { pause } from "../pause.ts";
import { peerGone } from "../peer_gone.ts";
import { CONTENT_TYPE } from "./prometheus_text.ts";
import { headEnd, MAX_HEAD_BYTES, parseRequestHead } from "./request_head.ts";

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
  /**
   * Connections open at once. A connection past it takes the place of the
   * oldest one that has not sent its whole request yet (so idle sockets
   * cannot keep scrapes out); when every place is answering, it gets 503.
   * @default 16
   */
  maxConnections?: number;
  /** How long a connection may take to send its request, and again to take its reply, ms. @default 10000 */
  timeoutMs?: number;
  /** After a failure to accept, before accepting again, ms. @default 1000 */
  retryMs?: number;
}

/** A response's status line text, by code. */
const STATUS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

interface Reply {
  status: number;
  body: string;
  headers?: Record<string, string>;
  /** HEAD: the headers (and the length) of `body`, without it. */
  headOnly?: boolean;
}

const encoder = new TextEncoder();

/** The bytes of a reply, `Connection: close` always. */
function encodeReply({ status, body, headers = {}, headOnly = false }: Reply): Uint8Array {
  const bytes = encoder.encode(body);
  const fields = {
    "content-type": "text/plain; charset=utf-8",
    ...headers,
    "content-length": String(bytes.byteLength),
    connection: "close",
  };
  const head = `HTTP/1.1 ${status} ${STATUS[status]}\r\n` +
    Object.entries(fields).map(([name, value]) => `${name}: ${value}\r\n`).join("") + "\r\n";
  const headBytes = encoder.encode(head);
  if (headOnly) return headBytes;
  const all = new Uint8Array(headBytes.byteLength + bytes.byteLength);
  all.set(headBytes);
  all.set(bytes, headBytes.byteLength);
  return all;
}

/** The answer to a connection past the limit, or to one that gave its place up. */
const TOO_MANY = encodeReply({
  status: 503,
  body: "Too many connections to the metrics endpoint\n",
  headers: { "retry-after": "1" },
});

/** A running metrics endpoint. Dispose it to stop it. */
export class MetricsServer implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #options: MetricsServerOptions;
  readonly #maxConnections: number;
  readonly #timeoutMs: number;
  /** Connections being served: at most {@linkcode MetricsServerOptions.maxConnections}. */
  readonly #open = new Set<Deno.TcpConn>();
  /**
   * Those of {@linkcode MetricsServer.#open} still reading their request
   * head, oldest first, each with what gives its place up.
   */
  readonly #reading = new Map<Deno.TcpConn, () => void>();
  /** Connections that gave their place up, being told so (503) before they are closed. */
  readonly #leaving = new Set<Deno.TcpConn>();
  /** Connections being refused (503). */
  readonly #refused = new Set<Deno.TcpConn>();
  readonly #serving = new Set<Promise<void>>();
  readonly #closed = new AbortController();
  readonly #accepting: Promise<void>;
  #closing: Promise<void> | null = null;

  private constructor(listener: Deno.TcpListener, options: MetricsServerOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#maxConnections = options.maxConnections ?? 16;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#accepting = this.#accept();
  }

  /**
   * Listens and serves until {@linkcode MetricsServer.close}.
   *
   * @throws {Deno.errors.AddrInUse} (and the like) when it cannot listen.
   */
  static start(options: MetricsServerOptions): MetricsServer {
    const listener = Deno.listen({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port,
      transport: "tcp",
    });
    return new MetricsServer(listener, options);
  }

  /** The address listened on. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** Stops listening, ends open connections and waits for their handlers. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed.abort();
      try {
        this.#listener.close();
      } catch {
        // Closed already.
      }
      for (const conn of [...this.#open, ...this.#refused, ...this.#leaving]) closeQuietly(conn);
      await this.#accepting;
      await Promise.all(this.#serving);
    })();
    return this.#closing;
  }

  /** Calls {@linkcode MetricsServer.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Accepts until closed; after a failure to accept, waits and goes on. */
  async #accept(): Promise<void> {
    const closed = this.#closed.signal;
    const retryMs = this.#options.retryMs ?? 1000;
    while (!closed.aborted) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (closed.aborted) return;
        // One peer that reset before it was accepted: the next one, at once.
        if (peerGone(error)) continue;
        this.#options.logger?.repeated("error", "metrics.accept_failed", {
          error: String(error),
          retry_ms: retryMs,
        });
        await pause(retryMs, closed);
        continue;
      }
      if (closed.aborted) {
        closeQuietly(conn);
        return;
      }
      if (this.#open.size >= this.#maxConnections) this.#dropOldestReading();
      const serving = this.#open.size >= this.#maxConnections
        ? this.#refuse(conn)
        : this.#serve(conn);
      this.#serving.add(serving);
      serving.finally(() => this.#serving.delete(serving));
    }
  }

  /**
   * Frees the place of the oldest connection that has not sent its whole
   * request, if any. It is answered 503 (its request may be on its way: a
   * burst of scrapers is accepted faster than their requests are read), and
   * closed once its request is read, or within a second. At most four times
   * `maxConnections` are being told at once: past that, the one told first
   * is closed.
   */
  #dropOldestReading(): void {
    const [first] = this.#reading;
    if (first === undefined) return;
    const [oldest, leave] = first;
    this.#reading.delete(oldest);
    this.#open.delete(oldest);
    if (this.#leaving.size >= 4 * this.#maxConnections) {
      const [told] = this.#leaving;
      this.#leaving.delete(told!);
      closeQuietly(told!);
    }
    leave();
    this.#options.logger?.debug("metrics.idle_dropped", { open: this.#open.size });
  }

  /** Over the limit: 503 (written if the socket takes it at once), then closed. */
  async #refuse(conn: Deno.TcpConn): Promise<void> {
    this.#refused.add(conn);
    const timer = setTimeout(() => closeQuietly(conn), 1000);
    try {
      await writeAll(conn, TOO_MANY);
    } catch {
      // Gone, or too slow to take a few bytes.
    } finally {
      clearTimeout(timer);
      this.#refused.delete(conn);
      closeQuietly(conn);
    }
  }

  /**
   * One request: its head read within the timeout, its reply written within
   * it again. When its place is given up meanwhile, it is answered 503 at
   * once and its write side closed; its request, when it comes within a
   * second, is read (closing a socket with unread bytes would reset it,
   * and the peer could lose the answer), and nothing more is written.
   */
  async #serve(conn: Deno.TcpConn): Promise<void> {
    this.#open.add(conn);
    let left = false;
    let timer = setTimeout(() => closeQuietly(conn), this.#timeoutMs);
    this.#reading.set(conn, () => {
      left = true;
      this.#leaving.add(conn);
      clearTimeout(timer);
      timer = setTimeout(() => closeQuietly(conn), 1000);
      writeAll(conn, TOO_MANY).then(() => conn.closeWrite()).catch(() => closeQuietly(conn));
    });
    try {
      const head = await readHead(conn);
      this.#reading.delete(conn);
      if (head === null || left) return;
      const reply = await this.#answer(head);
      clearTimeout(timer);
      timer = setTimeout(() => closeQuietly(conn), this.#timeoutMs);
      await writeAll(conn, encodeReply(reply));
    } catch {
      // The peer went away, or took too long: its connection is closed.
    } finally {
      clearTimeout(timer);
      this.#reading.delete(conn);
      this.#leaving.delete(conn);
      this.#open.delete(conn);
      closeQuietly(conn);
    }
  }

  /** The reply to a request head (`"too_large"`: longer than {@linkcode MAX_HEAD_BYTES}). */
  async #answer(bytes: Uint8Array | "too_large"): Promise<Reply> {
    if (bytes === "too_large") return { status: 431, body: "Request head too large\n" };
    const head = parseRequestHead(bytes);
    if (head === null) return { status: 400, body: "Bad request\n" };
    // A HEAD gets no body, whatever its answer (RFC 9110 §9.3.2).
    const headOnly = head.method === "HEAD";
    if (head.path !== "/metrics") return { status: 404, body: "Not found\n", headOnly };
    if (head.method !== "GET" && !headOnly) {
      return { status: 405, body: "Method not allowed\n", headers: { allow: "GET, HEAD" } };
    }
    if (this.#options.ready?.() === false) {
      return { status: 503, body: "Starting\n", headers: { "retry-after": "1" }, headOnly };
    }
    try {
      const body = await this.#options.render();
      const headers = { "content-type": CONTENT_TYPE, "cache-control": "no-store" };
      return { status: 200, body, headers, headOnly };
    } catch (error) {
      this.#options.logger?.error("metrics.render_failed", { error: String(error) });
      return { status: 500, body: "Cannot render metrics\n", headOnly };
    }
  }
}

/**
 * Reads a request head: its bytes up to and with the blank line, null when
 * the peer closed first, or `"too_large"` past {@linkcode MAX_HEAD_BYTES}.
 */
async function readHead(conn: Deno.Conn): Promise<Uint8Array | "too_large" | null> {
  const buffer = new Uint8Array(MAX_HEAD_BYTES);
  let length = 0;
  while (length < buffer.length) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) return null;
    length += n;
    const end = headEnd(buffer.subarray(0, length));
    if (end >= 0) return buffer.subarray(0, end);
  }
  return "too_large";
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already (by the timer, or by close()).
  }
}
