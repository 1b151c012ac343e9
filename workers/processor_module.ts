/**
 * Processor modules (docs/protocol.md §11), as a processor worker sees them: the
 * operator's ES module is loaded once per worker ({@linkcode loadProcessor})
 * and its default export runs per order ({@linkcode runProcessor}), its
 * result checked and encoded as JSON text for `resultado`.
 *
 * Runs inside the processor workers only: the daemon's main thread never
 * imports an operator's module.
 *
 * @module
 */

import type { Pedido } from "../server/protocol/messages.ts";
import { storableJson } from "./storable_text.ts";

/** What a processor module's default export is called with, besides the order. */
export interface ProcessorContext {
  /**
   * Fires when the attempt runs past `--process-timeout-ms`. (Not when the
   * daemon stops: a stop waits for the attempt, up to `--drain-timeout-ms`,
   * and an attempt still running then is run again at the next start.)
   */
  signal: AbortSignal;
  /** This attempt's number, 1 for the first. */
  intento: number;
}

/** A processor module's default export. */
export type ProcessorFunction = (pedido: Pedido, context: ProcessorContext) => unknown;

/** The largest `resultado`, in bytes of its JSON text (§5). */
export const MAX_RESULT_BYTES = 65536;

/** The longest failure message kept in `detalle_error`, in characters. */
export const MAX_ERROR_CHARS = 2000;

/** Where a processor module is: the URL imported, and the path as the operator gave it. */
export interface ProcessorSource {
  /** The module's URL (`file:` for a path). */
  url: string;
  /** As given to `--processor`, for messages. */
  path: string;
}

/**
 * Imports a processor module and checks that its default export is a function.
 *
 * @param source The module.
 * @returns Its default export.
 * @throws {Error} `Cannot load processor module "PATH": REASON` when the
 * import fails (no such file, a syntax error, no permission to read it, a
 * throw at top level) or the default export is not a function.
 */
export async function loadProcessor(source: ProcessorSource): Promise<ProcessorFunction> {
  let module: Record<string, unknown>;
  try {
    module = await import(source.url);
  } catch (error) {
    throw new Error(`Cannot load processor module "${source.path}": ${describeError(error)}`, {
      cause: error,
    });
  }
  const fn = module.default;
  if (typeof fn !== "function") {
    const got = fn === null ? "null" : typeof fn;
    throw new Error(
      `Cannot load processor module "${source.path}": its default export must be a function, got ${got}`,
    );
  }
  if (isClass(fn)) {
    throw new Error(
      `Cannot load processor module "${source.path}": its default export must be a function, got a class (it cannot be called without new)`,
    );
  }
  return fn as ProcessorFunction;
}

/** Whether `fn` is a class, which is a function that throws when called without `new`. */
function isClass(fn: unknown): boolean {
  try {
    return /^class[\s{]/.test(Function.prototype.toString.call(fn));
  } catch {
    return false;
  }
}

/**
 * Runs one attempt: calls the module's function and encodes its result.
 *
 * @param onChanged Told the first part of the result that JSON changes
 * (see {@linkcode encodeResult}).
 * @returns The result as JSON text, or null when it returned `undefined`.
 * @throws {Error} With the message to store in `detalle_error`: the
 * function's own (thrown or rejected), or why its result cannot be stored
 * (not JSON-serialisable, larger than {@linkcode MAX_RESULT_BYTES}).
 */
export async function runProcessor(
  fn: ProcessorFunction,
  pedido: Pedido,
  context: ProcessorContext,
  onChanged?: (what: string) => void,
): Promise<string | null> {
  let result: unknown;
  try {
    result = await fn(pedido, context);
  } catch (error) {
    throw new Error(describeError(error), { cause: error });
  }
  return encodeResult(result, onChanged);
}

/**
 * A result as the JSON text stored in `resultado`: as `JSON.stringify`
 * writes it (§11 asks for a JSON-serialisable result, and that is what
 * JSON makes of it), strings made storable.
 *
 * @param onChanged Told, once, the first value JSON keeps less of than the
 * module gave — a `Map`, a `Set`, an `Error` or any other object whose data
 * JSON does not see (written `{}`), a typed array (an object of its
 * indices), `NaN`, an infinity or an invalid `Date` (written `null`), a
 * function (left out) — with where it was (`resultado.totales`): the daemon
 * logs it, since an author who returned a `Map` finds `{}` stored and no
 * error anywhere.
 * @returns The text, or null for `undefined`.
 * @throws {Error} When it is not JSON-serialisable or is too large.
 */
export function encodeResult(
  result: unknown,
  onChanged?: (what: string) => void,
): string | null {
  if (result === undefined) return null;
  let text: string | undefined;
  let noted = onChanged === undefined;
  // The path of each object being written, for the place of a change.
  const paths = new Map<unknown, string>();
  const replacer = noted ? storableJson : function (this: unknown, key: string, value: unknown) {
    const path = key === "" && paths.size === 0
      ? "resultado"
      : `${paths.get(this) ?? "resultado"}${Array.isArray(this) ? `[${key}]` : `.${key}`}`;
    const change = noted ? null : lostInJson((this as Record<string, unknown>)[key], value, this);
    if (change !== null) {
      noted = true;
      onChanged!(`${change} at ${path}`);
    }
    const written = storableJson(key, value);
    if (written !== null && typeof written === "object") paths.set(written, path);
    return written;
  };
  try {
    // Its strings as every store can keep them (U+FFFD for a NUL or a lone surrogate).
    text = JSON.stringify(result, replacer);
  } catch (error) {
    throw new Error(`The result is not JSON-serialisable: ${describeError(error)}`);
  }
  if (text === undefined) {
    const kind = typeof result === "object" && result !== null
      ? "an object whose toJSON() gives undefined"
      : `${article(typeof result)} ${typeof result}`;
    throw new Error(`The result is not JSON-serialisable: ${kind} has no JSON form`);
  }
  // Most texts are far below the limit: count bytes only near it.
  if (text.length * 3 > MAX_RESULT_BYTES) {
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > MAX_RESULT_BYTES) {
      throw new Error(
        `The result is too large: ${bytes} bytes of JSON, at most ${MAX_RESULT_BYTES}`,
      );
    }
  }
  return text;
}

