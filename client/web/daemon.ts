/**
 * The gateway's way to the daemon: long-lived TCP connections, never one
 * per HTTP request, that reconnect by themselves when the daemon comes back.
 *
 * The daemon answers each connection's requests in order, so a request that
 * waits (a TASK queued behind orders, a LOGIN hashing) would hold up every
 * reply behind it. The gateway therefore keeps two connections: one for
 * quick queries (STATS, LISTAR, GET_TAREAS_HTML, PING) that the live pages
 * poll, and one for work (PEDIDO, TASK, REGISTRO, LOGIN).
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

/** Operations sent on the work connection; everything else is a query. */
const WORK_OPS = new Set(["PEDIDO", "TASK", "REGISTRO", "LOGIN"]);

/**
 * The gateway's daemon client: a query connection and a work connection
 * (see the module docs).
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
  const close = async () => {
    await Promise.all([queries.close(), work.close()]);
  };
  return {
    address: queries.address,
    request<O extends Op = "PEDIDO">(
      body: DaemonRequest<O>,
      requestOptions?: { signal?: AbortSignal },
    ): Promise<ReplyOf<O>> {
      const op = typeof body.op === "string" ? body.op.toUpperCase() : "PEDIDO";
      return (WORK_OPS.has(op) ? work : queries).request(body, requestOptions);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
