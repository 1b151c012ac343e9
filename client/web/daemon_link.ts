/**
 * One long-lived TCP connection to the daemon that reconnects by itself,
 * with a backoff, and never sends twice a request that must not be
 * repeated. {@linkcode connectDaemon} keeps two of them.
 *
 * With several hosts (a cluster, §9), a daemon that is stopping
 * (`shutting_down`), full of connections (`busy`), loses the connection
 * under a request or does not answer in time is set aside for a while
 * ({@linkcode SET_ASIDE_MS}), for every link that shares
 * {@linkcode DaemonLinkOptions.aside}: the link connects to the next host
 * (those set aside last, the one set aside longest ago first), and a request
 * refused so — not done, §3 — or one that may be repeated and was lost with
 * the connection is sent there once more (at most once per host). A
 * connection found closed before a request is written (closed while idle)
 * is replaced first, for any request, on the same host first.
 *
 * A request over the daemon's size limit ({@linkcode DaemonLinkOptions.maxRequestBytes})
 * is never sent: the link answers it `too_large` itself
 * (`request_size.ts`), since the daemon would close the connection after
 * that reply, failing the other requests in flight on it (other users').
 *
 * @module
 */

import type { Op, ReplyOf } from "../../server/protocol/replies.ts";
import { CLOSING_CODES } from "../../server/protocol/errors.ts";
import type { Logger } from "../../server/log.ts";
import { ClientError, formatAddress, PedidosClient } from "../client.ts";
import { firstToConnect } from "../dial.ts";
import type { DaemonClient, DaemonRequest } from "./daemon.ts";
import { DEFAULT_MAX_REQUEST_BYTES, requestBytes, tooLargeReply } from "./request_size.ts";

/**
 * The longest reply a gateway link reads: the gateway asks for 300 orders
 * at most (the Panel's timeline), 40 MB at the largest order size. A
 * client's default (256 MiB, for a LISTAR of 1000) on each of its links
 * would let a daemon that answers more than asked hold gigabytes here.
 */
export const GATEWAY_MAX_REPLY_BYTES = 48 * 1024 * 1024;
/** Options of {@linkcode DaemonLink} and `connectDaemon()`. */
export interface DaemonLinkOptions {
  /** Hosts tried in order. */
  hosts: string[];
  /** The daemon's port. */
  port: number;
  /** Where connections lost and found are logged. */
  logger: Logger;
  /** The link's name in logs. @default {"daemon"} */
  name?: string;
  /** A reply not received within this time fails with a `timeout` error. @default {15000} */
  timeoutMs?: number;
  /** Connecting gives up after this long. @default {2000} */
  connectTimeoutMs?: number;
  /** The clock of the backoff and the idle check, in ms. @default {performance.now} */
  now?: () => number;
  /** Opens a connection. @default {PedidosClient.connectAny} */
  connect?: (
    hosts: string[],
    port: number,
    options: { connectTimeoutMs: number },
  ) => Promise<PedidosClient>;
  /**
   * A connection idle for longer than this is checked with a PING before a
   * request that must not be sent twice (REGISTRO, LOGIN, PEDIDO without
   * `clave`), so a daemon restart is found out by the PING.
   *
   * @default {5000}
   */
  checkIdleMs?: number;
  /**
   * Hosts set aside, until when (on `now`'s clock): give the links of one
   * gateway the same map, so that a host one of them found stopping, gone
   * or paused is tried last by the others too, rather than costing each its
   * own wait. @default {a map of the link's own}
   */
  aside?: Map<string, number>;
  /**
   * The daemon's `--max-request-bytes`: a longer request (its JSON line in
   * UTF-8, without the newline) is answered `too_large` by the link and
   * never sent.
   *
   * @default {65536}
   */
  maxRequestBytes?: number;
}

/** Requests that may be sent again when the connection was found closed. */
const SAFE_TO_RETRY = new Set(["STATS", "LISTAR", "ESTADO", "PING", "GET_TAREAS_HTML", "TASK"]);
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 4000;
/** How long a host that refused (stopping, full) or did not answer is tried after the others. */
export const SET_ASIDE_MS = 30_000;
/** Replies that say the request was not done, and the connection is closed after them (§3). */
const GO_ELSEWHERE = new Set(["shutting_down", "busy"]);

/**
 * One long-lived, reconnecting connection to the daemon. Requests made
 * while it is connecting wait for that one attempt; after a failure the
 * next attempt is made no sooner than a backoff (250 ms doubling to 4 s),
 * and requests in between fail at once, so a down daemon costs nothing.
 */
export class DaemonLink implements DaemonClient {
  readonly address: string;
  readonly #options: DaemonLinkOptions;
  readonly #name: string;
  readonly #now: () => number;
  #client: PedidosClient | null = null;
  #connecting: Promise<PedidosClient> | null = null;
  #lastError: ClientError | null = null;
  #retryAt = 0;
  #backoffMs = MIN_BACKOFF_MS;
  #lastUsed = 0;
  #closed = false;
  /** The host the connection now goes to. */
  #host: string | null = null;
  /** Hosts set aside, until when (the link's clock); maybe shared with other links. */
  readonly #aside: Map<string, number>;

