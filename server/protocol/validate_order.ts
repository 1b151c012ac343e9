/**
 * Validation of an order (`docs/protocol.md` §2.1 and §8): the rules of each field,
 * and the normalised {@linkcode PedidoNuevo} that is stored.
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";
import type { PedidoNuevo, Producto } from "./messages.ts";

const MAX_CLIENTE = 200;
const MAX_PRODUCTOS = 100;
const MAX_NOMBRE = 200;
const MAX_DIRECCION = 500;
const MAX_CLAVE = 128;

/** Marks a value that is missing (absent or null), or a string empty after trimming. */
const EMPTY_TEXT: unique symbol = Symbol("empty");
/** Marks a value given that is not a string (a number, a list, …). */
const NOT_TEXT: unique symbol = Symbol("not text");
/** Marks a string longer than allowed after trimming. */
const LONG_TEXT: unique symbol = Symbol("long");
/** Marks a text holding a NUL character. */
const HAS_NUL: unique symbol = Symbol("nul");
/** Marks a text holding a lone surrogate (`"\ud800"`): not Unicode, it cannot be stored as UTF-8. */
const LONE_SURROGATE: unique symbol = Symbol("surrogate");

const PRODUCT_SHAPE = 'un texto o {"nombre": texto, "cantidad": entero ≥ 1}';

/**
 * Checks an order and returns it normalised: `cliente`, `direccion` and
 * product names trimmed, product objects reduced to `{nombre, cantidad}`
 * (`cantidad` 1 when absent), `dirección` read as `direccion`, `clave` null
 * when absent, unknown fields dropped. Lengths count Unicode code points.
 * Only own properties are read. A field that is `null` counts as absent.
 *
 * @param value The order object (a bare order, or the arguments of PEDIDO).
 * @returns The order, ready to store.
 * @throws {ProtocolError} `invalid_order`, with `campo` naming the first bad
 * field, checked in the order `cliente`, `productos` (or `productos[i]`,
 * `productos[i].nombre`, `productos[i].cantidad`), `direccion`, `clave`.
 *
 * @example Usage
 * ```ts
 * import { validateOrder } from "./validate_order.ts";
 * const order = validateOrder({
 *   cliente: " Ana ",
 *   productos: ["pan", { nombre: "agua", cantidad: 2, nota: "fría" }],
 *   dirección: "Calle 1",
 * });
 * console.log(order);
 * // { cliente: "Ana", productos: ["pan", { nombre: "agua", cantidad: 2 }], direccion: "Calle 1", clave: null }
 * ```
 */
export function validateOrder(value: Record<string, unknown>): PedidoNuevo {
  const cliente = trimmedText(own(value, "cliente"), MAX_CLIENTE);
  if (cliente === HAS_NUL) throw hasNul("cliente", "El cliente");
  if (cliente === LONE_SURROGATE) throw loneSurrogate("cliente", "El cliente");
  if (cliente === EMPTY_TEXT) {
    throw invalid("cliente", `❌ Falta el cliente (texto de 1 a ${MAX_CLIENTE} caracteres).`);
  }
  if (cliente === NOT_TEXT) {
    throw invalid("cliente", `❌ El cliente debe ser un texto de 1 a ${MAX_CLIENTE} caracteres.`);
  }
  if (cliente === LONG_TEXT) {
    throw invalid(
      "cliente",
      `❌ El cliente es demasiado largo (máximo ${MAX_CLIENTE} caracteres).`,
    );
  }

  const productos = validateProductos(own(value, "productos"));

  let rawDireccion = own(value, "direccion");
  if (rawDireccion === undefined || rawDireccion === null) rawDireccion = own(value, "dirección");
  const direccion = trimmedText(rawDireccion, MAX_DIRECCION);
  if (direccion === HAS_NUL) throw hasNul("direccion", "La dirección");
  if (direccion === LONE_SURROGATE) throw loneSurrogate("direccion", "La dirección");
  if (direccion === EMPTY_TEXT) {
    throw invalid(
      "direccion",
      `❌ Falta la dirección (campo "direccion", texto de 1 a ${MAX_DIRECCION} caracteres).`,
    );
  }
  if (direccion === NOT_TEXT) {
    throw invalid(
      "direccion",
      `❌ La dirección (campo "direccion") debe ser un texto de 1 a ${MAX_DIRECCION} caracteres.`,
    );
  }
  if (direccion === LONG_TEXT) {
    throw invalid(
      "direccion",
      `❌ La dirección es demasiado larga (máximo ${MAX_DIRECCION} caracteres).`,
    );
  }

  const rawClave = own(value, "clave");
  let clave: string | null = null;
  if (rawClave !== undefined && rawClave !== null) {
    if (typeof rawClave !== "string" || rawClave.length === 0 || !fits(rawClave, MAX_CLAVE)) {
      throw invalid("clave", `❌ La clave debe ser un texto de 1 a ${MAX_CLAVE} caracteres.`);
    }
    if (rawClave.includes("\u0000")) throw hasNul("clave", "La clave");
    if (!rawClave.isWellFormed()) throw loneSurrogate("clave", "La clave");
    clave = rawClave;
  }

  return { cliente, productos, direccion, clave };
}

