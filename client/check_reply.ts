/**
 * The shape of a reply, checked against the request it answers: a daemon
 * that answers `{"ok":true}` to a LISTAR, or an `id` that is not a number,
 * is a protocol error the client reports, never a value its callers trip
 * over (a CLI that prints a stack trace, a gateway that dies, terminal
 * escapes printed from a field meant to be a number). Pure, no I/O.
 *
 * @module
 */

import { ESTADOS } from "../server/protocol/messages.ts";
import {
  LISTAR_DEFAULT_LIMIT,
  LISTAR_MAX_LIMIT,
  opName,
} from "../server/protocol/parse_request.ts";
import type { Reply } from "../server/protocol/replies.ts";
import { ClientError } from "./client_error.ts";
import { isObject, STATS_SHOWN } from "./describe_reply.ts";

type Fields = Record<string, unknown>;

/**
 * The operation a request body asks for, as the daemon reads it: its `op`,
 * or `PEDIDO` for a bare order; null when it cannot be told.
 */
export function opOf(body: unknown): string | null {
  if (!isObject(body)) return null;
  if (!("op" in body) || body.op === null || body.op === undefined) return "PEDIDO";
  return typeof body.op === "string" ? opName(body.op) : null;
}

/** The order of `fields.pedido` (checked already) is the one `body` asks about, not another. */
function sameOrder(body: unknown, fields: Fields): void {
  const asked = idOf(body);
  const answered = (fields.pedido as Fields).id;
  if (asked !== null && answered !== asked) {
    throw new ClientError(
      "protocol",
      `Respuesta inválida del servidor: se preguntó por el pedido ${asked} y respondió por el ${answered}`,
    );
  }
}

/**
 * Field `name` of a request body as the daemon reads it (docs/protocol.md
 * §8): from `data` when given there (not null), else from the top level.
 */
export function fieldOf(body: unknown, name: string): unknown {
  if (!isObject(body)) return undefined;
  return (isObject(body.data) ? body.data[name] : undefined) ?? body[name];
}

/** The `id` a request body names, read as the daemon reads it; null if none. */
function idOf(body: unknown): number | null {
  const id = fieldOf(body, "id");
  return typeof id === "number" ? id : null;
}

/**
 * The most orders a LISTAR of `body` may answer (§2.3: `limit`, default 50,
 * at most 1000), its `limit` read as the daemon reads it: from `data` when
 * given there (docs/protocol.md §8), a `null` one as absent.
 */
function listLimit(body: unknown): number {
  const data = isObject(body) && isObject(body.data) ? body.data : undefined;
  const limit = data !== undefined && Object.hasOwn(data, "limit")
    ? data.limit
    : isObject(body)
    ? body.limit
    : undefined;
  return typeof limit === "number" && limit >= 1
    ? Math.min(limit, LISTAR_MAX_LIMIT)
    : LISTAR_DEFAULT_LIMIT;
}

/**
 * Checks that `reply` has the shape of an answer to the request `body`
 * (docs/protocol.md §2–§3): for each operation the fields the clients
 * read, with their types, and for LISTAR no more orders than asked for.
 * Unknown operations are checked for the shape every reply shares.
 *
 * @example Usage
 * ```ts
 * import { checkReply } from "./check_reply.ts";
 * checkReply({ op: "PING" }, { ok: true, pong: true }); // fine
 * try {
 *   checkReply({ op: "LISTAR" }, { ok: true } as never);
 * } catch (error) {
 *   console.log((error as Error).message); // … el campo "pedidos" …
 * }
 * ```
 * @param body The request as sent (an object; anything else is checked as an unknown operation).
 * @param reply The decoded reply (`ok` already known to be a boolean).
 * @returns `reply`, unchanged.
 * @throws {ClientError} `protocol`, naming the field that is wrong.
 */
