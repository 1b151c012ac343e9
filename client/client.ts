/**
 * The pipelining client of the pedidos protocol, used by the CLI, the load
 * generator, the web gateway and tests.
 *
 * One connection, one reader that owns its buffer and splits replies on
 * `\n`, and one serialised writer. Requests may be pipelined: the daemon
 * answers in request order, so replies are matched to requests first in,
 * first out.
 *
 * @module
 */

import type { Reply } from "../server/protocol/messages.ts";

/** Options of {@linkcode PedidosClient.connect}. */
export interface ConnectOptions {
  /** The daemon's host. @default {"localhost"} */
  hostname?: string;
  /** The daemon's port. @default {8888} */
  port?: number;
  /** Aborts connecting; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Gives up connecting after this long, with a `timeout` error. @default {5000} */
  connectTimeoutMs?: number;
  /** A reply longer than this fails the connection with a `protocol` error. @default {67108864} */
  maxReplyBytes?: number;
}

/** Options of {@linkcode PedidosClient.request}. */
export interface RequestOptions {
  /**
   * Stops waiting for the reply; the promise rejects with `signal.reason`.
   * A request already handed to the writer is still sent, and its reply is
   * read and dropped, so later replies stay matched.
   */
  signal?: AbortSignal;
}

/** A reply with the exact line it was parsed from (without the newline). */
export interface ReplyLine {
  /** The parsed reply. */
  reply: Reply;
  /** The line as received. */
  raw: string;
}

/** What went wrong on the client's side of the wire. */
export type ClientErrorCode = "connect_failed" | "connection_closed" | "timeout" | "protocol";

/** A failure to reach or talk to the daemon (the daemon's own refusals are replies, not errors). */
export class ClientError extends Error {
  /** What went wrong. */
  readonly code: ClientErrorCode;

  /**
   * @param code What went wrong.
   * @param message For people, e.g. `Cannot connect to localhost:8888: Connection refused`.
   * @param options The underlying error.
   */
  constructor(code: ClientErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClientError";
    this.code = code;
  }
}

const RETRIABLE_REPLIES = new Set(["queue_full", "busy", "shutting_down", "internal"]);

/**
 * Whether trying again later may succeed: a {@linkcode ClientError} other than
 * `protocol`, or an error reply `queue_full`, `busy`, `shutting_down` or
 * `internal`. Retry orders with the same `clave` so that only one is made.
 */
export function isRetriable(errorOrReply: unknown): boolean {
  if (errorOrReply instanceof ClientError) return errorOrReply.code !== "protocol";
  if (typeof errorOrReply !== "object" || errorOrReply === null) return false;
  const { ok, error } = errorOrReply as Record<string, unknown>;
  return ok === false && typeof error === "string" && RETRIABLE_REPLIES.has(error);
}

/** `host:port`, with IPv6 literals in brackets. */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

interface Pending {
  resolve(line: ReplyLine): void;
  reject(error: unknown): void;
  /** Settled already (its caller gave up); the reply is dropped when it comes. */
  done: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NEWLINE = 0x0a;

function parseReply(raw: string): Reply {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new ClientError("protocol", `Cannot parse reply: not JSON: ${raw.slice(0, 200)}`, {
      cause: error,
    });
  }
  if (
    typeof value !== "object" || value === null || Array.isArray(value) ||
    typeof (value as Record<string, unknown>).ok !== "boolean"
  ) {
    throw new ClientError("protocol", `Cannot parse reply: no boolean "ok": ${raw.slice(0, 200)}`);
  }
  return value as Reply;
}

/**
 * A connection to the daemon.
 *
 * @example Usage
 * ```ts ignore
 * import { PedidosClient } from "./client.ts";
 * await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: 8888 });
 * const reply = await client.request({ cliente: "Ana", productos: ["pan"], direccion: "Calle 1" });
 * console.log(reply.ok, reply.id);
 * ```
 */
