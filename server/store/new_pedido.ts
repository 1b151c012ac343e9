/**
 * The order a new row is: what every store answers for an insert without
 * reading the row back.
 *
 * @module
 */

import type { Pedido, PedidoNuevo } from "../protocol/messages.ts";

/**
 * The stored order of a new insert, as reading it back would give it.
 *
 * @param id The id the insert got.
 * @param pedido The order inserted.
 * @param receivedAt Its `fecha_recibido`.
 * @returns The stored order: `pendiente`, `intentos` 0, no attempt yet.
 *
 * @example Usage
 * ```ts
 * import { newPedido } from "./new_pedido.ts";
 * const nuevo = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null };
 * console.log(newPedido(7, nuevo, "2026-12-01T00:00:00.000Z").estado); // "pendiente"
 * ```
 */
export function newPedido(id: number, pedido: PedidoNuevo, receivedAt: string): Pedido {
  return {
    id,
    clave: pedido.clave,
    cliente: pedido.cliente,
    productos: pedido.productos,
    direccion: pedido.direccion,
    estado: "pendiente",
    fecha_recibido: receivedAt,
    fecha_inicio: null,
    fecha_fin: null,
    worker: null,
    intentos: 0,
    detalle_error: null,
    resultado: null,
    duracion_ms: null,
  };
}
