/**
 * Which requests on one connection may run at the same time without
 * breaking §8 "Effects in request order": requests take effect in the
 * order sent, as if each waited for the previous reply. Pure.
 *
 * - `pedido`: a run of orders goes to the store together (one group
 *   commit); the store keeps their order, so they may overlap each other.
 *   An order with a session `token` (docs/protocol.md §2.10) is
 *   `exclusive`: its account is looked up first.
 * - `read`: changes nothing, so reads may overlap each other; a read waits
 *   for every earlier change on its connection (it must see it), and a
 *   change waits for every earlier read (the read must not see the change).
 * - `wait`: ESTADO with `esperar`, a read answered later, when its order
 *   ends. It may start beside earlier reads and waits, but nothing else
 *   starts until it is answered: a read after it must see what the wait saw
 *   (its order `listo`, not still `en proceso`), as if it had been sent
 *   after the wait's reply. A wait whose time is up reads its order again
 *   once the requests before it are answered (`RunContext.turn`), so it is
 *   not answered with an older state than theirs.
 * - `list`: LISTAR, a read whose reply may be written in pieces, each read
 *   from the store only once the one before is written (`list_orders.ts`).
 *   It may start beside earlier reads, not beside a wait (it would list the
 *   waited order as it was before the wait's answer, `en proceso` after the
 *   wait said `listo`), and nothing starts until it is answered: a read
 *   after it, answered from the store before its last piece is read, would
 *   show an older state than it.
 * - `settle`: STATS, a read that first waits for the orders whose end is
 *   being committed to give their slots back, and for the starts being
 *   committed (`OrderService.settleEnds`), so it may count an order ended
 *   that a read beside it still finds `en proceso` in the store, but never
 *   counts one `en proceso` that a read after it would find `pendiente`. It may start beside earlier reads, and
 *   nothing starts until it is answered: a read after it must not show an
 *   older state than it (STATS `en_proceso` 0, then ESTADO `en proceso`).
 * - `exclusive`: runs alone: CANCELAR, REINTENTAR, TASK (it holds a slot),
 *   REGISTRO and LOGIN.
 *
 * @module
 */

import type { Request } from "./messages.ts";

/** How a request may overlap its neighbours on a connection. */
export type Overlap = "pedido" | "read" | "wait" | "list" | "settle" | "exclusive";

/**
 * The overlap class of a request.
 *
 * @example Usage
 * ```ts
 * import { overlapOf } from "./request_effects.ts";
 * console.log(overlapOf({ op: "PING" })); // "read"
 * ```
 */
export function overlapOf(request: Request): Overlap {
  switch (request.op) {
    case "PEDIDO":
      // With a session token, its account is looked up before the order goes
      // to the store: an order sent after it would overtake it.
      return request.token === undefined ? "pedido" : "exclusive";
    case "ESTADO":
      return request.esperar ? "wait" : "read";
    case "LISTAR":
      return "list";
    case "STATS":
      return "settle";
    case "PING":
    case "GET_TAREAS_HTML":
      return "read";
    default:
      return "exclusive";
  }
}

/**
 * Whether a request of class `next` may start while `running` requests of
 * class `runningClass` are unanswered on the same connection. With
 * `readsTogether` false, reads too run one at a time: where each may go to
 * the database on a connection of its own (PostgreSQL), two reads sent
 * together could run there in either order, and the later see an older
 * state than the earlier.
 */
export function mayOverlap(
  next: Overlap,
  running: number,
  runningClass: Overlap | null,
  readsTogether = true,
): boolean {
  if (running === 0) return true;
  switch (next) {
    case "pedido":
      return runningClass === "pedido";
    case "read":
      return runningClass === "read" && readsTogether;
    case "wait":
      return runningClass === "read" || runningClass === "wait";
    case "list":
    case "settle":
      return runningClass === "read" && readsTogether;
    case "exclusive":
      return false;
  }
}
