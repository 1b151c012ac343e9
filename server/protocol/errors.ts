/**
 * The one error type that crosses the wire, with the stable codes of
 * the protocol's §3 (`docs/protocol.md`).
 *
 * @module
 */

/** Every error code of the protocol. Programs match on these; they never change. */
export type ErrorCode =
  | "invalid_json"
  | "invalid_request"
  | "invalid_order"
  | "unknown_op"
  | "queue_full"
  | "not_found"
  | "not_cancellable"
  | "not_retryable"
  | "unavailable"
  | "unknown_task"
  | "invalid_task"
  | "user_exists"
  | "bad_credentials"
  | "invalid_user"
  | "unauthorized"
  | "too_large"
  | "busy"
  | "shutting_down"
  | "internal";

/** An example order, shown to people who type something that is not JSON. */
export const EXAMPLE_ORDER = '{"cliente":"Ana","productos":["pan","agua"],"direccion":"Calle 1"}';

/** The default `mensaje` of each code, in Spanish, for people. */
export const MESSAGES: Readonly<Record<ErrorCode, string>> = {
  invalid_json: `❌ JSON inválido. Envíe un objeto JSON por línea, por ejemplo: ${EXAMPLE_ORDER}`,
  invalid_request: "❌ Solicitud inválida.",
  invalid_order: "❌ Pedido inválido.",
  unknown_op:
    "❌ Operación desconocida. Use PEDIDO, ESTADO, LISTAR, STATS, TASK, PING, CANCELAR o REINTENTAR.",
  queue_full: "❌ Límite de pedidos alcanzado. Intente más tarde.",
  not_found: "❌ Pedido no encontrado.",
  not_cancellable: "❌ El pedido ya no se puede cancelar: solo se cancela un pedido pendiente.",
  not_retryable: "❌ El pedido no se puede reintentar: solo se reintenta un pedido en error.",
  unavailable: "❌ El almacén de pedidos no está disponible. Nada fue aceptado; reintente.",
  unknown_task: "❌ Tarea desconocida. Use sum, upper o lower.",
  invalid_task: "❌ Argumentos de tarea inválidos.",
  user_exists: "❌ El usuario ya existe.",
  bad_credentials: "❌ Usuario o contraseña incorrectos.",
  invalid_user: "❌ Usuario o contraseña inválidos.",
  unauthorized: "❌ Sesión inválida o vencida. Inicie sesión.",
  too_large: "❌ Solicitud demasiado grande.",
  busy: "❌ Servidor ocupado: demasiadas conexiones. Intente más tarde.",
  shutting_down: "❌ El servidor se está deteniendo. Intente más tarde.",
  internal: "❌ Error interno. El pedido no fue aceptado; reintente.",
};

/**
 * What did not happen when a request of `op` failed with `unavailable` or
 * `internal`, for the end of its `mensaje`: "nothing was accepted" is true
 * of an order, not of a read.
 */
const NOT_DONE: Readonly<Record<string, string>> = {
  PEDIDO: "Nada fue aceptado; reintente.",
  REINTENTAR: "No se reintentó el pedido; vuelva a enviar REINTENTAR.",
  CANCELAR: "No se canceló el pedido; vuelva a enviar CANCELAR.",
  REGISTRO: "No se registró el usuario; reintente.",
  LOGIN: "No se inició sesión; reintente.",
};

/**
 * What to do after a change whose commit went out while the connection
 * broke, when whether it was done could not be learned (§6: it may or may
 * not be stored).
 */
const NOT_KNOWN: Readonly<Record<string, string>> = {
  PEDIDO:
    "No se sabe si el pedido fue aceptado: reenvíelo con la misma clave (o búsquelo con LISTAR).",
  REINTENTAR: "No se sabe si se reintentó el pedido: consúltelo con ESTADO.",
  CANCELAR: "No se sabe si se canceló el pedido: consúltelo con ESTADO.",
};

/**
 * The `mensaje` of `unavailable` or `internal` for a request of `op`: the
 * code's cause and what did not happen (a read: "No se pudo leer"), or,
 * with `outcomeUnknown`, that it may have happened.
 */
export function failureMessage(
  code: "unavailable" | "internal",
  op: string,
  outcomeUnknown = false,
): string {
  const cause = code === "unavailable"
    ? "❌ El almacén de pedidos no está disponible."
    : "❌ Error interno.";
  const outcome = (outcomeUnknown ? NOT_KNOWN[op] : undefined) ?? NOT_DONE[op] ??
    (op === "TASK" ? "La tarea no se ejecutó; reintente." : "No se pudo leer; reintente.");
  return `${cause} ${outcome}`;
}

/** Codes after whose reply the daemon closes the connection (§3). */
export const CLOSING_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "too_large",
  "busy",
  "shutting_down",
]);

/** Options of {@linkcode ProtocolError}. */
export interface ProtocolErrorOptions {
  /** The request field at fault, sent as `campo`. */
  campo?: string;
  /** The underlying error. */
  cause?: unknown;
  /** More fields of the reply that help, e.g. the order as it is (`pedido`). */
  extra?: Record<string, unknown>;
  /** The request's `op`, when it is known (not sent: STATS counts refused PEDIDO requests). */
  op?: string;
}

/**
 * An error with a stable protocol code. Its wire form is
 * `{"ok":false,"error":code,"mensaje":message[,"campo":campo]}`.
 *
 * @example Usage
 * ```ts
 * import { ProtocolError } from "./errors.ts";
 * const e = new ProtocolError("invalid_order", "❌ Falta el cliente.", { campo: "cliente" });
 * console.log(e.toReply());
 * ```
 */
export class ProtocolError extends Error {
  /** The stable code. */
  readonly code: ErrorCode;
  /** The field at fault, if any. */
  readonly campo: string | undefined;
  /** More fields of the reply. */
  readonly extra: Record<string, unknown> | undefined;
  /** The request's `op`, when it is known; not part of the reply. */
  readonly op: string | undefined;

  /**
   * @param code The stable code.
   * @param message The `mensaje` for people; defaults to {@linkcode MESSAGES}.
   * @param options The field at fault and the cause.
   */
  constructor(code: ErrorCode, message?: string, options: ProtocolErrorOptions = {}) {
    super(message ?? MESSAGES[code], options.cause === undefined ? {} : { cause: options.cause });
    this.name = "ProtocolError";
    this.code = code;
    this.campo = options.campo;
    this.extra = options.extra;
    this.op = options.op;
  }

  /** The reply object sent on the wire. */
  toReply(): ErrorReply {
    // §3's shape first (`{"ok":false,"error":…,"mensaje":…`), then what this error adds.
    const reply: ErrorReply = { ok: false, error: this.code, mensaje: this.message };
    if (this.campo !== undefined) reply.campo = this.campo;
    for (const [key, value] of Object.entries(this.extra ?? {})) {
      if (!(key in reply)) (reply as Record<string, unknown>)[key] = value;
    }
    return reply;
  }
}

/** The wire form of every failure. */
export interface ErrorReply {
  ok: false;
  error: ErrorCode;
  mensaje: string;
  campo?: string;
  [extra: string]: unknown;
}

/**
 * Builds an error reply for `code` with its default message. (Made directly,
 * not through a {@linkcode ProtocolError}, whose stack costs a microsecond:
 * a flood of bad lines is answered with these.)
 */
export function errorReply(code: ErrorCode, message?: string): ErrorReply {
  return { ok: false, error: code, mensaje: message ?? MESSAGES[code] };
}
