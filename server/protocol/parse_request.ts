/**
 * Parsing of one request (`docs/protocol.md` §2, §3 and §8): JSON text in, a typed
 * {@linkcode Request} out, or a {@linkcode ProtocolError} with its code.
 *
 * @module
 */

import { EXAMPLE_ORDER, ProtocolError } from "./errors.ts";
import {
  type Credentials,
  type Estado,
  ESTADOS,
  type ListFilter,
  type Request,
  Secret,
  type TaskSpec,
} from "./messages.ts";
import { trimSpace, validateOrder } from "./validate_order.ts";

type Args = Record<string, unknown>;

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_TIMEOUT_MS = 600_000;
/** LISTAR's `limit` when none is given (§2.3). */
export const LISTAR_DEFAULT_LIMIT = 50;
/** The largest LISTAR `limit`; a larger one is treated as this (§2.3, §8). */
export const LISTAR_MAX_LIMIT = 1000;
/** How much of an unknown `op` or task name is echoed back in `mensaje`. */
const ECHO_CHARS = 40;

/**
 * A user name (§2.6): 3–64 letters (any script's, with their combining
 * marks), digits, `.`, `_`, `-`, counted in code points after NFC.
 */
const USUARIO_REGEXP = /^[\p{L}\p{M}0-9._-]{3,64}$/u;
/** The most code points in a user name, after NFC (§2.6; {@linkcode USUARIO_REGEXP}'s 64). */
export const MAX_USUARIO_CHARS = 64;
/** The `mensaje` of `invalid_user`: the rule a user name breaks. */
export const USUARIO_RULE =
  '❌ El usuario debe tener de 3 a 64 caracteres: letras, dígitos, ".", "_" o "-".';
/**
 * A combining mark only on a letter: marks alone would be a name that shows
 * as nothing. And no letter or mark that draws as nothing (Unicode's
 * Default_Ignorable_Code_Point: the Hangul fillers U+3164 and U+1160, the
 * variation selectors, the combining grapheme joiner U+034F, …): "opera"
 * and "opera" + U+3164 (or + U+FE0F) would show as the same name.
 */
const USUARIO_MARKS_REGEXP =
  /^(?:(?!\p{Default_Ignorable_Code_Point})\p{L}(?:(?!\p{Default_Ignorable_Code_Point})\p{M})*|[0-9._-])*$/u;
/**
 * Letters of the scripts whose letters look alike (Unicode's confusables):
 * a new name mixes none of them, or Cyrillic "а" in "аna" would pass for "ana".
 */
const LOOKALIKE_SCRIPTS = [/\p{Script=Latin}/u, /\p{Script=Greek}/u, /\p{Script=Cyrillic}/u];
/** The `mensaje` of `invalid_user` for a new name that would pass for another one. */
export const USUARIO_LOOKALIKE_RULE =
  "❌ El usuario no puede mezclar letras latinas, griegas y cirílicas, ni usar formas de compatibilidad (letras de ancho completo, ligaduras como «ﬁ»): pasaría por otro nombre.";

/**
 * Whether a new name could pass for another: it mixes scripts whose letters
 * look alike, or holds compatibility forms (fullwidth "Ｆｕｌｌ", the ligature
 * "ﬁ", superscripts), which Unicode's NFKC folds into plain ones.
 */
function lookalike(usuario: string): boolean {
  if (usuario !== usuario.normalize("NFKC")) return true;
  return LOOKALIKE_SCRIPTS.filter((script) => script.test(usuario)).length > 1;
}

const MIN_PASSWORD_CHARS = 8;
const MAX_PASSWORD_CHARS = 256;
/** Longer than any token the daemon issues (43 characters); longer ones are refused unread. */
const MAX_TOKEN_CHARS = 512;

/**
 * Whether `text` may be JSON at all: its first character after JSON's
 * whitespace may begin a JSON value. Text that may not (`x`, `GET /`, a
 * telnet user's word) is `invalid_json` without the cost of `JSON.parse`
 * failing, and of the error it throws, which a flood of such lines would
 * pay at every line.
 *
 * @example Usage
 * ```ts
 * import { mayBeJson } from "./parse_request.ts";
 * console.log(mayBeJson("hola"), mayBeJson(' {"op":"PING"}')); // false true
 * ```
 */
export function mayBeJson(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    // { [ " - 0-9 t f n
    return c === 0x7b || c === 0x5b || c === 0x22 || c === 0x2d || (c >= 0x30 && c <= 0x39) ||
      c === 0x74 || c === 0x66 || c === 0x6e;
  }
  return false;
}

