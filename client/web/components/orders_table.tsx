/**
 * The recent orders as a table: the live part of Pedidos, re-rendered on
 * every snapshot of its feed.
 *
 * @module
 */

import type { Pedido, Producto } from "../../../server/protocol/messages.ts";
import { EstadoBadge } from "./estado_badge.tsx";

/** Props of {@linkcode OrdersTable}. */
export interface OrdersTableProps {
  /** The orders, newest first, or null when they could not be read. */
  pedidos: Pedido[] | null;
  /** The clock, ms since the epoch: how long an order in process has run. */
  now: number;
}

function describeProductos(productos: Producto[]): string {
  return productos.map((item) =>
    typeof item === "string"
      ? item
      : item.cantidad === 1
      ? item.nombre
      : `${item.nombre} ×${item.cantidad}`
  ).join(", ");
}

function time(iso: string | null): string {
  if (iso === null) return "—";
  return new Date(iso).toLocaleTimeString("es", { hour12: false });
}

function duration(pedido: Pedido, now: number): string {
  if (pedido.duracion_ms !== null) return `${(pedido.duracion_ms / 1000).toFixed(2)} s`;
  if (pedido.estado === "en proceso" && pedido.fecha_inicio !== null) {
    return `${((now - Date.parse(pedido.fecha_inicio)) / 1000).toFixed(1)} s…`;
  }
  return "—";
}

/** The recent orders as a table, or a line saying there are none or they could not be read. */
export function OrdersTable(props: OrdersTableProps) {
  const { pedidos } = props;
  if (pedidos === null) return <p class="muted">No se pudieron leer los pedidos.</p>;
  if (pedidos.length === 0) return <p class="muted">Todavía no hay pedidos.</p>;
  return (
    <div class="table-wrap">
      <table class="orders">
        <thead>
          <tr>
            <th>#</th>
            <th>Cliente</th>
            <th class="opt">Productos</th>
            <th>Estado</th>
            <th class="opt">Worker</th>
            <th class="opt">Recibido</th>
            <th>Duración</th>
          </tr>
        </thead>
        <tbody>
          {pedidos.map((p) => (
            <tr data-id={p.id} data-estado={p.estado}>
              <td>{p.id}</td>
              <td class="cliente">{p.cliente}</td>
              <td class="opt">{describeProductos(p.productos)}</td>
              <td>
                <EstadoBadge estado={p.estado} />
              </td>
              <td class="opt">{p.worker ?? "—"}</td>
              <td class="opt">{time(p.fecha_recibido)}</td>
              <td>{duration(p, props.now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