  /** Makes the link; it connects on the first request. */
  constructor(options: DaemonLinkOptions) {
    this.#options = options;
    this.#aside = options.aside ?? new Map();
    this.#name = options.name ?? "daemon";
    this.#now = options.now ?? (() => performance.now());
    this.address = options.hosts.map((host) => formatAddress(host, options.port)).join(", ");
  }

  /** {@inheritDoc DaemonClient.request} */
  async request<O extends Op = "PEDIDO">(
    body: DaemonRequest<O>,
    options: { signal?: AbortSignal } = {},
  ): Promise<ReplyOf<O>> {
    const op = typeof body.op === "string" ? body.op.toUpperCase() : "PEDIDO";
    const maxBytes = this.#options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    const bytes = requestBytes(body);
    if (bytes > maxBytes) {
      // The daemon would answer the same, then close the connection under
      // every other request in flight on it.
      this.#options.logger.info("web.request_too_large", {
        link: this.#name,
        op,
        bytes,
        max: maxBytes,
      });
      return tooLargeReply(bytes, maxBytes);
    }
    const retriable = SAFE_TO_RETRY.has(op) || (op === "PEDIDO" && hasClave(body));
    const idleMs = this.#now() - this.#lastUsed;
    if (!retriable && this.#client !== null && idleMs > (this.#options.checkIdleMs ?? 5000)) {
      // A stale connection (the daemon restarted) is found out by a PING, not by this request.
      try {
        await this.#send({ op: "PING" }, options.signal, { probe: true });
      } catch (error) {
        // No answer in time (the daemon paused, or stuck), and no other host to send it to:
        // waiting for the request too would double the wait, and nothing has been done yet.
        const elsewhere = this.#client === null && this.#options.hosts.length > 1;
        if (error instanceof ClientError && error.code === "timeout" && !elsewhere) throw error;
      }
    }
    // Sent again at most once per host (once with one host): after a refusal
    // that says it was not done (§3), or a connection lost under a request
    // that may be repeated.
    for (let again = Math.max(1, this.#options.hosts.length);; again--) {
      let reply: ReplyOf<O>;
      try {
        reply = await this.#send(body, options.signal);
      } catch (error) {
        // Lost with its connection, or not answered in time (that host is set
        // aside then): a request that may be repeated goes on, to another host.
        const code = error instanceof ClientError ? error.code : null;
        const elsewhere = code === "timeout" && this.#options.hosts.length > 1;
        if (!retriable || !(code === "connection_closed" || elsewhere) || again === 0) throw error;
        continue;
      }
      if (reply.ok || !CLOSING_CODES.has(reply.error)) return reply;
      // Not done there (§3): on another host, when there is one.
      if (GO_ELSEWHERE.has(reply.error) && again > 0 && this.#setAside()) continue;
      // The daemon closes the connection after that reply (`too_large` too:
      // a daemon whose limit is below the link's): the next request opens a
      // new one, rather than finding this one closed (and a request that must
      // not be repeated failing as if the daemon were down).
      this.#dropConnection();
      return reply;
    }
  }

  /** {@inheritDoc DaemonClient.close} */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client ?? await this.#connecting?.catch(() => null);
    this.#client = null;
    await client?.close();
  }

  /**
   * Sends `body` on the connection (opened first when there is none). With
   * `probe`, the PING that checks an idle connection: its connection found
   * closed is the stale one it looks for (a daemon's idle close, a restart),
   * dropped quietly, its host not set aside.
   */
  async #send<O extends Op>(
    body: DaemonRequest<O>,
    signal?: AbortSignal,
    { probe = false } = {},
  ): Promise<ReplyOf<O>> {
    const client = await this.#connection();
    const timeout = AbortSignal.timeout(this.#options.timeoutMs ?? 15_000);
    try {
      const reply = await client.request(body, {
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      this.#lastUsed = this.#now();
      // The wire boundary: PedidosClient checks that a reply is an object with
      // a boolean `ok`; that it is the reply of this operation is the protocol's
      // promise (replies come back in request order). The one cast of replies.
      return reply as ReplyOf<O>;
    } catch (error) {
      if (timeout.aborted && !signal?.aborted) {
        // Paused, or stuck: the next request goes to another host, if there is one.
        if (this.#client === client) this.#setAside();
        throw new ClientError(
          "timeout",
          `No reply from the daemon within ${this.#options.timeoutMs ?? 15_000} ms`,
          { cause: error },
        );
      }
      if (error instanceof ClientError && this.#client === client) {
        if (probe && error.code === "connection_closed") {
          this.#options.logger.info("web.daemon_closed_idle", { link: this.#name });
          this.#dropConnection();
        } else {
          this.#lost(error);
        }
      }
      throw error;
    }
  }

  /**
   * The connection ended (the daemon stopping, restarted or gone): the next
   * request opens another, on another host first when there are several.
   */
  #lost(error: Error): void {
    this.#options.logger.warn("web.daemon_lost", { link: this.#name, error: error.message });
    if (!this.#setAside()) this.#dropConnection();
  }

  /** Whether the host of the connection now is set aside while another host is not. */
  #hostSetAside(): boolean {
    if (this.#host === null) return false;
    const now = this.#now();
    const aside = (host: string) => (this.#aside.get(host) ?? 0) > now;
    return aside(this.#host) && this.#options.hosts.some((host) => !aside(host));
  }

  /** Closes the connection now; the next request opens another (its host chosen afresh). */
  #dropConnection(): void {
    const client = this.#client;
    this.#client = null;
    this.#host = null;
    client?.close().catch(() => {});
  }

  /**
   * Sets the host of the connection now aside, and drops the connection,
   * when another host could be tried instead.
   *
   * @returns Whether another host will be tried.
   */
  #setAside(): boolean {
    if (this.#options.hosts.length < 2 || this.#host === null) return false;
    this.#aside.set(this.#host, this.#now() + SET_ASIDE_MS);
    this.#options.logger.warn("web.daemon_set_aside", {
      link: this.#name,
      daemon: formatAddress(this.#host, this.#options.port),
    });
    this.#dropConnection();
    return true;
  }

  /** Connects to the first host that answers: those set aside last. */
  async #connectFirst(): Promise<PedidosClient> {
    const { hosts, port, connectTimeoutMs = 2000 } = this.#options;
    const connect = this.#options.connect ?? PedidosClient.connectAny;
    const now = this.#now();
    const until = (host: string) => this.#aside.get(host) ?? 0;
    const aside = (host: string) => until(host) > now;
    // Those set aside last, the one set aside longest ago first: with every
    // host aside, the one that refused just now is not tried again first.
    const ordered = [
      ...hosts.filter((h) => !aside(h)),
      ...hosts.filter(aside).sort((a, b) => until(a) - until(b)),
    ];
    const { value, index } = await firstToConnect(
      ordered,
      (host) => connect([host], port, { connectTimeoutMs, maxReplyBytes: GATEWAY_MAX_REPLY_BYTES }),
    );
    this.#host = ordered[index]!;
    return value;
  }

  #connection(): Promise<PedidosClient> {
    if (this.#closed) {
      return Promise.reject(new ClientError("connection_closed", "The gateway is stopping"));
    }
    if (this.#client?.closed) {
      // Closed while idle (a daemon that stops closes its idle connections,
      // and so does one past its --idle-timeout-ms): nothing is sent on it, so
      // any request may go on a new one. Not set aside: a daemon that is
      // stopping says so to the new connection (shutting_down), which does.
      this.#options.logger.info("web.daemon_closed_idle", { link: this.#name });
      this.#dropConnection();
    }
    if (this.#client !== null && this.#client.pending === 0 && this.#hostSetAside()) {
      // Another connection of the gateway found this host stopping, gone or
      // paused: go to one it did not, rather than find out with a wait of our own.
      this.#dropConnection();
    }
    if (this.#client !== null) return Promise.resolve(this.#client);
    if (this.#connecting !== null) return this.#connecting;
    if (this.#lastError !== null && this.#now() < this.#retryAt) {
      return Promise.reject(this.#lastError);
    }
    this.#connecting = this.#connectFirst().then(
      (client) => {
        this.#connecting = null;
        if (this.#closed) {
          client.close().catch(() => {});
          throw new ClientError("connection_closed", "The gateway is stopping");
        }
        this.#client = client;
        this.#lastError = null;
        this.#backoffMs = MIN_BACKOFF_MS;
        this.#lastUsed = this.#now();
        this.#options.logger.info("web.daemon_connected", {
          link: this.#name,
          daemon: this.address,
        });
        return client;
      },
      (error: unknown) => {
        this.#connecting = null;
        const failure = error instanceof ClientError
          ? error
          : new ClientError("connect_failed", String(error), { cause: error });
        if (this.#lastError === null) {
          this.#options.logger.warn("web.daemon_unreachable", {
            link: this.#name,
            error: failure.message,
          });
        }
        this.#lastError = failure;
        this.#retryAt = this.#now() + this.#backoffMs;
        this.#backoffMs = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2);
        throw failure;
      },
    );
    return this.#connecting;
  }
}

/** Whether an order has its `clave`, bare or in its `data` envelope (as the gateway sends it). */
function hasClave(body: Record<string, unknown>): boolean {
  const data = body.data;
  const inData = typeof data === "object" && data !== null &&
    typeof (data as Record<string, unknown>).clave === "string";
  return typeof body.clave === "string" || inData;
}
