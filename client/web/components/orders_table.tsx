/**
 * The recent orders as a table: the live part of Pedidos, re-rendered on
 * every snapshot of its feed. Each row shows the processor's `resultado`
 * (or the error's reason), a Cancelar button on a `pendiente` order, a
 * Reintentar button on an `error` one, and what became of the last such
 * action.
 *
 * @module
 */

import type { Pedido, Producto } from "../../../server/protocol/messages.ts";
import type { ActionNote } from "../live/action_notes.ts";
import { EstadoBadge } from "./estado_badge.tsx";
import { ReceivedTime } from "./received_time.tsx";
import { cutText, isolate } from "../user_text.ts";

/** Props of {@linkcode OrdersTable}. */
export interface OrdersTableProps {
  /** The orders, newest first, or null when they could not be read. */
  pedidos: Pedido[] | null;
  /** The clock, ms since the epoch: how long an order in process has run. */
  now: number;
  /**
   * The session's CSRF token for the action forms; null in the live
   * snapshots, which every watcher shares (the page's script fills it in).
   */
  csrf: string | null;
  /** What became of the last action asked of an order, by id. */
  notas?: ReadonlyMap<number, ActionNote>;
}

/** The longest `resultado` shown in a row, in characters (the cell's title has more). */
const SHOWN_RESULT = 40;
const TITLE_RESULT = 500;

/**
 * The products, each name isolated (`<bdi>`): a name with a right-to-left
 * override (U+202E) cannot reverse the quantities and commas after it.
 */
function Productos(props: { productos: Producto[] }) {
  return (
    <>
      {props.productos.map((item, i) => (
        <>
          {i > 0 && ", "}
          <bdi>{typeof item === "string" ? item : item.nombre}</bdi>
          {typeof item !== "string" && item.cantidad !== 1 && ` ×${item.cantidad}`}
        </>
      ))}
    </>
  );
}

function duration(pedido: Pedido, now: number): string {
  if (pedido.duracion_ms !== null) return `${(pedido.duracion_ms / 1000).toFixed(2)} s`;
  if (pedido.estado === "en proceso" && pedido.fecha_inicio !== null) {
    return `${((now - Date.parse(pedido.fecha_inicio)) / 1000).toFixed(1)} s…`;
  }
  return "—";
}

/** The processor's result as compact JSON, or the error's reason. */
function Outcome(props: { pedido: Pedido }) {
  const { pedido } = props;
  if (pedido.estado === "error" && pedido.detalle_error) {
    return (
      <bdi class="detalle" title={isolate(cutText(pedido.detalle_error, TITLE_RESULT))}>
        {cutText(pedido.detalle_error, SHOWN_RESULT)}
      </bdi>
    );
  }
  if (pedido.resultado === null || pedido.resultado === undefined) return <>—</>;
  const json = JSON.stringify(pedido.resultado);
  return (
    <bdi>
      <code title={isolate(cutText(json, TITLE_RESULT))}>{cutText(json, SHOWN_RESULT)}</code>
    </bdi>
  );
}

/** The note of an order, unless the order has moved on to a state it does not speak of. */
function current(nota: ActionNote | undefined, pedido: Pedido): ActionNote | undefined {
  return nota?.estados === undefined || nota.estados.includes(pedido.estado) ? nota : undefined;
}

/** The action a row offers (cancel a waiting order, retry a failed one), and the last one's note. */
function Actions(props: { pedido: Pedido; csrf: string | null; nota: ActionNote | undefined }) {
  const { pedido, csrf, nota } = props;
  const action = pedido.estado === "pendiente"
    ? { path: "cancelar", label: "Cancelar" }
    : pedido.estado === "error"
    ? { path: "reintentar", label: "Reintentar" }
    : null;
  return (
    <>
      {action && (
        <form method="post" action={`/pedidos/${pedido.id}/${action.path}`} class="accion">
          {csrf === null
            ? <input type="hidden" name="_csrf" data-csrf />
            : <input type="hidden" name="_csrf" value={csrf} />}
          <button type="submit" class={`small ${action.path}`}>{action.label}</button>
        </form>
      )}
      {nota && <small class={`nota ${nota.kind}`} role="status">{nota.text}</small>}
    </>
  );
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
            <th class="opt">Resultado</th>
          </tr>
        </thead>
        <tbody>
          {pedidos.map((p) => (
            <tr data-id={p.id} data-estado={p.estado}>
              <td>{p.id}</td>
              <td class="cliente">
                <bdi>{p.cliente}</bdi>
              </td>
              <td class="opt">
                <Productos productos={p.productos} />
              </td>
              <td class="estado-acciones">
                <EstadoBadge estado={p.estado} />
                <Actions pedido={p} csrf={props.csrf} nota={current(props.notas?.get(p.id), p)} />
              </td>
              <td class="opt">{p.worker ?? "—"}</td>
              <td class="opt">
                <ReceivedTime iso={p.fecha_recibido} now={props.now} />
              </td>
              <td>{duration(p, props.now)}</td>
              <td class="opt resultado">
                <Outcome pedido={p} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
