/**
 * The pipelining client of the pedidos protocol, used by the CLI, the load
 * generator, the web gateway and tests.
 *
 * One connection, one reader that owns its buffer and splits replies on
 * `\n`, and one serialised writer. Requests may be pipelined: the daemon
 * answers in request order, so replies are matched to requests first in,
 * first out.
 *
 * About 250 lines, over our ~200: most of it is the documented public API
 * (four methods and their options) that the CLI, the load generator and
 * the web gateway share; the parts that stand alone are apart (`dial.ts`,
 * `line_reader.ts`, `reply_waiters.ts`, `decode_reply.ts`, `client_error.ts`).
 *
 * @module
 */

import type { Op, Reply, ReplyOf } from "../server/protocol/replies.ts";
import { ClientError } from "./client_error.ts";
import { checkReply } from "./check_reply.ts";
import { decodeReply } from "./decode_reply.ts";
import { dial, dialAny, type DialOptions } from "./dial.ts";
import { LineReader, LineTooLongError } from "./line_reader.ts";
import { ReplyWaiters } from "./reply_waiters.ts";

export { ClientError, type ClientErrorCode, isRetriable } from "./client_error.ts";
export { formatAddress } from "./format_address.ts";

/** Options of {@linkcode PedidosClient.connect}: where, how long to try, and a cap on replies. */
export interface ConnectOptions extends DialOptions {
  /**
   * A reply longer than this fails the connection with a `protocol` error.
   * LISTAR of 1000 orders of the largest size (§2.3) is about 135 MB.
   * @default {268435456}
   */
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

/**
 * A reply to a request body built at run time ({@linkcode PedidosClient.request}):
 * any reply, and any field of it readable as `unknown`. Narrow on `ok` and
 * the operation's fields, or use {@linkcode PedidosClient.call} for the
 * operation's own reply type.
 */
export type AnyReply = Reply & { [field: string]: unknown };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/**
 * How long a connection whose sending failed is still read, for a reply the
 * daemon sent before it closed, when the close itself does not end it.
 */
const SEND_LOST_GRACE_MS = 1000;

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
  /** Requests written or queued for writing, awaiting replies. */
  readonly #waiters = new ReplyWaiters<ReplyLine>();
  #writing: Promise<void> = Promise.resolve();
  readonly #reading: Promise<void>;
  #closed = false;
  #closedReason: ClientError | null = null;
  /**
   * A refusal the daemon sent before any request (`busy`, `shutting_down`:
   * it writes one as soon as it accepts a connection it will not serve,
   * then closes it): the answer to the next request, which is then not sent.
   */
  #refusal: ReplyLine | null = null;
  #closing: Promise<void> | null = null;
  /** Why sending failed, once it has: nothing more is written. */
  #sendLost: ClientError | null = null;

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
    const { maxReplyBytes = 256 * 1024 * 1024, ...where } = options;
    return new PedidosClient(await dial(where), maxReplyBytes);
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
    const { maxReplyBytes = 256 * 1024 * 1024, ...rest } = options;
    return new PedidosClient(await dialAny(hosts, port, rest), maxReplyBytes);
  }

  /**
   * Whether the connection has ended with nothing left to read (the daemon
   * closed it, or {@linkcode PedidosClient.close}): a request made now fails
   * at once with `connection_closed` and is never sent, so it may be sent
   * on another connection whatever it is.
   */
  get closed(): boolean {
    return this.#closed && this.#refusal === null;
  }

  /** Requests sent (or being sent) whose replies have not arrived yet. */
  get pending(): number {
    return this.#waiters.size;
  }

  /**
   * Sends one request as a JSON line and resolves with its reply, whatever
   * the request (for bodies built at run time, as the web gateway forwards
   * them). For a known operation {@linkcode PedidosClient.call} gives the
   * operation's own reply type.
   *
   * @throws {ClientError} `connection_closed` when the connection ends before the reply, `protocol` when the reply is not a JSON object with `ok` or has not the shape of an answer to `body` ({@linkcode checkReply}).
   */
  async request(body: Record<string, unknown>, options: RequestOptions = {}): Promise<AnyReply> {
    const { reply } = await this.exchange(JSON.stringify(body), options);
    return checkReply(body, reply) as AnyReply;
  }

  /**
   * Sends the envelope `{"op": op, ...fields}` and resolves with the
   * operation's reply: its own success type, or an error reply.
   *
   * @example Usage
   * ```ts ignore
   * const reply = await client.call("ESTADO", { id: 42 });
   * if (reply.ok) console.log(reply.pedido.estado);
   * else console.log(reply.error);
   * ```
   * @throws {ClientError} As {@linkcode PedidosClient.request}.
   */
  async call<O extends Op>(
    op: O,
    fields: Record<string, unknown> = {},
    options: RequestOptions = {},
  ): Promise<ReplyOf<O>> {
    // The daemon answers an operation with its own reply or an error (docs/protocol.md §2–§3).
    const body = { op, ...fields };
    const { reply } = await this.exchange(JSON.stringify(body), options);
    return checkReply(body, reply) as ReplyOf<O>;
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
    if (this.#refusal !== null) {
      const refusal = this.#refusal;
      this.#refusal = null; // once: the connection is closed after it
      return Promise.resolve(refusal);
    }
    if (this.#closed) {
      return Promise.reject(
        this.#closedReason ??
          new ClientError("connection_closed", "Cannot send: connection closed"),
      );
    }
    const reply = this.#waiters.add(signal);
    const bytes = encoder.encode(line.endsWith("\n") ? line : `${line}\n`);
    this.#writing = this.#writing.then(() => this.#writeAll(bytes));
    return reply;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    if (this.#sendLost !== null) return; // its waiter is rejected when the reading ends
    try {
      for (let written = 0; written < bytes.length && !this.#closed;) {
        written += await this.#conn.write(bytes.subarray(written));
      }
    } catch (error) {
      // The daemon may have answered before it closed: a request over its
      // size limit gets too_large while the client is still sending it, and
      // the daemon's close with the rest unread makes the sending fail. That
      // reply is still to be read: the reading ends at the close and then
      // rejects what is left unanswered with this reason. A peer that
      // neither answers nor closes is cut after SEND_LOST_GRACE_MS.
      this.#sendLost = new ClientError("connection_closed", "Cannot send: connection lost", {
        cause: error,
      });
      const lost = this.#sendLost;
      const timer = setTimeout(() => this.#shutdown(lost), SEND_LOST_GRACE_MS);
      void this.#reading.finally(() => clearTimeout(timer));
    }
  }

  async #readLoop(): Promise<void> {
    const reader = new LineReader(this.#conn, { maxLineBytes: this.#maxReplyBytes });
    let reason: ClientError | null = null;
    try {
      while (await reader.fill()) {
        for (let line = reader.next(); line !== null; line = reader.next()) {
          this.#deliver(decoder.decode(line));
        }
      }
    } catch (error) {
      if (error instanceof ClientError) reason = error;
      else if (error instanceof LineTooLongError) {
        reason = new ClientError("protocol", `Reply longer than ${this.#maxReplyBytes} bytes`, {
          cause: error,
        });
      } else if (!this.#closed) {
        reason = this.#sendLost ??
          new ClientError("connection_closed", "Connection lost", { cause: error });
      }
    } finally {
      this.#shutdown(reason ?? this.#sendLost);
    }
  }

  #deliver(raw: string): void {
    if (raw.trim() === "") return;
    if (this.#waiters.size === 0) {
      const refusal = this.#refusal === null ? refusalOf(raw) : null;
      if (refusal !== null) {
        this.#refusal = refusal;
        return;
      }
      throw new ClientError("protocol", "Unexpected reply: no request waiting");
    }
    try {
      this.#waiters.resolveOldest({ reply: decodeReply(raw), raw });
    } catch (error) {
      this.#waiters.rejectOldest(error);
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
    this.#waiters.rejectAll(this.#closedReason);
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

/**
 * The line as a reply, when it is a refusal the daemon sends unasked as it
 * accepts a connection it will not serve (§3: `busy`, `shutting_down`, each
 * closed after the reply); null for anything else.
 */
function refusalOf(raw: string): ReplyLine | null {
  try {
    const reply = decodeReply(raw);
    if (!reply.ok && (reply.error === "busy" || reply.error === "shutting_down")) {
      return { reply, raw };
    }
  } catch {
    // not a reply at all: the caller's protocol error
  }
  return null;
}
