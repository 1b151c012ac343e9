/**
 * Routes one request's text to the operation that answers it. Every
 * failure becomes the reply of its protocol code; nothing throws out.
 *
 * @module
 */

import type { AccountService } from "./accounts.ts";
import type { RequestHandler } from "./connection.ts";
import type { Logger } from "./log.ts";
import type { OrderService } from "./order_service.ts";
import { errorReply, ProtocolError } from "./protocol/errors.ts";
import type { Reply, Request, Secret } from "./protocol/messages.ts";
import { parseRequest } from "./protocol/parse_request.ts";
import { renderTareasHtml } from "./tareas_html.ts";

/** The part of {@linkcode OrderService} the dispatcher calls (tests may pass a fake). */
export type OrderOperations = Pick<
  OrderService,
  "countReceived" | "submit" | "status" | "list" | "stats" | "runTask"
>;

/** The part of {@linkcode AccountService} the dispatcher calls. */
export type AccountOperations = Pick<AccountService, "register" | "login" | "authenticate">;

/** What the dispatcher needs. */
export interface DispatcherDeps {
  orders: OrderOperations;
  /**
   * REGISTRO, LOGIN and GET_TAREAS_HTML (§2.6). Without it they are answered
   * `unknown_op`, "not available on this server".
   */
  accounts?: AccountOperations;
  logger: Logger;
  /** Open connections now. */
  connections: () => number;
  /** `performance.now()` when the daemon started. */
  startedAt: number;
}

/** Builds the request handler of every connection. */
export function createDispatcher(deps: DispatcherDeps): RequestHandler {
  const { orders, accounts, logger } = deps;

  async function guard(work: Promise<Reply>): Promise<Reply> {
    try {
      return await work;
    } catch (error) {
      if (error instanceof ProtocolError) return error.toReply();
      logger.error("request.internal_error", { error: String(error) });
      return errorReply("internal");
    }
  }

  return function handle(text: string): Reply | Promise<Reply> {
    let request: Request;
    try {
      request = parseRequest(text);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      if (error.code === "invalid_order") orders.countReceived();
      return error.toReply();
    }
    switch (request.op) {
      case "PING":
        return { ok: true, pong: true };
      case "PEDIDO":
        orders.countReceived();
        return guard(orders.submit(request.order));
      case "ESTADO":
        return guard(
          orders.status(request.id, { esperar: request.esperar, timeoutMs: request.timeoutMs }),
        );
      case "LISTAR":
        return guard(orders.list(request.filter));
      case "STATS": {
        const s = orders.stats();
        return {
          ok: true,
          stats: {
            recibidos: s.recibidos,
            aceptados: s.aceptados,
            rechazados: s.rechazados,
            pendientes: s.pendientes,
            en_proceso: s.en_proceso,
            listos: s.listos,
            errores: s.errores,
            capacidad: s.capacidad,
            libres: s.libres,
            workers: s.workers,
            conexiones: deps.connections(),
            duracion_ms: s.duracion_ms,
            uptime_s: Math.floor((performance.now() - deps.startedAt) / 1000),
          },
        };
      }
      case "TASK":
        return guard(orders.runTask(request.task));
      case "REGISTRO":
        return accounts ? guard(accounts.register(request.credentials)) : noAccounts(request.op);
      case "LOGIN":
        return accounts ? guard(accounts.login(request.credentials)) : noAccounts(request.op);
      case "GET_TAREAS_HTML":
        return accounts ? guard(tareasHtml(accounts, request.token)) : noAccounts(request.op);
    }
  };

  async function tareasHtml(accounts: AccountOperations, token: Secret): Promise<Reply> {
    const { usuario } = await accounts.authenticate(token);
    return { ok: true, html: renderTareasHtml({ usuario, workers: orders.stats().workers }) };
  }
}

function noAccounts(op: string): Reply {
  return new ProtocolError("unknown_op", `❌ Operación no disponible en este servidor: ${op}.`, {
    campo: "op",
  }).toReply();
}