/**
 * Parses one request: a bare order (no `op`), or an envelope
 * `{"op": OP, ...}` whose arguments are at the top level or in `data`
 * (fields in `data` win). `OP` is case-insensitive and trimmed.
 *
 * @param text One framed request, as decoded UTF-8.
 * @returns The validated request.
 * @throws {ProtocolError} `invalid_json` (not JSON, or not an object),
 * `invalid_request` (a bad envelope field, named in `campo`),
 * `invalid_order`, `unknown_op`, `invalid_task`, `unknown_task`,
 * `invalid_user` (REGISTRO/LOGIN credentials that break the rules) or
 * `unauthorized` (GET_TAREAS_HTML without a token; an order operation whose
 * optional `token` is not a usable string).
 *
 * @example Usage
 * ```ts
 * import { parseRequest } from "./parse_request.ts";
 * console.log(parseRequest('{"op":"estado","data":{"id":42}}'));
 * // { op: "ESTADO", id: 42, esperar: false, timeoutMs: 30000 }
 * ```
 */
export function parseRequest(text: string): Request {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    // SyntaxError, and also RangeError if deep nesting overflows the stack.
    throw new ProtocolError("invalid_json", undefined, { cause });
  }
  if (!isPlainObject(value)) {
    throw new ProtocolError(
      "invalid_json",
      `❌ Se esperaba un objeto JSON ({…}), no ${jsonKind(value)}. Envíe un objeto por línea, ` +
        `por ejemplo: ${EXAMPLE_ORDER}`,
    );
  }

  if (!Object.hasOwn(value, "op")) return pedido(value, false);
  const rawOp = value.op;
  if (typeof rawOp !== "string") {
    throw new ProtocolError(
      "invalid_request",
      '❌ El campo "op" debe ser un texto, por ejemplo "PING".',
      { campo: "op" },
    );
  }
  const op = opName(rawOp);
  if (op === "PEDIDO") return pedido(value, true);
  // An unknown op is the error to report, whatever else is wrong with the envelope.
  if (!ENVELOPE_OPS.has(op)) throw unknownOp(rawOp);
  const args = envelopeArgs(value);

  switch (op) {
    case "ESTADO":
      return found(withToken(parseEstado(args), args));
    case "LISTAR":
      return withToken({ op: "LISTAR", filter: parseFilter(args) }, args);
    case "STATS":
      return { op: "STATS" };
    case "PING":
      return { op: "PING" };
    case "TASK":
      return { op: "TASK", task: parseTask(args) };
    case "REGISTRO":
    case "LOGIN":
      return { op, credentials: parseCredentials(args, op === "REGISTRO") };
    case "GET_TAREAS_HTML":
      return { op, token: parseToken(args) };
    case "CANCELAR":
    case "REINTENTAR":
      return found(withToken({ op, id: parseId(args) }, args));
  }
  throw unknownOp(rawOp);
}

/** What a JSON value that is not an object is, for a message: "una lista", "un número", … */
function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return "una lista ([…])";
  if (value === null) return "null";
  switch (typeof value) {
    case "number":
      return "un número";
    case "string":
      return "un texto";
    case "boolean":
      return `${value}`;
  }
  return "otro valor";
}

/** The ops of an envelope besides PEDIDO. */
const ENVELOPE_OPS: ReadonlySet<string> = new Set([
  "ESTADO",
  "LISTAR",
  "STATS",
  "PING",
  "TASK",
  "REGISTRO",
  "LOGIN",
  "GET_TAREAS_HTML",
  "CANCELAR",
  "REINTENTAR",
]);

/** `unknown_op` for the `op` a client sent. */
function unknownOp(rawOp: string): ProtocolError {
  return new ProtocolError(
    "unknown_op",
    `❌ Operación desconocida: ${echo(rawOp)}. Use PEDIDO, ESTADO, LISTAR, STATS, TASK, PING, ` +
      "CANCELAR, REINTENTAR, REGISTRO, LOGIN o GET_TAREAS_HTML.",
    { campo: "op" },
  );
}

/**
 * The operation an `op` names, as the daemon reads it: trimmed, and
 * case-insensitive in ASCII only ("pıng", with a dotless i, is not PING).
 *
 * @example Usage
 * ```ts
 * import { opName } from "./parse_request.ts";
 * console.log(opName(" estado ")); // "ESTADO"
 * ```
 */
