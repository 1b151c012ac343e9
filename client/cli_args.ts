/**
 * The `client` subcommand's arguments: which request to send, where, and how
 * to print the reply. Pure: no I/O beyond the injected config sources.
 *
 * @module
 */

import { CLIENT_SETTINGS, type ClientConfig } from "./client_config.ts";
import {
  ConfigError,
  type ConfigSources,
  type ExtraFlag,
  formatUsage,
  freezeConfig,
  resolveConfig,
} from "../server/config/settings.ts";
import { wholeNumber } from "../server/config/value_parsers.ts";
import { LISTAR_MAX_LIMIT } from "../server/protocol/parse_request.ts";
import { orderRequest, parseEstado, taskRequest } from "./cli_requests.ts";

/** What the client is asked to do. */
export type ClientAction =
  | { kind: "help" }
  /** Send one order built from flags; with `esperar`, then wait for it to finish. */
  | { kind: "pedido"; request: Record<string, unknown>; esperar: boolean; timeoutMs: number | null }
  /** Read one JSON request from stdin and send it as-is. */
  | { kind: "stdin"; esperar: boolean; timeoutMs: number | null }
  | { kind: "estado"; request: Record<string, unknown> }
  | { kind: "listar"; request: Record<string, unknown> }
  /** CANCELAR or REINTENTAR one order (§2.8, §2.9). */
  | { kind: "cancelar" | "reintentar"; request: Record<string, unknown> }
  | { kind: "stats"; request: Record<string, unknown> }
  | { kind: "task"; request: Record<string, unknown> }
  | { kind: "ping"; request: Record<string, unknown> };

/** A parsed `client` command line: the action, where the daemon is, and whether to print raw JSON. */
export type ClientCommand = ClientAction & {
  /** Where the daemon is. */
  config: ClientConfig;
  /** Print each reply line exactly as received. */
  json: boolean;
};

const EXTRA_FLAGS: Record<string, ExtraFlag> = {
  json: { type: "boolean" },
  cliente: { type: "string" },
  producto: { type: "string", multiple: true },
  direccion: { type: "string" },
  clave: { type: "string" },
  esperar: { type: "boolean" },
  "timeout-ms": { type: "string", parse: wholeNumber(0) },
  estado: { type: "string", parse: (text) => parseEstado(text) },
  limit: { type: "string", parse: (text) => listLimit(text) },
  "antes-de": { type: "string", parse: wholeNumber(1) },
};

const ORDER_FLAGS = ["cliente", "producto", "direccion", "clave"];

const COMMANDS = ["estado", "listar", "cancelar", "reintentar", "stats", "task", "ping"];

/** The commands that take one order id. */
const WITH_ID = ["estado", "cancelar", "reintentar"];

/** The flags each command accepts beside `--host`, `--port`, `--env-file`, `--json`, `--help`. */
const ALLOWED: Record<string, readonly string[]> = {
  pedido: [...ORDER_FLAGS, "esperar", "timeout-ms"],
  stdin: ["esperar", "timeout-ms"],
  estado: ["esperar", "timeout-ms"],
  listar: ["estado", "cliente", "limit", "antes-de"],
  cancelar: [],
  reintentar: [],
  stats: [],
  task: [],
  ping: [],
};

/** The usage text of `client`, printed with a usage error and with `--help`. */
export const CLIENT_USAGE: string = formatUsage(
  `Usage:
  pedidos client --cliente NAME --producto P [--producto P ...] --direccion ADDR [--clave K]
                 [--esperar [--timeout-ms MS]]
  pedidos client [--esperar [--timeout-ms MS]] < order.json   one JSON order (or request) from stdin
  pedidos client estado ID [--esperar] [--timeout-ms MS]
  pedidos client listar [--estado E] [--cliente C] [--limit N] [--antes-de ID]
  pedidos client cancelar ID                   cancel an order that has not started
  pedidos client reintentar ID                 run an order that ended in error again
  pedidos client stats
  pedidos client task sum 1 2 3.5 | task upper hola mundo | task lower HOLA
  pedidos client ping

Sends one request to the daemon and prints the reply.
Exit status: 0 ok, 1 refused by the daemon, 2 bad usage, 3 cannot connect, 130 interrupted.`,
  CLIENT_SETTINGS,
  [
    ["--json", "print each reply line exactly as received"],
    ["--timeout-ms MS", "with --esperar, how long to wait (default 30000)"],
    ["--limit N", `with listar, how many orders, 1 to ${LISTAR_MAX_LIMIT} (default 50)`],
  ],
);

/**
 * An order's id: a whole number. 0 names no order, and is the daemon's to
 * answer (`not_found`, status 1), as any other id that names none.
 */
function orderId(text: string, what: string): number {
  if (/^\s*0+\s*$/.test(text)) return 0;
  try {
    return wholeNumber(1)(text);
  } catch (error) {
    throw new ConfigError(`Invalid ${what} "${text}": ${(error as Error).message}`);
  }
}

