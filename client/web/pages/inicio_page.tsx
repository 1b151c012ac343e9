/**
 * Inicio (`/`): the daemon's own GET_TAREAS_HTML fragment, and the way on.
 *
 * @module
 */

import { raw } from "hono/html";

/** Props of {@linkcode InicioPage}. */
export interface InicioPageProps {
  /** The daemon's fragment (it escapes what it places), or null when it could not be read. */
  fragment: string | null;
  /** Whether the user is an operator, who alone may open the Panel (its tile is theirs only). */
  operador: boolean;
}

/** The fragment, then a tile per page the user may open. */
export function InicioPage(props: InicioPageProps) {
  return (
    <>
      <h1>Inicio</h1>
      {props.fragment !== null && <section class="card">{raw(props.fragment)}</section>}
      <section class="tiles">
        <a class="tile" href="/tareas">
          <strong>Tareas</strong>
          <span>sum, upper y lower en el pool de workers</span>
        </a>
        <a class="tile" href="/pedidos">
          <strong>Pedidos</strong>
          <span>haga un pedido y véalo avanzar en vivo</span>
        </a>
        {props.operador && (
          <a class="tile" href="/panel">
            <strong>Panel</strong>
            <span>contadores y línea de tiempo de los workers</span>
          </a>
        )}
      </section>
    </>
  );
}
