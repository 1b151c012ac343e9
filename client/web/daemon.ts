/**
 * The gateway's way to the daemon: long-lived TCP connections, never one
 * per HTTP request, that reconnect by themselves when the daemon comes back.
 *
 * The daemon answers each connection's requests in order, and runs a
 * REGISTRO or LOGIN alone on its connection (§8), so a request that waits
 * (a TASK queued behind orders, a password being hashed) would hold up
 * every reply behind it. The gateway therefore keeps separate connections:
 * one for quick queries (STATS, LISTAR, ESTADO, GET_TAREAS_HTML, PING) that
 * the live pages poll, one for work (PEDIDO, TASK, CANCELAR, REINTENTAR),
 * and two for accounts (REGISTRO, LOGIN: the daemon hashes two passwords
 * at a time), each request going to the one with less waiting on it. A
 * flood of sign-ins therefore never delays an order or a task.
 *
 * @module
 */

import type { Op, ReplyOf } from "../../server/protocol/replies.ts";
import { DaemonLink, type DaemonLinkOptions } from "./daemon_link.ts";

export { DaemonLink, type DaemonLinkOptions } from "./daemon_link.ts";

/**
 * One request as sent on the wire: `op` names the operation (a bare order,
 * without `op`, is a PEDIDO, as in the protocol), the other fields are its
 * arguments.
 */
export type DaemonRequest<O extends Op = Op> = { op?: O; [field: string]: unknown };

/** What the gateway needs from the daemon; tests pass a fake. */
export interface DaemonClient {
  /**
   * Sends one request and resolves with the daemon's reply to it: the typed
   * reply of its operation, or an error reply (the daemon's refusals are
   * replies, not exceptions).
   *
   * @throws {ClientError} When the daemon cannot be reached or the connection is lost.
   */
  request<O extends Op = "PEDIDO">(
    body: DaemonRequest<O>,
    options?: { signal?: AbortSignal },
  ): Promise<ReplyOf<O>>;
  /** Where the daemon is, for people: `localhost:8888`. */
  readonly address: string;
  /** Closes the connections. Idempotent. */
  close(): Promise<void>;
}

/** Operations sent on the work connection. */
const WORK_OPS = new Set(["PEDIDO", "TASK", "CANCELAR", "REINTENTAR"]);
/** Operations sent on the account connections; everything else is a query. */
const ACCOUNT_OPS = new Set(["REGISTRO", "LOGIN"]);
/** Account connections: as many as the passwords the daemon hashes at once. */
const ACCOUNT_LINKS = 2;

/**
 * The gateway's daemon client: a query connection, a work connection and
 * two account connections, each opened when first needed (see the module docs).
 *
 * @example Usage
 * ```ts ignore
 * import { connectDaemon } from "./daemon.ts";
 * import { Logger } from "../../server/log.ts";
 * await using daemon = connectDaemon({ hosts: ["localhost"], port: 8888, logger: new Logger() });
 * console.log(await daemon.request({ op: "PING" }));
 * ```
 */
export function connectDaemon(options: DaemonLinkOptions): DaemonClient & AsyncDisposable {
  const queries = new DaemonLink({ ...options, name: "consultas" });
  const work = new DaemonLink({ ...options, name: "trabajo" });
  const accounts = Array.from({ length: ACCOUNT_LINKS }, (_, i) => ({
    link: new DaemonLink({ ...options, name: `cuentas-${i + 1}` }),
    waiting: 0,
  }));
  const close = async () => {
    await Promise.all([queries, work, ...accounts.map((a) => a.link)].map((link) => link.close()));
  };
  async function toAccounts<O extends Op>(
    body: DaemonRequest<O>,
    requestOptions?: { signal?: AbortSignal },
  ): Promise<ReplyOf<O>> {
    const least = accounts.reduce((a, b) => (b.waiting < a.waiting ? b : a));
    least.waiting++;
    try {
      return await least.link.request(body, requestOptions);
    } finally {
      least.waiting--;
    }
  }
  return {
    address: queries.address,
    request<O extends Op = "PEDIDO">(
      body: DaemonRequest<O>,
      requestOptions?: { signal?: AbortSignal },
    ): Promise<ReplyOf<O>> {
      const op = typeof body.op === "string" ? body.op.toUpperCase() : "PEDIDO";
      if (ACCOUNT_OPS.has(op)) return toAccounts(body, requestOptions);
      return (WORK_OPS.has(op) ? work : queries).request(body, requestOptions);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