/**
 * `--limit`: 1 to 1000, the most orders the daemon lists in one reply
 * (§2.3). More would be cut to 1000 without a word, so it is refused.
 */
function listLimit(text: string): number {
  try {
    return wholeNumber(1, LISTAR_MAX_LIMIT)(text);
  } catch (error) {
    throw new RangeError(
      `${
        (error as Error).message
      } (the daemon lists at most ${LISTAR_MAX_LIMIT} orders a request; page with --antes-de)`,
    );
  }
}

function flagNumber(
  flags: Record<string, unknown>,
  flag: string,
  parse: (text: string) => number,
): number | null {
  const text = flags[flag];
  if (typeof text !== "string") return null;
  try {
    return parse(text);
  } catch (error) {
    throw new ConfigError(`Invalid --${flag} "${text}": ${(error as Error).message}`);
  }
}

function action(
  positionals: string[],
  flags: Record<string, unknown>,
): Exclude<ClientAction, { kind: "help" }> {
  const [command, ...rest] = positionals;
  if (command !== undefined && !COMMANDS.includes(command)) {
    throw new ConfigError(`Unknown command "${command}": use ${COMMANDS.join(", ")}`);
  }
  const kind = command ??
    (ORDER_FLAGS.some((flag) => flags[flag] !== undefined) ? "pedido" : "stdin");
  const allowed = ALLOWED[kind] ?? [];
  for (const [flag, value] of Object.entries(flags)) {
    if (value !== undefined && flag !== "json" && !allowed.includes(flag)) {
      const where = command === undefined ? "when sending an order" : `with "${command}"`;
      throw new ConfigError(`Unexpected --${flag}: not valid ${where}`);
    }
  }
  if (!WITH_ID.includes(kind) && kind !== "task" && rest.length > 0) {
    throw new ConfigError(`Unexpected argument "${rest[0]}"`);
  }
  const esperar = flags.esperar === true;
  const timeoutMs = flagNumber(flags, "timeout-ms", wholeNumber(0));
  if (timeoutMs !== null && !esperar) {
    throw new ConfigError("Unexpected --timeout-ms: needs --esperar");
  }

  switch (kind) {
    case "pedido":
      return { kind, request: orderRequest(flags), esperar, timeoutMs };
    case "stdin":
      return { kind, esperar, timeoutMs };
    case "estado": {
      if (rest.length !== 1) throw new ConfigError("Usage: client estado ID [--esperar]");
      const request: Record<string, unknown> = {
        op: "ESTADO",
        id: orderId(rest[0] ?? "", "ID"),
      };
      if (esperar) request.esperar = true;
      if (timeoutMs !== null) request.timeout_ms = timeoutMs;
      return { kind, request };
    }
    case "listar": {
      const request: Record<string, unknown> = { op: "LISTAR" };
      if (typeof flags.estado === "string") request.estado = parseEstado(flags.estado);
      if (typeof flags.cliente === "string") request.cliente = flags.cliente;
      const limit = flagNumber(flags, "limit", listLimit);
      if (limit !== null) request.limit = limit;
      const antesDe = flagNumber(flags, "antes-de", wholeNumber(1));
      if (antesDe !== null) request.antes_de = antesDe;
      return { kind, request };
    }
    case "cancelar":
    case "reintentar": {
      if (rest.length !== 1) throw new ConfigError(`Usage: client ${kind} ID`);
      const op = kind === "cancelar" ? "CANCELAR" : "REINTENTAR";
      return { kind, request: { op, id: orderId(rest[0] ?? "", "ID") } };
    }
    case "stats":
      return { kind, request: { op: "STATS" } };
    case "ping":
      return { kind, request: { op: "PING" } };
    default:
      return { kind: "task", request: taskRequest(rest) };
  }
}

/**
 * Parses the arguments of `client` (after the word `client`).
 *
 * @example Usage
 * ```ts
 * import { parseClientArgs } from "./cli_args.ts";
 * const command = parseClientArgs(["task", "sum", "1", "2"], { getEnv: () => undefined, readFile: () => null });
 * console.log(command.kind, command.config.port); // task 8888
 * ```
 * @param args The command line after `client`.
 * @param sources Where the environment and env file are read.
 * @returns A frozen command.
 * @throws {ConfigError} On bad usage: unknown command or flag, missing or bad value.
 */
export function parseClientArgs(args: string[], sources: ConfigSources = {}): ClientCommand {
  const resolved = resolveConfig(args, CLIENT_SETTINGS, {
    ...sources,
    extraFlags: EXTRA_FLAGS,
    allowPositionals: true,
    checkOverridden: false,
  });
  const { config, help } = resolved;
  const json = resolved.flags.json === true;
  if (help) return freezeConfig({ kind: "help", config, json });
  return freezeConfig({ ...action(resolved.positionals, resolved.flags), config, json });
}
