/**
 * How an order's state looks: its CSS class (shared by the Pedidos table's
 * badges and the Panel's timeline bars) and its badge.
 *
 * @module
 */

import type { Estado } from "../../../server/protocol/messages.ts";

/**
 * The CSS class of each state. A `Record` over {@linkcode Estado}, so a
 * state added to the protocol does not type-check until it has a class
 * (and `static.ts` a style for it).
 */
export const ESTADO_CLASS: Readonly<Record<Estado, string>> = {
  "pendiente": "pendiente",
  "en proceso": "en-proceso",
  "listo": "listo",
  "error": "error",
  "cancelado": "cancelado",
};

/**
 * The CSS class of a state: `en proceso` → `en-proceso`.
 *
 * @param estado A state of the protocol.
 * @returns Its class.
 */
export function estadoClass(estado: Estado): string {
  // A state from a newer daemon still gets a usable class.
  return ESTADO_CLASS[estado] ?? String(estado).replace(/\s+/g, "-");
}

/** An order's state as a coloured badge (grey for `cancelado`). */
export function EstadoBadge(props: { estado: Estado }) {
  return <span class={`estado ${estadoClass(props.estado)}`}>{props.estado}</span>;
}
