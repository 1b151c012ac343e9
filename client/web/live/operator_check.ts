/**
 * Whether a session's token still sees every order, as an operador's does.
 * The gateway knows the role LOGIN returned; `pedidos usuarios usuario
 * NAME` takes it back at the daemon at once (§2.10), and from then on that
 * token sees only its account's orders. The Panel's shared timeline window
 * must then neither be shown to that session nor take its reads.
 *
 * The check, with the protocol only: a few orders the gateway knows exist
 * (the witnesses: the newest ones read, that the gateway did not place for
 * that account) are asked for with ESTADO and the session's token. An
 * operador gets each one. A `not_found` is proof only when the same ESTADO
 * without a token (which sees every order, §2.10) finds that order, received
 * at the time it was read: it exists, so the token does not see it. Gone
 * (pruned by retention, a daemon on another store) or unanswered, a witness
 * proves nothing, so an operador is never taken for a usuario by a race.
 *
 * @module
 */

import type { Ask } from "../ask.ts";

/** An order known to exist: its id, and when it was received (to tell its store). */
export interface Witness {
  id: number;
  recibido: string;
}

/** Options of {@linkcode seesEveryOrder}. */
export interface OperatorCheckOptions {
  /** The session's token. */
  token: string;
  /** Orders known to exist, newest first. */
  witnesses: readonly Witness[];
  /** Whether an order is the account's own (placed through the gateway by it): proves nothing. @default {none is} */
  isOwn?: (id: number) => boolean;
  /** Witnesses asked for at most. @default {2} */
  count?: number;
}

/**
 * Whether `token` still sees every order: false only when it is proven not
 * to (an order that exists answers it `not_found`); true when it sees the
 * witnesses, or nothing could be proven (no witness, no reply). With no
 * witness known, the newest orders are listed without a token to find some.
 *
 * @param ask Asks the daemon.
 * @param options The token and the witnesses.
 * @returns False when the token is proven to see only some orders.
 */
export async function seesEveryOrder(ask: Ask, options: OperatorCheckOptions): Promise<boolean> {
  const { token, isOwn = () => false, count = 2 } = options;
  let witnesses = options.witnesses.filter((w) => !isOwn(w.id)).slice(0, count);
  if (witnesses.length === 0) {
    const newest = await ask({ op: "LISTAR", limit: 5 });
    if (!newest?.ok) return true;
    witnesses = newest.pedidos.filter((p) => !isOwn(p.id)).slice(0, count)
      .map((p) => ({ id: p.id, recibido: p.fecha_recibido }));
  }
  const proofs = await Promise.all(witnesses.map(async ({ id, recibido }) => {
    const seen = await ask({ op: "ESTADO", id, token });
    if (seen === null || seen.ok || seen.error !== "not_found") return false;
    const exists = await ask({ op: "ESTADO", id });
    return exists !== null && exists.ok && exists.pedido.fecha_recibido === recibido;
  }));
  return !proofs.includes(true);
}
