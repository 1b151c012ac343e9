/**
 * Pedidos (`/pedidos`): the order form, and the recent orders, live (the
 * live part is {@linkcode OrdersTable}, replaced from `/pedidos/eventos`).
 *
 * @module
 */

import type { Pedido } from "../../../server/protocol/messages.ts";
import type { ActionNote } from "../live/action_notes.ts";
import { CsrfField } from "../components/csrf_field.tsx";
import { FormError } from "../components/form_error.tsx";
import { OrdersTable } from "../components/orders_table.tsx";

/** The order form's values. */
export interface OrderForm {
  /** Who orders. */
  cliente: string;
  /** One product per line, `pan x2` for two. */
  productos: string;
  /** Where to. */
  direccion: string;
  /** The idempotency key of this form: sending it twice makes one order. */
  clave: string;
}

/** Props of {@linkcode PedidosPage}. */
export interface PedidosPageProps {
  /** The session's CSRF token. */
  csrf: string;
  /** What the form shows. */
  form: OrderForm;
  /** The daemon's refusal, in words. */
  error?: string | null;
  /** The field at fault. */
  campo?: string | null;
  /** The recent orders, or null when they could not be read. */
  pedidos: Pedido[] | null;
  /** The clock, ms since the epoch. */
  now: number;
  /** What became of the last CANCELAR / REINTENTAR asked of an order, by id. */
  notas?: ReadonlyMap<number, ActionNote>;
}

/** Place an order; the recent orders, live. */
export function PedidosPage(props: PedidosPageProps) {
  const { form } = props;
  const bad = (campo: string) => props.campo?.startsWith(campo) ? "true" : undefined;
  return (
    <>
      <h1>Pedidos</h1>
      <div class="grid wide-first">
        <section class="card">
          <h2>Nuevo pedido</h2>
          <FormError text={props.error} />
          {
            /*
             * autocomplete="off": Back to this page fetches it again (no-store), with a new
             * `clave`; a browser that refilled the typed fields around that new key would make
             * a second order of the same form. Not refilled, the form is visibly a new one.
             */
          }
          {
            /*
             * No maxlength: a browser counts it in UTF-16 units, so 101 emoji would hit a limit
             * of 200 the daemon (counting code points) accepts; the daemon judges, and a
             * refused form comes back with what was typed.
             */
          }
          <form method="post" action="/pedidos" class="stack" autocomplete="off">
            <CsrfField token={props.csrf} />
            <input type="hidden" name="clave" value={form.clave} />
            <label>
              Cliente
              <input
                name="cliente"
                value={form.cliente}
                required
                aria-invalid={bad("cliente")}
              />
            </label>
            <label>
              Productos
              <textarea name="productos" rows={3} required aria-invalid={bad("productos")}>
                {form.productos}
              </textarea>
              <small>Uno por línea; «pan x2» pide dos.</small>
            </label>
            <label>
              Dirección
              <input
                name="direccion"
                value={form.direccion}
                required
                aria-invalid={bad("direccion")}
              />
            </label>
            <button type="submit">Enviar pedido</button>
          </form>
        </section>
        <section class="card">
          <h2>
            Pedidos recientes <span class="live" data-live-status>●</span>
          </h2>
          {
            /* Without JavaScript nothing updates, and reloading by itself would wipe the form. */
          }
          <noscript>
            <p class="small">
              <a href="/pedidos">Actualizar</a> para ver el estado actual.
            </p>
          </noscript>
          {/* Not a live region: the table changes every tick; the line below says what matters. */}
          <p class="sr-only" role="status" data-live-announce></p>
          <div data-live="/pedidos/eventos">
            <OrdersTable
              pedidos={props.pedidos}
              now={props.now}
              csrf={props.csrf}
              notas={props.notas}
            />
          </div>
        </section>
      </div>
    </>
  );
}
