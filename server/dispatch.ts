/**
 * Routes requests to the services that answer them. A request's text is
 * first parsed ({@linkcode Dispatcher.parse}: bad input is answered at once),
 * then run ({@linkcode Dispatcher.run}); the connection decides when, so
 * that effects keep request order (§8). Every failure becomes the reply of
 * its protocol code; nothing throws out.
 *
 * @module
 */

import type { AccountService } from "./accounts/account_service.ts";
import { renderTareasHtml } from "./accounts/tareas_html.ts";
import type { Logger } from "./log.ts";
import type { OrderService } from "./orders/order_service.ts";
import { errorReply, failureMessage, MESSAGES, ProtocolError } from "./protocol/errors.ts";
import type { Request, Secret } from "./protocol/messages.ts";
import { type Reply, type Stats, statsInOrder, type TareasHtmlReply } from "./protocol/replies.ts";
import type { ReplyStream } from "./protocol/reply_stream.ts";
import { mayBeJson, parseRequest } from "./protocol/parse_request.ts";
import { StoreUnavailableError } from "./store/store_unavailable_error.ts";

/** The part of {@linkcode OrderService} the dispatcher calls (tests may pass a fake). */
export type OrderOperations = Pick<
  OrderService,
  | "countReceived"
  | "submit"
  | "status"
  | "list"
  | "stats"
  | "settleEnds"
  | "clusterStats"
  | "runTask"
  | "cancel"
  | "retry"
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

/** What a request runs with. */
export interface RunContext {
  /** Aborted when the client stops sending or its connection closes: waits end. */
  signal?: AbortSignal;
  /** The client's connection (any object that identifies it), for per-connection limits. */
  connection?: object;
  /** The client's address, for logs (e.g. a failed sign-in). */
  readonly peer?: string;
  /**
   * A wait's turn: resolves once every request before it on its connection
   * is answered, so that a wait that timed out first reads its order again
   * then (§8: as if it had been sent after the previous reply).
   */
  turn?: () => Promise<void>;
}

/** Parses and runs the requests of every connection. */
export interface Dispatcher {
  /** A request to run, or the reply to text that is not one. */
  parse(text: string): Request | Reply;
  /**
   * Runs a parsed request. A reply too long to hold at once (LISTAR of many
   * large orders) comes as a {@linkcode ReplyStream}.
   */
  run(request: Request, context?: RunContext): Reply | Promise<Reply | ReplyStream>;
  /**
   * The reply to a request the daemon no longer runs because it is stopping
   * (`shutting_down`); a PEDIDO is counted as received all the same (§8).
   */
  refuseStopping(request: Request): Reply;
  /** STATS now. */
  stats(): Stats;
}

