/**
 * How the gateway asks the daemon: a typed request whose reply is the
 * operation's own ({@linkcode ReplyOf}), or `null` when the daemon cannot
 * be reached, which every page says in the same words.
 *
 * @module
 */

import type { Op, ReplyOf } from "../../server/protocol/replies.ts";
import { ClientError } from "../client.ts";
import type { DaemonClient, DaemonRequest } from "./daemon.ts";

/**
 * Sends one request; resolves with its reply (maybe an error reply), or
 * `null` when the daemon cannot be reached or the gateway is closing.
 */
export type Ask = <O extends Op>(
  request: DaemonRequest<O> & { op: O },
) => Promise<ReplyOf<O> | null>;

/**
 * Makes the gateway's {@linkcode Ask} on `daemon`.
 *
 * @param daemon The daemon.
 * @param signal Aborted when the gateway closes: requests in flight are given up.
 * @returns The ask function.
 * @throws What `daemon.request` throws other than a {@linkcode ClientError} (a bug).
 */
export function createAsk(daemon: DaemonClient, signal: AbortSignal): Ask {
  return async function ask(request) {
    try {
      return await daemon.request(request, { signal });
    } catch (error) {
      if (error instanceof ClientError || signal.aborted) return null;
      throw error;
    }
  };
}

/**
 * What every page says when the daemon cannot be reached.
 *
 * @param address Where the daemon is, for people: `localhost:8888`.
 */
export function unreachableMessage(address: string): string {
  return `No hay conexión con el servidor de pedidos (${address}). ` +
    "Compruebe que está en marcha (deno task server); esta página se recupera sola cuando vuelva.";
}
