/**
 * The request bodies `pedidos client` builds from its words and flags.
 * Pure: no I/O.
 *
 * @module
 */

import { ConfigError } from "../server/config/settings.ts";
import { type Estado, ESTADOS } from "../server/protocol/messages.ts";

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * The state named by `--estado`: any case, `_` or `-` for the space
 * (`en_proceso`), every state of the protocol, `cancelado` included.
 *
 * @throws {ConfigError} For a name that is not a state.
 */
export function parseEstado(text: string): Estado {
  const wanted = text.trim().toLowerCase().replace(/[_-]/g, " ");
  const estado = ESTADOS.find((e) => e === wanted);
  if (estado === undefined) {
    throw new ConfigError(`Invalid --estado "${text}": must be one of ${ESTADOS.join(", ")}`);
  }
  return estado;
}

/**
 * `TASK` from `task NAME ARGS…`: `sum` of numbers, `upper`/`lower` of the words.
 *
 * @throws {ConfigError} For an unknown task or bad arguments.
 */
export function taskRequest(args: string[]): Record<string, unknown> {
  const [name, ...rest] = args;
  let task: Record<string, unknown>;
  if (name === "sum") {
    const bad = rest.find((arg) => !NUMBER.test(arg) || !Number.isFinite(Number(arg)));
    if (bad !== undefined) {
      throw new ConfigError(`Invalid task sum argument "${bad}": not a number`);
    }
    task = { name, args: rest.map(Number) };
  } else if (name === "upper" || name === "lower") {
    if (rest.length === 0) throw new ConfigError(`Missing text: task ${name} needs words`);
    task = { name, s: rest.join(" ") };
  } else {
    throw new ConfigError(
      name === undefined ? "Missing task name" : `Unknown task "${name}": use sum, upper or lower`,
    );
  }
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