export function opName(rawOp: string): string {
  return rawOp.trim().replace(/[a-z]+/g, (letters) => letters.toUpperCase());
}

/**
 * The arguments of an envelope: its top-level fields, overridden by those
 * of `data`. A `data` of `null` counts as absent, as any field does.
 */
function envelopeArgs(envelope: Args): Args {
  if (!Object.hasOwn(envelope, "data") || envelope.data === null) return envelope;
  const data = envelope.data;
  if (!isPlainObject(data)) {
    throw new ProtocolError(
      "invalid_request",
      '❌ El campo "data" debe ser un objeto JSON con los argumentos.',
      { campo: "data" },
    );
  }
  const args: Args = {};
  for (const source of [envelope, data]) {
    for (const key of Object.keys(source)) {
      // Assigning "__proto__" would set the prototype instead of a field.
      if (key === "__proto__") continue;
      // A field of `data` wins over the same field at the top level under either of its names.
      if (source === envelope && ALIASES.get(key)?.some((name) => Object.hasOwn(data, name))) {
        continue;
      }
      args[key] = source[key];
    }
  }
  return args;
}

/** The names of a field that has two (§2.1, §2.6), by each of them. */
const ALIASES: ReadonlyMap<string, readonly string[]> = new Map(
  [["direccion", "dirección"], ["usuario", "username"]].flatMap((names) =>
    names.map((name) => [name, names])
  ),
);

/**
 * A PEDIDO request (`enveloped`: with `op`, its fields maybe in `data`).
 * Its errors name the op, so that STATS counts it received, valid or not.
 */
function pedido(value: Args, enveloped: boolean): Request {
  try {
    const args = enveloped ? envelopeArgs(value) : value;
    return withToken({ op: "PEDIDO", order: validateOrder(args) }, args);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new ProtocolError(error.code, error.message, {
      campo: error.campo,
      extra: error.extra,
      cause: error.cause,
      op: "PEDIDO",
    });
  }
}

/**
 * The `id` of ESTADO, CANCELAR and REINTENTAR: any integer (see
 * {@linkcode found}), however large or small (`1e400` and `-1e400` read as
 * ±Infinity); anything else is of the wrong type (`invalid_request`).
 */
function parseId(args: Args): number {
  const id = own(args, "id");
  if (typeof id !== "number" || !(Number.isInteger(id) || id === Infinity || id === -Infinity)) {
    throw badField("id", '❌ El campo "id" debe ser un número entero (los ids empiezan en 1).');
  }
  return id;
}

/**
 * A request whose every field is valid, unless its `id` names no order:
 * one below 1 (ids start at 1) or past 2^53 (ids stay below it) is
 * `not_found` at once, as §2 says of an unknown id. The message of one past
 * 2^53 does not name it: the number read is not the one sent
 * (9007199254740993 reads as …992), and naming it would name another id.
 */
function found<R extends { id: number }>(request: R): R {
  if (request.id > Number.MAX_SAFE_INTEGER) {
    throw new ProtocolError(
      "not_found",
      "❌ No existe ese pedido: el id es mayor que cualquier id posible (2^53 − 1).",
    );
  }
  if (request.id < 1) {
    const named = request.id < Number.MIN_SAFE_INTEGER ? "" : ` ${request.id}`; // `${-0}` is "0"
    throw new ProtocolError("not_found", `❌ No existe el pedido${named}: los ids empiezan en 1.`);
  }
  return request;
}

function parseEstado(args: Args): Extract<Request, { op: "ESTADO" }> {
  const id = parseId(args);
  const esperar = own(args, "esperar") ?? false;
  if (typeof esperar !== "boolean") {
    throw badField("esperar", '❌ El campo "esperar" debe ser true o false.');
  }
  const timeout = own(args, "timeout_ms") ?? DEFAULT_TIMEOUT_MS;
  // However large (1e400 reads as Infinity), it is capped.
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw badField(
      "timeout_ms",
      '❌ El campo "timeout_ms" debe ser un número de milisegundos mayor o igual a 0.',
    );
  }
  return { op: "ESTADO", id, esperar, timeoutMs: Math.min(timeout, MAX_TIMEOUT_MS) };
}

