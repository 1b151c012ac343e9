/**
 * The daemon's limit on one request (`--max-request-bytes`, §1 of
 * `docs/protocol.md`), kept by the gateway before it sends anything. The
 * daemon answers a longer request `too_large` and closes the connection;
 * the gateway's connections are shared by all its users, so that close
 * would fail the requests of others in flight on it. And a form under the
 * gateway's own body limit (64 KiB) can be over the daemon's once encoded:
 * a control character takes 6 bytes in JSON (`\u0001`), a quote or a
 * backslash 2.
 *
 * @module
 */

import { DEFAULT_MAX_REQUEST_BYTES } from "../../server/protocol/framing.ts";
import type { ErrorReply } from "../../server/protocol/replies.ts";

/** The daemon's default `--max-request-bytes`: the gateway's when none is given. */
export { DEFAULT_MAX_REQUEST_BYTES };

const encoder = new TextEncoder();

/**
 * The bytes of `body` that the daemon counts against its limit: its JSON
 * line in UTF-8, without the newline (as the client sends it).
 *
 * @example Usage
 * ```ts
 * import { requestBytes } from "./request_size.ts";
 * console.log(requestBytes({ op: "PING" })); // 13
 * console.log(requestBytes({ s: "\u0001" })); // 14: `{"s":"\u0001"}`
 * ```
 */
export function requestBytes(body: Record<string, unknown>): number {
  return encoder.encode(JSON.stringify(body)).byteLength;
}

/**
 * The gateway's answer to a request of `bytes` over the daemon's
 * `maxBytes`, not sent: the daemon's own code, `too_large`, in words that
 * say how large it was, what to do, and that nothing was sent.
 *
 * @example Usage
 * ```ts
 * import { tooLargeReply } from "./request_size.ts";
 * console.log(tooLargeReply(72_000, 65_536).error); // "too_large"
 * ```
 */
export function tooLargeReply(bytes: number, maxBytes: number): ErrorReply {
  return {
    ok: false,
    error: "too_large",
    mensaje: `❌ Solicitud demasiado grande: ocupa ${bytes} bytes codificada, y el servidor de ` +
      `pedidos admite ${maxBytes} como máximo. Acorte el texto (las comillas, las letras con ` +
      "tilde, los símbolos y los caracteres de control ocupan más de un byte). No se envió nada.",
  };
}
