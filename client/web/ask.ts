/**
 * How the gateway asks the daemon: a typed request whose reply is the
 * operation's own ({@linkcode ReplyOf}), or `null` when the daemon cannot
 * be reached or does not answer in time, which every page says in the same
 * words ({@linkcode DaemonHealth.problem}): that the daemon is down, or
 * that it is up but slow.
 *
 * @module
 */

import type { Op, ReplyOf } from "../../server/protocol/replies.ts";
import { ClientError } from "../client.ts";
import type { ClientErrorCode } from "../client_error.ts";
import type { DaemonClient, DaemonRequest } from "./daemon.ts";

/** Options of an {@linkcode Ask}. */
export interface AskOptions {
  /**
   * Told why a request got no reply: `connect_failed` when it was never
   * sent (no connection could be made); else it may have been done.
   */
  failed?: (code: ClientErrorCode) => void;
}

/**
 * Sends one request; resolves with its reply (maybe an error reply), or
 * `null` when the daemon cannot be reached or the gateway is closing.
 */
export type Ask = <O extends Op>(
  request: DaemonRequest<O> & { op: O },
  options?: AskOptions,
) => Promise<ReplyOf<O> | null>;

/**
 * What the gateway last learnt of the daemon: whether its last failure was
 * a reply that did not come in time (the daemon is slow), a reply that is
 * not one of the protocol's (something else answers there, or a daemon of
 * another version), or a connection that could not be made or was lost (it
 * is down). A reply clears it.
 */
export class DaemonHealth {
  readonly #address: string;
  /** How the last request failed; null after a reply. */
  #failure: ClientErrorCode | null = null;

  /** @param address Where the daemon is, for people: `localhost:8888`. */
  constructor(address: string) {
    this.#address = address;
  }

  /** Records how a request ended: a reply, or a {@linkcode ClientError}. */
  record(outcome: "reply" | ClientError): void {
    this.#failure = outcome === "reply" ? null : outcome.code;
  }

  /** What every page says when a request got no reply. */
  problem(): string {
    if (this.#failure === "timeout") return slowMessage(this.#address);
    if (this.#failure === "protocol") return invalidReplyMessage(this.#address);
    return unreachableMessage(this.#address);
  }
}

/**
 * Makes the gateway's {@linkcode Ask} on `daemon`.
 *
 * @param daemon The daemon.
 * @param signal Aborted when the gateway closes: requests in flight are given up.
 * @param health Told how each request ended. @default {none}
 * @returns The ask function.
 * @throws What `daemon.request` throws other than a {@linkcode ClientError} (a bug).
 */
export function createAsk(daemon: DaemonClient, signal: AbortSignal, health?: DaemonHealth): Ask {
  return async function ask(request, options) {
    try {
      const reply = await daemon.request(request, { signal });
      health?.record("reply");
      return reply;
    } catch (error) {
      if (error instanceof ClientError) options?.failed?.(error.code);
      if (error instanceof ClientError && !signal.aborted) health?.record(error);
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
    "Puede estar detenido o reiniciándose; esta página se recupera sola cuando vuelva.";
}

/**
 * What every page says when what answers at the daemon's address sent
 * something that is not a reply of the protocol.
 *
 * @param address Where the daemon is, for people: `localhost:8888`.
 */
export function invalidReplyMessage(address: string): string {
  return `Lo que responde en ${address} no envió una respuesta válida del protocolo de pedidos ` +
    "(¿es otro programa, o un servidor de otra versión?). Compruebe la dirección " +
    "(PEDIDOS_HOST, PEDIDOS_PORT) y la versión del servidor.";
}

/**
 * What every page says when the daemon is up but did not answer in time.
 *
 * @param address Where the daemon is, for people: `localhost:8888`.
 */
export function slowMessage(address: string): string {
  return `El servidor de pedidos (${address}) está en marcha pero tarda demasiado en responder ` +
    "(está muy ocupado). Si envió un pedido, pudo quedar registrado: vuelva a enviar el mismo " +
    "formulario y no se duplicará.";
}
