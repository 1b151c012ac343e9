/**
 * Whether a session's token still sees every order, as an operador's does.
 * The gateway knows the role LOGIN returned; `pedidos usuarios usuario
 * NAME` takes it back at the daemon at once (§2.10), and from then on that
 * token sees only its account's orders. The Panel's shared timeline window
 * must then neither be shown to that session nor take its reads.
 *
 * The check, with the protocol only, has three outcomes:
 *
 * - `demoted`: an order that exists answers the token `not_found`. Proof
 *   only when the same ESTADO without a token (which sees every order,
 *   §2.10) finds that order, received at the time it was known: gone
 *   (pruned by retention, a daemon on another store), it proves nothing, so
 *   an operador is never taken for a usuario by a race.
 * - `operador`: the token finds with ESTADO an order that is not known to
 *   be the account's (not placed through the gateway by it, its `clave` not
 *   in its gateway namespace), and no order its lists of this refresh should
 *   have returned, but did not, is left unexplained.
 *   Also when every order known (listed now without a token, or known to
 *   the window) is the account's own, or there is none: then there is
 *   nothing of anyone else to show or to miss.
 * - `unknown`: nothing was proven (no reply, or own orders beside others'
 *   that gave no answer); the caller keeps nothing the token read, and asks
 *   again later.
 *
 * The witnesses are tried in the order that proves the most: first the
 * gaps (orders that exist, listed without a token, in a state and range the
 * token's lists covered, that they did not return: a token that sees every
 * order cannot leave one, so only a demoted token or a change in between
 * explains it), then the orders other accounts placed through the gateway,
 * then the other orders known, those the token did not read first.
 *
 * @module
 */

import type { Estado } from "../../../server/protocol/messages.ts";
import type { Ask } from "../ask.ts";

/** An order known to exist: its id, and when it was received (to tell its store). */
export interface Witness {
  id: number;
  recibido: string;
}

/** What the token's lists of one refresh returned. */
export interface TokenReads {
  /** The ids they returned. */
  ids: ReadonlySet<number>;
  /**
   * By state, the lowest id from which its list returned every order of that
   * state the token sees (0: all of them). A state absent was not listed.
   */
  from: ReadonlyMap<Estado, number>;
}

/** What the check proved of the token. */
export type OperatorCheck = "operador" | "demoted" | "unknown";

/** Options of {@linkcode checkOperator}. */
export interface OperatorCheckOptions {
  /** The session's token. */
  token: string;
  /** Orders known to exist before the refresh, newest first. */
  witnesses: readonly Witness[];
  /** What the token's lists of this refresh returned. @default {nothing} */
  reads?: TokenReads;
  /**
   * Who placed an order through the gateway: `own` (the account; proves
   * nothing), `other` (another account), null (not known). @default {none known}
   */
  placedBy?: (id: number) => "own" | "other" | null;
  /** Whether a `clave` is in the account's gateway namespace (its own order). @default {none is} */
  ownClave?: (clave: string) => boolean;
  /** ESTADO requests at most, with and without the token. @default {4} */
  maxLookups?: number;
  /** Newest orders listed without a token, to find gaps. @default {20} */
  newest?: number;
}

interface Candidate extends Witness {
  /** A gap: the token's lists should have returned it. */
  gap: boolean;
}

/**
 * What can be proven of `token`: `demoted` when an order that exists
 * answers it `not_found`; `operador` when it finds an order not known to be
 * its account's and no gap is left unexplained; else `unknown`.
 *
 * @param ask Asks the daemon.
 * @param options The token, the witnesses, what the token read.
 * @returns The outcome.
 */
export async function checkOperator(
  ask: Ask,
  options: OperatorCheckOptions,
): Promise<OperatorCheck> {
  const { token, placedBy = () => null, ownClave = () => false } = options;
  const reads = options.reads ?? { ids: new Set<number>(), from: new Map() };
  let lookups = options.maxLookups ?? 4;
  const { candidates, listed } = await candidatesFor(ask, options, reads);
  // Nothing known but the account's own orders (a new daemon whose only
  // orders are this operador's): there is nothing of anyone else to show or
  // to miss, so nothing to prove.
  if (listed && candidates.length === 0) return "operador";
  let gapsLeft = candidates.filter((c) => c.gap).length;
  for (const { id, recibido, gap } of candidates) {
    if (lookups <= 0) break;
    lookups--;
    const seen = await ask({ op: "ESTADO", id, token });
    if (seen === null || (!seen.ok && seen.error !== "not_found")) continue; // no reply: no proof
    if (gap) gapsLeft--;
    if (seen.ok) {
      // A gap found: it changed between the reads (or is the account's own).
      const own = placedBy(id) === "own" ||
        (seen.pedido.clave !== null && ownClave(seen.pedido.clave));
      if (!gap && !own && gapsLeft === 0) return "operador";
      continue;
    }
    if (lookups <= 0) break;
    lookups--;
    const exists = await ask({ op: "ESTADO", id });
    if (exists !== null && exists.ok && exists.pedido.fecha_recibido === recibido) return "demoted";
  }
  return "unknown";
}

/**
 * The witnesses to try, best first: the gaps; the orders other accounts
 * placed through the gateway; those listed without a token now that the
 * token did not read; the orders known before this refresh (they may have
 * been pruned since: those the listing should hold but does not are left
 * out); those the token read (its own, if any, prove nothing).
 */
async function candidatesFor(
  ask: Ask,
  options: OperatorCheckOptions,
  reads: TokenReads,
): Promise<{ candidates: Candidate[]; listed: boolean }> {
  const { placedBy = () => null, ownClave = () => false } = options;
  const limit = options.newest ?? 20;
  const reply = limit > 0 ? await ask({ op: "LISTAR", limit }) : null;
  const listed = reply?.ok ? reply.pedidos : [];
  // Orders newer than the newest the token read may have come after its reads.
  const newestRead = Math.max(0, ...reads.ids);
  const known = new Map<number, Candidate & { rank: number }>();
  for (const p of listed) {
    if (p.clave !== null && ownClave(p.clave)) continue;
    const from = reads.from.get(p.estado);
    const read = reads.ids.has(p.id);
    const gap = from !== undefined && p.id >= from && p.id < newestRead && !read;
    const rank = gap ? 0 : placedBy(p.id) === "other" ? 1 : read ? 4 : 2;
    known.set(p.id, { id: p.id, recibido: p.fecha_recibido, gap, rank });
  }
  // Below this id the listing tells nothing of whether an order still exists.
  const floor = reply?.ok && listed.length >= limit ? listed.at(-1)!.id : 0;
  for (const w of options.witnesses) {
    if (known.has(w.id) || (reply?.ok && w.id >= floor)) continue; // listed, or gone
    known.set(w.id, { ...w, gap: false, rank: placedBy(w.id) === "other" ? 1 : 3 });
  }
  const candidates = [...known.values()]
    .filter((c) => placedBy(c.id) !== "own")
    .sort((a, b) => a.rank - b.rank || b.id - a.id)
    .map(({ id, recibido, gap }) => ({ id, recibido, gap }));
  return { candidates, listed: reply?.ok === true };
}