function parseFilter(args: Args): ListFilter {
  const estado = own(args, "estado") ?? undefined;
  if (estado !== undefined && !ESTADOS.includes(estado as Estado)) {
    throw badField(
      "estado",
      `❌ El campo "estado" debe ser uno de: ${ESTADOS.map((e) => `"${e}"`).join(", ")}.`,
    );
  }
  const cliente = own(args, "cliente") ?? undefined;
  if (cliente !== undefined && (typeof cliente !== "string" || !cliente.isWellFormed())) {
    throw badField("cliente", '❌ El campo "cliente" debe ser un texto (Unicode válido).');
  }
  const limit = own(args, "limit") ?? LISTAR_DEFAULT_LIMIT;
  if (!isBound(limit)) {
    throw badField(
      "limit",
      `❌ El campo "limit" debe ser un número entero mayor o igual a 1 (máximo ${LISTAR_MAX_LIMIT}).`,
    );
  }
  const antesDe = own(args, "antes_de") ?? undefined;
  if (antesDe !== undefined && !isBound(antesDe)) {
    throw badField(
      "antes_de",
      '❌ El campo "antes_de" debe ser un id: un número entero mayor o igual a 1.',
    );
  }
  const filter: ListFilter = { limit: Math.min(limit, LISTAR_MAX_LIMIT) };
  if (estado !== undefined) filter.estado = estado as Estado;
  // Stored names are trimmed (§2.1): a filter matches the name as it was sent.
  if (cliente !== undefined) filter.cliente = trimSpace(cliente);
  // Every id is below the largest safe integer: a larger bound excludes nothing more.
  if (antesDe !== undefined) filter.antesDe = Math.min(antesDe, Number.MAX_SAFE_INTEGER);
  return filter;
}

function parseTask(args: Args): TaskSpec {
  const task = own(args, "task");
  if (!isPlainObject(task)) {
    throw new ProtocolError(
      "invalid_task",
      '❌ Falta la tarea: envíe "task": {"name": "sum", "args": [1, 2]}.',
      { campo: "task" },
    );
  }
  const name = own(task, "name");
  if (typeof name !== "string") {
    throw new ProtocolError(
      "invalid_task",
      '❌ La tarea necesita un nombre en "name": sum, upper o lower.',
      { campo: "task.name" },
    );
  }
  switch (name) {
    case "sum": {
      const list = own(task, "args");
      if (!Array.isArray(list) || !list.every(isFiniteNumber)) {
        // Which item is wrong, and how: a number like 1e400 is a number to its sender.
        const items: unknown[] = Array.isArray(list) ? list : [];
        const bad = items.findIndex((item) => !isFiniteNumber(item));
        throw new ProtocolError(
          "invalid_task",
          bad === -1
            ? '❌ La tarea sum necesita "args": una lista de números.'
            : typeof items[bad] === "number"
            ? `❌ El número args[${bad}] de la tarea sum es demasiado grande (más de ±1.8e308).`
            : `❌ La tarea sum necesita "args": una lista de números; args[${bad}] no es un número.`,
          { campo: "task.args" },
        );
      }
      return { name, args: list };
    }
    case "upper":
    case "lower": {
      const s = own(task, "s");
      if (typeof s !== "string" || !s.isWellFormed()) {
        throw new ProtocolError(
          "invalid_task",
          typeof s === "string"
            ? `❌ La tarea ${name} necesita "s": un texto de Unicode válido (sin sustitutos sueltos).`
            : `❌ La tarea ${name} necesita "s": un texto.`,
          { campo: "task.s" },
        );
      }
      return { name, s };
    }
  }
  throw new ProtocolError(
    "unknown_task",
    `❌ Tarea desconocida: ${echo(name)}. Use sum, upper o lower.`,
    { campo: "task.name" },
  );
}

/**
 * `usuario` (or its alias `username`) and `password` of REGISTRO and LOGIN.
 * Only a new name (`registering`) must have its combining marks on letters
 * and not pass for another ({@linkcode lookalike}): one registered before
 * those rules still signs in.
 */
