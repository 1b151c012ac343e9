/**
 * Rows of the PostgreSQL tables as the driver gives them, and the orders
 * and accounts they are.
 *
 * @module
 */

import type { Estado, Pedido, Producto } from "../../protocol/messages.ts";
import type { Rol, Sesion, Usuario } from "../store.ts";

/** A row of `pedidos` as selected with {@linkcode PEDIDO_COLUMNS}. */
export interface PedidoRow {
  id: number;
  clave: string | null;
  cliente: string;
  productos: Producto[];
  direccion: string;
  estado: Estado;
  fecha_recibido: Date;
  fecha_inicio: Date | null;
  fecha_fin: Date | null;
  worker: number | null;
  intentos: number;
  detalle_error: string | null;
  resultado: unknown;
}

/** The columns of an order, for `SELECT` and `RETURNING`. */
export const PEDIDO_COLUMNS = "id, clave, cliente, productos, direccion, estado, fecha_recibido, " +
  "fecha_inicio, fecha_fin, worker, intentos, detalle_error, resultado";

/** The same columns qualified by the alias `p`. */
export const P_COLUMNS = PEDIDO_COLUMNS.split(", ").map((c) => `p.${c}`).join(", ");

function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

/** The order a row is (§5), with `duracion_ms`. */
export function toPedido(row: PedidoRow): Pedido {
  const inicio = iso(row.fecha_inicio);
  const fin = iso(row.fecha_fin);
  return {
    id: row.id,
    clave: row.clave,
    cliente: row.cliente,
    productos: row.productos,
    direccion: row.direccion,
    estado: row.estado,
    fecha_recibido: row.fecha_recibido.toISOString(),
    fecha_inicio: inicio,
    fecha_fin: fin,
    worker: row.worker,
    intentos: row.intentos,
    detalle_error: row.detalle_error,
    resultado: row.resultado ?? null,
    duracion_ms: row.fecha_inicio !== null && row.fecha_fin !== null
      ? row.fecha_fin.getTime() - row.fecha_inicio.getTime()
      : null,
  };
}

/** A row of `usuarios`. */
export interface UsuarioRow {
  id: number;
  usuario: string;
  hash: string;
  creado: Date;
  rol: Rol;
}

/** The account a row is. */
export function toUsuario(row: UsuarioRow): Usuario {
  return {
    id: row.id,
    usuario: row.usuario,
    hash: row.hash,
    creado: row.creado.toISOString(),
    rol: row.rol,
  };
}

/** A session joined with its account. */
export interface SesionRow {
  usuario_id: number;
  usuario: string;
  expira: Date;
  rol: Rol;
}

/** The session a row is. */
export function toSesion(row: SesionRow): Sesion {
  return {
    usuarioId: row.usuario_id,
    usuario: row.usuario,
    expira: row.expira.toISOString(),
    rol: row.rol,
  };
}

/** The ASCII-lower-case of a name, as the unique index of `usuarios` compares names. */
export const USUARIO_KEY =
  "translate(usuario, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')";