/**
 * What JSON loses of `original` (a property of `holder`) once written as
 * `value` (what its `toJSON`, if any, made of it), or null when it keeps it.
 */
function lostInJson(original: unknown, value: unknown, holder: unknown): string | null {
  if (typeof value === "number" && !Number.isFinite(value)) return `${value}, written null`;
  if (typeof original === "function" || typeof original === "symbol") {
    return `a ${typeof original}, ${Array.isArray(holder) ? "written null" : "left out"}`;
  }
  if (original instanceof Date && Number.isNaN(original.getTime())) {
    return "an invalid Date, written null";
  }
  if (original === null || typeof original !== "object" || original !== value) return null;
  // Written as the primitive it boxes.
  if (original instanceof Number || original instanceof String || original instanceof Boolean) {
    return null;
  }
  // An object written as it is (no toJSON): a class's instance whose data is
  // not in enumerable properties of its own comes out {}, a typed array as
  // an object of its indices.
  const prototype = Object.getPrototypeOf(original);
  if (prototype === Object.prototype || prototype === null || Array.isArray(original)) return null;
  const name = typeof prototype.constructor === "function" && prototype.constructor.name !== ""
    ? prototype.constructor.name
    : "object of a class";
  if (ArrayBuffer.isView(original) && !(original instanceof DataView)) {
    return `${article(name)} ${name}, written as an object of its indices`;
  }
  if (Object.keys(original).length === 0) return `${article(name)} ${name}, written {}`;
  return null;
}

/** "a" or "an" before `word` (a name starting with U, as Uint8Array, takes "a"). */
function article(word: string): string {
  return /^[aeio]/i.test(word) ? "an" : "a";
}

/**
 * Terminal colour and style sequences (`ESC [ … letter`), which Deno puts in
 * some of its errors (a module that cannot be imported) even when its
 * output is not a terminal. (Built from a string: a control character in a
 * regular expression literal is what `no-control-regex` refuses.)
 */
const TERMINAL_SEQUENCE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[ -/]*[@-~]`, "g");

/**
 * A thrown value's message, as stored in `detalle_error` (at most
 * {@linkcode MAX_ERROR_CHARS}), without terminal colour sequences.
 */
export function describeError(error: unknown): string {
  let text: string;
  try {
    if (error instanceof Error) text = String(error.message || error.name);
    else if (typeof error === "string") text = error;
    else if (typeof error === "bigint") text = String(error);
    else text = JSON.stringify(error) ?? String(error);
  } catch {
    text = "(a thrown value that cannot be shown)";
  }
  text = text.replace(TERMINAL_SEQUENCE, "");
  if (text === "") text = "(no message)";
  return cutToCodePoints(text, MAX_ERROR_CHARS);
}

/**
 * `text` when it has at most `max` code points (§8: characters in limits are
 * code points); else its first `max - 1` and "…". Never splits a surrogate
 * pair: a cut in UTF-16 units would leave half an emoji, stored as U+FFFD.
 */
function cutToCodePoints(text: string, max: number): string {
  // Every code point is one or two UTF-16 units.
  if (text.length <= max) return text;
  let count = 0;
  // UTF-16 units of the first max - 1 code points.
  let kept = 0;
  for (const char of text) {
    count++;
    if (count > max) return `${text.slice(0, kept)}…`;
    if (count < max) kept += char.length;
  }
  return text;
}