function parseCredentials(args: Args, registering: boolean): Credentials {
  const given = own(args, "usuario") ?? own(args, "username");
  // One form of each name: "josé" typed with a combining accent is the same account.
  const usuario = typeof given === "string" && given.isWellFormed() ? given.normalize("NFC") : null;
  if (
    usuario === null || !USUARIO_REGEXP.test(usuario) ||
    (registering && !USUARIO_MARKS_REGEXP.test(usuario))
  ) {
    throw new ProtocolError("invalid_user", USUARIO_RULE, { campo: "usuario" });
  }
  if (registering && lookalike(usuario)) {
    throw new ProtocolError("invalid_user", USUARIO_LOOKALIKE_RULE, { campo: "usuario" });
  }
  const password = own(args, "password");
  if (typeof password !== "string") {
    throw new ProtocolError(
      "invalid_user",
      password === undefined || password === null
        ? `❌ Falta la contraseña: "password", un texto de ${MIN_PASSWORD_CHARS} a ${MAX_PASSWORD_CHARS} caracteres.`
        : `❌ La contraseña debe ser un texto entre comillas, de ${MIN_PASSWORD_CHARS} a ${MAX_PASSWORD_CHARS} caracteres.`,
      { campo: "password" },
    );
  }
  // Counted in its composed form (NFC), the form it is hashed in: "contraseña"
  // is 10 characters whether its ñ came precomposed or as n + a combining
  // tilde. (No composition joins more than four code points into one: a
  // password that long as typed is too long in any form.)
  const typed = codePoints(password, 4 * MAX_PASSWORD_CHARS + 1);
  const chars = typed > 4 * MAX_PASSWORD_CHARS
    ? typed
    : codePoints(password.normalize("NFC"), MAX_PASSWORD_CHARS + 1);
  if (chars < MIN_PASSWORD_CHARS || chars > MAX_PASSWORD_CHARS) {
    throw new ProtocolError(
      "invalid_user",
      `❌ La contraseña debe tener de ${MIN_PASSWORD_CHARS} a ${MAX_PASSWORD_CHARS} caracteres.`,
      { campo: "password" },
    );
  }
  // Of the right length but not text: say so, not that its length is wrong.
  if (!password.isWellFormed()) {
    throw new ProtocolError(
      "invalid_user",
      "❌ La contraseña debe ser un texto de Unicode válido (sin sustitutos UTF-16 sueltos).",
      { campo: "password" },
    );
  }
  // The hash (scrypt's HMAC key) pads a password with NULs: "pass\0" would
  // sign in as "pass". No one types one; refused at sign-up and sign-in alike.
  if (password.includes("\u0000")) {
    throw new ProtocolError(
      "invalid_user",
      "❌ La contraseña no puede contener el carácter NUL (U+0000).",
      { campo: "password" },
    );
  }
  return { usuario, password: new Secret(password) };
}

/** The session `token` of GET_TAREAS_HTML; anything unusable is `unauthorized`. */
function parseToken(args: Args): Secret {
  const token = own(args, "token");
  if (typeof token !== "string" || token === "" || token.length > MAX_TOKEN_CHARS) {
    throw new ProtocolError("unauthorized", undefined, { campo: "token" });
  }
  return new Secret(token);
}

/** What a session token the daemon issues looks like: 32 random bytes, base64url. */
const SESSION_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/**
 * `request` with the optional session `token` of the order operations, an
 * extension of the contract (docs/protocol.md §2.10). Only a value shaped
 * like a token the daemon issues is read as one (one that names no live
 * session is then `unauthorized`); any other `token` is what the contract
 * says of a field it does not define: ignored (§2.1), so a client that
 * happens to send one is served as if it had not.
 */
function withToken<R extends Request>(request: R, args: Args): R {
  const token = own(args, "token");
  if (typeof token !== "string" || !SESSION_TOKEN.test(token)) return request;
  return { ...request, token: new Secret(token) };
}

/** The number of code points in `text`, counting no further than `limit`. */
export function codePoints(text: string, limit: number): number {
  let count = 0;
  for (const _ of text) if (++count >= limit) break;
  return count;
}

function isPlainObject(value: unknown): value is Args {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * An integer ≥ 1, however large (a `limit`, `antes_de` or `id`: clamped where
 * used). A number too large for a double, such as `1e400`, is read by JSON as
 * Infinity: as large as any, not a different kind of error than `1e300`.
 */
function isBound(value: unknown): value is number {
  return value === Infinity || (typeof value === "number" && Number.isInteger(value) && value >= 1);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** An own property of `record`, never one inherited through its prototype. */
function own(record: Args, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function badField(campo: string, mensaje: string): ProtocolError {
  return new ProtocolError("invalid_request", mensaje, { campo });
}

/** Client text quoted for a `mensaje`, cut short if long. */
function echo(text: string): string {
  const chars = Array.from(text.slice(0, 2 * ECHO_CHARS)).slice(0, ECHO_CHARS).join("");
  return JSON.stringify(chars.length < text.length ? `${chars}…` : chars);
}
