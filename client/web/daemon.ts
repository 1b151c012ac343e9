/**
 * The gateway's way to the daemon: long-lived TCP connections, never one
 * per HTTP request, that reconnect by themselves when the daemon comes back.
 *
 * The daemon answers each connection's requests in order, and runs a
 * REGISTRO or LOGIN alone on its connection (§8), so a request that waits
 * (a TASK queued behind orders, a password being hashed) would hold up
 * every reply behind it. The gateway therefore keeps separate connections:
 * one for quick queries (STATS, LISTAR, ESTADO, GET_TAREAS_HTML, PING) that
 * the live pages poll, one for orders (PEDIDO, CANCELAR, REINTENTAR), a few
 * for tasks (a TASK waits for a worker, behind the orders queued before it,
 * and holds up what follows it on its connection), and two for accounts
 * (REGISTRO, LOGIN: the daemon hashes two passwords at a time); a task or an
 * account request goes to the connection of its kind with the least waiting
 * on it. A flood of sign-ins or of tasks therefore never delays an order.
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

/** Operations sent on the orders connection. */
const ORDER_OPS = new Set(["PEDIDO", "CANCELAR", "REINTENTAR"]);
/** Operations sent on the account connections; everything else is a query. */
const ACCOUNT_OPS = new Set(["REGISTRO", "LOGIN"]);
/** Account connections: as many as the passwords the daemon hashes at once. */
const ACCOUNT_LINKS = 2;
/** Task connections: tasks of different users wait for workers side by side. */
const TASK_LINKS = 4;

/**
 * The gateway's daemon client: a query connection, an orders connection,
 * task connections and account connections, each opened when first needed
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
export function connectDaemon(linkOptions: DaemonLinkOptions): DaemonClient & AsyncDisposable {
  // A host one connection found stopping, gone or paused is tried last by all.
  const options = { ...linkOptions, aside: linkOptions.aside ?? new Map<string, number>() };
  const queries = new DaemonLink({ ...options, name: "consultas" });
  const orders = new DaemonLink({ ...options, name: "pedidos" });
  const tasks = linkGroup(options, "tareas", TASK_LINKS);
  const accounts = linkGroup(options, "cuentas", ACCOUNT_LINKS);
  const close = async () => {
    const all = [queries, orders, ...tasks.links, ...accounts.links];
    await Promise.all(all.map((link) => link.close()));
  };
  return {
    address: queries.address,
    request<O extends Op = "PEDIDO">(
      body: DaemonRequest<O>,
      requestOptions?: { signal?: AbortSignal },
    ): Promise<ReplyOf<O>> {
      const op = typeof body.op === "string" ? body.op.toUpperCase() : "PEDIDO";
      if (ACCOUNT_OPS.has(op)) return accounts.request(body, requestOptions);
      if (op === "TASK") return tasks.request(body, requestOptions);
      return (ORDER_OPS.has(op) ? orders : queries).request(body, requestOptions);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * `count` connections named `name-1`, `name-2`…: each request goes to the
 * one with the fewest requests waiting on it.
 */
function linkGroup(options: DaemonLinkOptions, name: string, count: number) {
  const members = Array.from({ length: count }, (_, i) => ({
    link: new DaemonLink({ ...options, name: `${name}-${i + 1}` }),
    waiting: 0,
  }));
  return {
    links: members.map((member) => member.link),
    async request<O extends Op>(
      body: DaemonRequest<O>,
      requestOptions?: { signal?: AbortSignal },
    ): Promise<ReplyOf<O>> {
      const least = members.reduce((a, b) => (b.waiting < a.waiting ? b : a));
      least.waiting++;
      try {
        return await least.link.request(body, requestOptions);
      } finally {
        least.waiting--;
      }
    },
  };
}