function validateProductos(raw: unknown): Producto[] {
  if (raw !== undefined && raw !== null && !Array.isArray(raw)) {
    throw invalid(
      "productos",
      `❌ El campo "productos" debe ser una lista de 1 a ${MAX_PRODUCTOS} productos, cada uno ${PRODUCT_SHAPE}.`,
    );
  }
  if (!Array.isArray(raw) || raw.length === 0) {
    throw invalid(
      "productos",
      `❌ Faltan los productos (lista de 1 a ${MAX_PRODUCTOS} productos, cada uno ${PRODUCT_SHAPE}).`,
    );
  }
  if (raw.length > MAX_PRODUCTOS) {
    throw invalid(
      "productos",
      `❌ Demasiados productos: ${raw.length} (máximo ${MAX_PRODUCTOS}).`,
    );
  }
  const productos: Producto[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const item: unknown = raw[i];
    const path = `productos[${i}]`;
    if (typeof item === "string") {
      productos[i] = productName(item, path, path);
    } else if (typeof item === "object" && item !== null && !Array.isArray(item)) {
      const record = item as Record<string, unknown>;
      const nombre = productName(own(record, "nombre"), `${path}.nombre`, path);
      let cantidad = own(record, "cantidad");
      if (cantidad === undefined || cantidad === null) cantidad = 1;
      if (typeof cantidad !== "number" || !Number.isSafeInteger(cantidad) || cantidad < 1) {
        throw invalid(
          `${path}.cantidad`,
          `❌ La cantidad del producto ${path} debe ser un número entero de 1 a ` +
            `${Number.MAX_SAFE_INTEGER}.`,
        );
      }
      productos[i] = { nombre, cantidad };
    } else {
      throw invalid(path, `❌ El producto ${path} no es válido: use ${PRODUCT_SHAPE}.`);
    }
  }
  return productos;
}

/** A product name (a string item, or `nombre` of an object item), trimmed. */
function productName(raw: unknown, campo: string, path: string): string {
  const nombre = trimmedText(raw, MAX_NOMBRE);
  if (nombre === HAS_NUL) throw hasNul(campo, `El nombre del producto ${path}`);
  if (nombre === LONE_SURROGATE) {
    throw loneSurrogate(campo, `El nombre del producto ${path}`);
  }
  if (nombre === EMPTY_TEXT) {
    throw invalid(
      campo,
      `❌ Falta el nombre del producto ${path} (texto de 1 a ${MAX_NOMBRE} caracteres).`,
    );
  }
  if (nombre === NOT_TEXT) {
    throw invalid(
      campo,
      `❌ El nombre del producto ${path} debe ser un texto de 1 a ${MAX_NOMBRE} caracteres.`,
    );
  }
  if (nombre === LONG_TEXT) {
    throw invalid(
      campo,
      `❌ El nombre del producto ${path} es demasiado largo (máximo ${MAX_NOMBRE} caracteres).`,
    );
  }
  return nombre;
}

/**
 * `raw` trimmed if it is a string of 1 to `max` code points after trimming
 * and holds no NUL (SQLite keeps a NUL inside TEXT, but `node:sqlite` reads
 * TEXT only up to it: the field would come back cut short) and no lone
 * surrogate (stored as UTF-8 it would silently become U+FFFD).
 */
function trimmedText(
  raw: unknown,
  max: number,
):
  | string
  | typeof EMPTY_TEXT
  | typeof NOT_TEXT
  | typeof LONG_TEXT
  | typeof HAS_NUL
  | typeof LONE_SURROGATE {
  if (raw === undefined || raw === null) return EMPTY_TEXT;
  if (typeof raw !== "string") return NOT_TEXT;
  if (raw.includes("\u0000")) return HAS_NUL;
  if (!raw.isWellFormed()) return LONE_SURROGATE;
  const text = trimSpace(raw);
  if (text.length === 0) return EMPTY_TEXT;
  return fits(text, max) ? text : LONG_TEXT;
}

/**
 * `text` without white space at either end: what `String.prototype.trim`
 * removes, and NEL (U+0085), the one character of Unicode's White_Space
 * that it keeps. (Scanned a character at a time: `\s+$` tried at every
 * space of a long run of them takes time quadratic in its length.)
 */
export function trimSpace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && SPACE.test(text[start]!)) start++;
  while (end > start && SPACE.test(text[end - 1]!)) end--;
  return text.slice(start, end);
}

const SPACE = /^[\s\u0085]$/;

/** Whether `text` has at most `max` Unicode code points. */
function fits(text: string, max: number): boolean {
  // Every code point takes one or two UTF-16 code units.
  if (text.length <= max) return true;
  if (text.length > 2 * max) return false;
  let count = 0;
  for (const _ of text) {
    if (++count > max) return false;
  }
  return true;
}

/** An own property of `record`, never one inherited through its prototype. */
function own(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function hasNul(campo: string, what: string): ProtocolError {
  return invalid(campo, `❌ ${what} no puede contener el carácter NUL (\\u0000).`);
}

function loneSurrogate(campo: string, what: string): ProtocolError {
  return invalid(
    campo,
    `❌ ${what} contiene un carácter inválido: un sustituto UTF-16 suelto (\\ud800–\\udfff).`,
  );
}

function invalid(campo: string, mensaje: string): ProtocolError {
  return new ProtocolError("invalid_order", mensaje, { campo });
}
