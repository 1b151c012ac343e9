/**
 * The request bodies `pedidos client` builds from its words and flags.
 * Pure: no I/O.
 *
 * @module
 */

import { ConfigError } from "../server/config/settings.ts";
import { ESTADOS } from "../server/protocol/messages.ts";

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * The state named by `--estado`: any case, `_` or `-` for the space
 * (`en_proceso`), every state of the protocol, `cancelado` included. A word
 * that names no state is sent as typed: the daemon judges it
 * (`invalid_request`, status 1), as it judges every value of a request.
 */
export function parseEstado(text: string): string {
  const wanted = text.trim().toLowerCase().replace(/[_-]/g, " ");
  return ESTADOS.find((e) => e === wanted) ?? text;
}

/**
 * `TASK` from `task NAME ARGS…`: `sum` of the arguments (numbers where they
 * read as one), `upper`/`lower` of the words, any other name with its
 * arguments. Which tasks there are and what they take is the daemon's to say
 * (`unknown_task`, `invalid_task`: status 1, its message shown): a daemon
 * with other tasks than this client knows is answered the same way.
 *
 * @throws {ConfigError} Without a name.
 */
export function taskRequest(args: string[]): Record<string, unknown> {
  const [name, ...rest] = args;
  if (name === undefined) throw new ConfigError("Missing task name: use sum, upper or lower");
  const task = name === "upper" || name === "lower"
    ? rest.length === 0 ? { name } : { name, s: rest.join(" ") }
    : {
      name,
      args: rest.map((arg) => NUMBER.test(arg) && Number.isFinite(Number(arg)) ? Number(arg) : arg),
    };
  return { op: "TASK", data: { task } };
}

/**
 * A bare order from `--cliente`, `--producto` (repeated), `--direccion` and `--clave`.
 *
 * @throws {ConfigError} When one of the three required flags is missing.
 */
export function orderRequest(flags: Record<string, unknown>): Record<string, unknown> {
  const missing = ["cliente", "producto", "direccion"].filter((flag) => flags[flag] === undefined);
  if (missing.length > 0) {
    throw new ConfigError(
      `Missing ${
        missing.map((flag) => `--${flag}`).join(", ")
      }: an order needs --cliente, --producto and --direccion`,
    );
  }
  const request: Record<string, unknown> = {
    cliente: flags.cliente,
    productos: flags.producto,
    direccion: flags.direccion,
  };
  if (flags.clave !== undefined) request.clave = flags.clave;
  return request;
}