/** Builds the dispatcher of every connection. */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { orders, accounts, logger } = deps;

  /** The reply of `work`, a request of `op`; errors as protocol errors whose `mensaje` fits `op`. */
  async function guard(
    op: string,
    work: Promise<Reply | ReplyStream>,
  ): Promise<Reply | ReplyStream> {
    try {
      return await work;
    } catch (error) {
      if (error instanceof ProtocolError) {
        const reply = error.toReply();
        // The generic wording ("nothing was accepted") is an order's; say what this request lost.
        if (
          (error.code === "unavailable" || error.code === "internal") &&
          reply.mensaje === MESSAGES[error.code]
        ) {
          const unknown = error.cause instanceof StoreUnavailableError &&
            error.cause.outcomeUnknown;
          return { ...reply, mensaje: failureMessage(error.code, op, unknown) };
        }
        return reply;
      }
      if (error instanceof StoreUnavailableError) {
        return errorReply("unavailable", failureMessage("unavailable", op, error.outcomeUnknown));
      }
      logger.error("request.internal_error", { error: String(error) });
      return errorReply("internal", failureMessage("internal", op));
    }
  }

  function stats(): Stats {
    return {
      ...orders.stats(),
      conexiones: deps.connections(),
      uptime_s: Math.floor((performance.now() - deps.startedAt) / 1000),
    };
  }

  /**
   * The account of a request's session token: `owner` of new orders, and
   * the `scope` of reads and changes (undefined for an `operador`: every order).
   *
   * @throws {ProtocolError} `unauthorized`.
   */
  async function sessionOf(token: Secret): Promise<{ owner: number; scope: number | undefined }> {
    if (!accounts) {
      throw new ProtocolError(
        "unauthorized",
        "❌ Este servidor no tiene cuentas: envíe la solicitud sin token.",
        { campo: "token" },
      );
    }
    const { usuarioId, rol } = await accounts.authenticate(token);
    return { owner: usuarioId, scope: rol === "operador" ? undefined : usuarioId };
  }

  async function tareasHtml(accounts: AccountOperations, token: Secret): Promise<TareasHtmlReply> {
    const { usuario } = await accounts.authenticate(token);
    return { ok: true, html: renderTareasHtml({ usuario, workers: orders.stats().workers }) };
  }

  return {
    parse(text: string): Request | Reply {
      if (!mayBeJson(text)) return errorReply("invalid_json");
      try {
        return parseRequest(text);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        if (error.op === "PEDIDO") orders.countReceived();
        return error.toReply();
      }
    },

    refuseStopping(request: Request): Reply {
      if (request.op === "PEDIDO") orders.countReceived();
      return errorReply("shutting_down");
    },

    run(request: Request, context: RunContext = {}): Reply | Promise<Reply | ReplyStream> {
      switch (request.op) {
        case "PING":
          return { ok: true, pong: true };
        case "PEDIDO": {
          orders.countReceived();
          const { order, token } = request;
          if (token === undefined) return guard(request.op, orders.submit(order));
          return guard(
            request.op,
            sessionOf(token).then(({ owner }) => orders.submit(order, owner)),
          );
        }
        case "ESTADO": {
          const status = (owner?: number) =>
            orders.status(request.id, {
              esperar: request.esperar,
              timeoutMs: request.timeoutMs,
              ...(context.signal ? { signal: context.signal } : {}),
              ...(context.connection ? { client: context.connection } : {}),
              ...(context.turn ? { turn: context.turn } : {}),
              ...(owner === undefined ? {} : { owner }),
            });
          if (request.token === undefined) return guard(request.op, status());
          return guard(request.op, sessionOf(request.token).then(({ scope }) => status(scope)));
        }
        case "LISTAR": {
          const { filter, token } = request;
          if (token === undefined) return guard(request.op, orders.list(filter));
          return guard(
            request.op,
            sessionOf(token).then(({ scope }) =>
              orders.list(scope === undefined ? filter : { ...filter, usuarioId: scope })
            ),
          );
        }
        case "STATS": {
          // On a shared store (§9) the cluster's counts are read from the database.
          const cluster = orders.clusterStats?.();
          if (!cluster) {
            // The intake as of now: requests parsed while ends settle came after
            // this one (§8), and an invalid order is counted as it is parsed.
            // `aceptados` and `rechazados` with it, so that no order refused
            // meanwhile (another connection's) is counted refused and not received.
            const { recibidos, aceptados, rechazados } = orders.stats();
            return orders.settleEnds().then(() => ({
              ok: true,
              stats: statsInOrder({ ...stats(), recibidos, aceptados, rechazados }),
            }));
          }
          return guard(
            request.op,
            cluster.then((counts) => ({
              ok: true,
              stats: statsInOrder({ ...stats(), ...counts }),
            })),
          );
        }
        case "TASK":
          return guard(request.op, orders.runTask(request.task));
        case "CANCELAR":
        case "REINTENTAR": {
          const { id, token } = request;
          const change = (owner?: number) =>
            request.op === "CANCELAR" ? orders.cancel(id, owner) : orders.retry(id, owner);
          if (token === undefined) return guard(request.op, change());
          return guard(request.op, sessionOf(token).then(({ scope }) => change(scope)));
        }
        case "REGISTRO":
          return accounts
            ? guard(request.op, accounts.register(request.credentials))
            : noAccounts(request.op);
        case "LOGIN":
          return accounts
            ? guard(request.op, accounts.login(request.credentials, { peer: context?.peer }))
            : noAccounts(request.op);
        case "GET_TAREAS_HTML":
          return accounts
            ? guard(request.op, tareasHtml(accounts, request.token))
            : noAccounts(request.op);
      }
    },

    stats,
  };
}

/** Whether `parse` gave a reply (bad input) rather than a request. */
export function isReply(parsed: Request | Reply): parsed is Reply {
  return "ok" in parsed;
}

function noAccounts(op: string): Reply {
  return new ProtocolError("unknown_op", `❌ Operación no disponible en este servidor: ${op}.`, {
    campo: "op",
  }).toReply();
}
