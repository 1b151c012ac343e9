/**
 * Wire types: the requests the daemon understands and the order object of
 * docs/protocol.md §5. Pure types and values, no I/O.
 *
 * @module
 */

/** The states of an order's lifecycle (§4). */
export type Estado = "pendiente" | "en proceso" | "listo" | "error" | "cancelado";

/** Every state, in lifecycle order. */
export const ESTADOS: readonly Estado[] = [
  "pendiente",
  "en proceso",
  "listo",
  "error",
  "cancelado",
];

/** One item of `productos`, after validation (strings trimmed, `cantidad` filled in). */
export type Producto = string | { nombre: string; cantidad: number };

/** A validated order, ready to store. */
export interface PedidoNuevo {
  cliente: string;
  productos: Producto[];
  direccion: string;
  clave: string | null;
}

/** The order object of replies (§5): the stored row plus `duracion_ms`. */
export interface Pedido {
  id: number;
  clave: string | null;
  cliente: string;
  productos: Producto[];
  direccion: string;
  estado: Estado;
  fecha_recibido: string;
  fecha_inicio: string | null;
  fecha_fin: string | null;
  worker: number | null;
  intentos: number;
  detalle_error: string | null;
  /** The processor module's JSON result (§11), or null. */
  resultado: unknown;
  duracion_ms: number | null;
}

/** A small task run on the worker pool (§2.5). */
export type TaskSpec =
  | { name: "sum"; args: number[] }
  | { name: "upper"; s: string }
  | { name: "lower"; s: string };

/** LISTAR's filter (§2.3), with `limit` already clamped to 1..1000. */
export interface ListFilter {
  estado?: Estado;
  cliente?: string;
  limit: number;
  antesDe?: number;
  /** Only the orders this account placed (set by the daemon from a session token, never by clients). */
  usuarioId?: number;
}

/**
 * A secret (a password, a session token) that hides itself: printing,
 * logging, `String()` or `JSON.stringify()` show `[oculto]`, never the value.
 * Only {@linkcode Secret.reveal} gives it, at the one place that needs it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The value itself. */
  reveal(): string {
    return this.#value;
  }

  /** `[oculto]`. */
  toString(): string {
    return "[oculto]";
  }

  /** `"[oculto]"` in JSON. */
  toJSON(): string {
    return "[oculto]";
  }

  /** `[oculto]` in `console.log` and `Deno.inspect`. */
  [Symbol.for("Deno.customInspect")](): string {
    return "[oculto]";
  }
}

/** The arguments of REGISTRO and LOGIN (§2.6), after validation. */
export interface Credentials {
  /** 3–64 characters of ASCII letters, digits, `.`, `_`, `-`. */
  usuario: string;
  /** 8–256 characters. */
  password: Secret;
}

/**
 * A parsed, validated request. The order operations may carry a session
 * `token` (a protocol extension, `docs/protocol.md` §2.10): the account it
 * names owns the new order, and only its own orders are seen or changed
 * (an `operador` sees every order). Without one, nothing is scoped.
 */
export type Request =
  | { op: "PEDIDO"; order: PedidoNuevo; token?: Secret }
  | { op: "ESTADO"; id: number; esperar: boolean; timeoutMs: number; token?: Secret }
  | { op: "LISTAR"; filter: ListFilter; token?: Secret }
  | { op: "STATS" }
  | { op: "TASK"; task: TaskSpec }
  | { op: "PING" }
  | { op: "REGISTRO"; credentials: Credentials }
  | { op: "LOGIN"; credentials: Credentials }
  | { op: "GET_TAREAS_HTML"; token: Secret }
  | { op: "CANCELAR"; id: number; token?: Secret }
  | { op: "REINTENTAR"; id: number; token?: Secret };