export class PedidosClient implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  readonly #maxReplyBytes: number;
  /** Requests written or queued for writing, awaiting replies, oldest at #head. */
  #queue: Pending[] = [];
  #head = 0;
  #writing: Promise<void> = Promise.resolve();
  readonly #reading: Promise<void>;
  #closed = false;
  #closedReason: ClientError | null = null;
  #closing: Promise<void> | null = null;

  private constructor(conn: Deno.TcpConn, maxReplyBytes: number) {
    this.#conn = conn;
    this.#maxReplyBytes = maxReplyBytes;
    this.#reading = this.#readLoop();
  }

  /**
   * Connects to one daemon.
   *
   * @throws {ClientError} `connect_failed` (refused, unknown host, …) or `timeout`.
   */
  static async connect(options: ConnectOptions = {}): Promise<PedidosClient> {
    const {
      hostname = "localhost",
      port = 8888,
      signal,
      connectTimeoutMs = 5000,
      maxReplyBytes = 64 * 1024 * 1024,
    } = options;
    signal?.throwIfAborted();
    const address = formatAddress(hostname, port);
    const timeout = AbortSignal.timeout(connectTimeoutMs);
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({
        hostname,
        port,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw new ClientError(
          "timeout",
          `Cannot connect to ${address}: no answer within ${connectTimeoutMs} ms`,
          { cause: error },
        );
      }
      const reason = error instanceof Error ? error.message : String(error);
      throw new ClientError("connect_failed", `Cannot connect to ${address}: ${reason}`, {
        cause: error,
      });
    }
    return new PedidosClient(conn, maxReplyBytes);
  }

  /**
   * Tries each host in order; the first that connects wins.
   *
   * @throws {ClientError} `connect_failed` naming every address tried, when none connects.
   */
  static async connectAny(
    hosts: string[],
    port: number,
    options: Omit<ConnectOptions, "hostname" | "port"> = {},
  ): Promise<PedidosClient> {
    if (hosts.length === 0) throw new RangeError("Cannot connect: no hosts given");
    const failures: ClientError[] = [];
    for (const hostname of hosts) {
      try {
        return await PedidosClient.connect({ ...options, hostname, port });
      } catch (error) {
        if (!(error instanceof ClientError)) throw error;
        failures.push(error);
      }
    }
    if (failures.length === 1) throw failures[0];
    const reasons = failures.map((error) => error.message.replace(/^Cannot connect to /, ""));
    throw new ClientError("connect_failed", `Cannot connect to any host: ${reasons.join("; ")}`, {
      cause: failures,
    });
  }

  /** Requests sent (or being sent) whose replies have not arrived yet. */
  get pending(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Sends one request as a JSON line and resolves with its reply.
   *
   * @throws {ClientError} `connection_closed` when the connection ends before the reply, `protocol` when the reply is not a JSON object with `ok`.
   */
  async request(body: Record<string, unknown>, options: RequestOptions = {}): Promise<Reply> {
    return (await this.exchange(JSON.stringify(body), options)).reply;
  }

  /** Sends `line` as-is (plus `\n` if missing) and resolves with one reply. */
  async sendRaw(line: string, options: RequestOptions = {}): Promise<Reply> {
    return (await this.exchange(line, options)).reply;
  }

  /**
   * Sends `line` as-is (plus `\n` if missing) and resolves with one reply and
   * its exact text, for printing the reply as received.
   *
   * @throws {ClientError} As {@linkcode PedidosClient.request}.
   */
  exchange(line: string, options: RequestOptions = {}): Promise<ReplyLine> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closed) {
      return Promise.reject(
        this.#closedReason ??
          new ClientError("connection_closed", "Cannot send: connection closed"),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<ReplyLine>();
    const onAbort = () => entry.reject(signal?.reason);
    const settle = () => {
      entry.done = true;
      signal?.removeEventListener("abort", onAbort);
    };
    const entry: Pending = {
      resolve: (value) => {
        if (entry.done) return;
        settle();
        resolve(value);
      },
      reject: (error) => {
        if (entry.done) return;
        settle();
        reject(error);
      },
      done: false,
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#queue.push(entry);
    const bytes = encoder.encode(line.endsWith("\n") ? line : `${line}\n`);
    this.#writing = this.#writing.then(() => this.#writeAll(bytes));
    return promise;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    try {
      for (let written = 0; written < bytes.length && !this.#closed;) {
        written += await this.#conn.write(bytes.subarray(written));
      }
    } catch (error) {
      this.#shutdown(
        new ClientError("connection_closed", "Cannot send: connection lost", { cause: error }),
      );
    }
  }

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(16 * 1024);
    let length = 0;
    let scanned = 0;
    let reason: ClientError | null = null;
    try {
      for (;;) {
        if (length === buffer.length) {
          const bigger = new Uint8Array(buffer.length * 2);
          bigger.set(buffer);
          buffer = bigger;
        }
        const n = await this.#conn.read(buffer.subarray(length));
        if (n === null) break;
        length += n;
        let start = 0;
        let newline = buffer.subarray(0, length).indexOf(NEWLINE, scanned);
        while (newline !== -1) {
          this.#deliver(decoder.decode(buffer.subarray(start, newline)));
          start = newline + 1;
          newline = buffer.subarray(0, length).indexOf(NEWLINE, start);
        }
        if (start > 0) buffer.copyWithin(0, start, length);
        length -= start;
        scanned = length;
        if (length > this.#maxReplyBytes) {
          throw new ClientError("protocol", `Reply longer than ${this.#maxReplyBytes} bytes`);
        }
      }
    } catch (error) {
      if (error instanceof ClientError) reason = error;
      else if (!this.#closed) {
        reason = new ClientError("connection_closed", "Connection lost", { cause: error });
      }
    } finally {
      this.#shutdown(reason);
    }
  }

  #deliver(text: string): void {
    const raw = text.endsWith("\r") ? text.slice(0, -1) : text;
    if (raw.trim() === "") return;
    const entry = this.#queue[this.#head];
    if (entry === undefined) {
      throw new ClientError("protocol", "Unexpected reply: no request waiting");
    }
    this.#queue[this.#head++] = undefined as unknown as Pending;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    try {
      entry.resolve({ reply: parseReply(raw), raw });
    } catch (error) {
      entry.reject(error);
    }
  }

  /** Marks the connection closed, closes the socket once, rejects every pending request. */
  #shutdown(reason: ClientError | null): void {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch {
        // already closed by the runtime
      }
    }
    this.#closedReason ??= reason ??
      new ClientError("connection_closed", "Connection closed before the reply");
    const waiting = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    for (const entry of waiting) entry.reject(this.#closedReason);
  }

  /** Closes the connection; pending requests reject with `connection_closed`. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closedReason ??= new ClientError(
        "connection_closed",
        "Connection closed by the client",
      );
      this.#shutdown(null);
      await this.#reading;
      await this.#writing;
    })();
    return this.#closing;
  }

  /** Same as {@linkcode PedidosClient.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
