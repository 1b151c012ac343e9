/**
 * Wire types: the requests the daemon understands and the order object of
 * PROTOCOL.md §5. Pure types, no I/O.
 *
 * @module
 */

/** The states of an order's lifecycle (§4). */
export type Estado = "pendiente" | "en proceso" | "listo" | "error";

/** Every state, in lifecycle order. */
export const ESTADOS: readonly Estado[] = ["pendiente", "en proceso", "listo", "error"];

/** One item of `productos`, after validation (strings trimmed, `cantidad` filled in). */
export type Producto = string | { nombre: string; cantidad: number };

/** A validated order, ready to store. */
export interface NewOrder {
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
}

/** A parsed, validated request. */
export type Request =
  | { op: "PEDIDO"; order: NewOrder }
  | { op: "ESTADO"; id: number; esperar: boolean; timeoutMs: number }
  | { op: "LISTAR"; filter: ListFilter }
  | { op: "STATS" }
  | { op: "TASK"; task: TaskSpec }
  | { op: "PING" };

/** Any reply object; `ok` says which kind. */
export type Reply = { ok: boolean; [field: string]: unknown };