export function checkReply(body: unknown, reply: Reply): Reply {
  const op = opOf(body);
  const fields = reply as unknown as Fields;
  if (!reply.ok) {
    need(typeof fields.error === "string", "error");
    need(fields.mensaje === undefined || typeof fields.mensaje === "string", "mensaje");
    if (fields.pedido !== undefined) {
      checkPedido(fields.pedido, "pedido");
      // A refusal that shows the order (not_cancellable, not_retryable) shows the one asked about.
      if (op === "ESTADO" || op === "CANCELAR" || op === "REINTENTAR") sameOrder(body, fields);
    }
    return reply;
  }
  switch (op) {
    case "PEDIDO":
      need(isId(fields.id), "id");
      need(isEstado(fields.estado), "estado");
      break;
    case "ESTADO":
    case "CANCELAR":
    case "REINTENTAR": {
      checkPedido(fields.pedido, "pedido");
      sameOrder(body, fields);
      break;
    }
    case "LISTAR": {
      const pedidos = fields.pedidos;
      need(Array.isArray(pedidos), "pedidos");
      need((pedidos as unknown[]).length <= listLimit(body), "pedidos (más que el limit pedido)");
      (pedidos as unknown[]).forEach((pedido, i) => checkPedido(pedido, `pedidos[${i}]`));
      break;
    }
    case "STATS": {
      const stats = fields.stats;
      need(isObject(stats), "stats");
      // A counter may be missing (an older daemon, shown as "—"), never of another type.
      for (const [name, kind] of Object.entries(STATS_SHOWN)) {
        const value = (stats as Fields)[name];
        if (value === undefined) continue;
        if (kind !== "durations") {
          need(isCount(value), `stats.${name}`);
          continue;
        }
        need(isObject(value), `stats.${name}`);
        for (const [part, ms] of Object.entries(value as Fields)) {
          need(ms === null || Number.isFinite(ms), `stats.${name}.${part}`);
        }
      }
      break;
    }
    case "PING":
      need(fields.pong === true, "pong");
      break;
    case "TASK":
      need(typeof fields.result === "number" || typeof fields.result === "string", "result");
      break;
    case "REGISTRO":
      need(typeof fields.usuario === "string", "usuario");
      break;
    case "LOGIN":
      need(typeof fields.token === "string" && fields.token !== "", "token");
      need(
        typeof fields.expira === "string" && Number.isFinite(Date.parse(fields.expira)),
        "expira",
      );
      break;
    case "GET_TAREAS_HTML":
      need(typeof fields.html === "string", "html");
      break;
  }
  return reply;
}

function checkPedido(value: unknown, where: string): void {
  need(isObject(value), where);
  const pedido = value as Fields;
  need(isId(pedido.id), `${where}.id`);
  need(isEstado(pedido.estado), `${where}.estado`);
  need(typeof pedido.cliente === "string", `${where}.cliente`);
  need(typeof pedido.direccion === "string", `${where}.direccion`);
  need(Array.isArray(pedido.productos), `${where}.productos`);
  for (const [i, producto] of (pedido.productos as unknown[]).entries()) {
    need(
      typeof producto === "string" ||
        (isObject(producto) && typeof producto.nombre === "string" &&
          (producto.cantidad === undefined || Number.isSafeInteger(producto.cantidad))),
      `${where}.productos[${i}]`,
    );
  }
  need(typeof pedido.fecha_recibido === "string", `${where}.fecha_recibido`);
  for (const name of ["clave", "fecha_inicio", "fecha_fin", "detalle_error"]) {
    const field = pedido[name];
    need(field === undefined || field === null || typeof field === "string", `${where}.${name}`);
  }
  need(
    pedido.worker === undefined || pedido.worker === null || isCount(pedido.worker),
    `${where}.worker`,
  );
  need(pedido.intentos === undefined || isCount(pedido.intentos), `${where}.intentos`);
  need(
    pedido.duracion_ms === undefined || pedido.duracion_ms === null ||
      Number.isFinite(pedido.duracion_ms),
    `${where}.duracion_ms`,
  );
}

function need(ok: boolean, field: string): void {
  if (!ok) {
    throw new ClientError(
      "protocol",
      `Respuesta inválida del servidor: el campo "${field}" falta o no es del tipo esperado`,
    );
  }
}

function isId(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}

function isCount(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isEstado(value: unknown): boolean {
  return (ESTADOS as readonly unknown[]).includes(value);
}
