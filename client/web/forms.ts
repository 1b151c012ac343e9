/**
 * What the gateway's forms need besides the pages: reading form fields,
 * turning the daemon's refusals into words and HTTP statuses.
 *
 * @module
 */

import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorCode } from "../../server/protocol/errors.ts";
import type { Producto } from "../../server/protocol/messages.ts";
import type { ErrorReply } from "../../server/protocol/replies.ts";

/**
 * HTTP status of each daemon error code, in one place. `too_large` is a
 * form too large for the daemon once encoded (the gateway answers it
 * itself, unsent: `request_size.ts`): 413, as a body over the gateway's own
 * limit. Codes the gateway's requests cannot meet (`internal`, and the
 * v1.1 codes of CANCELAR/REINTENTAR and the store) are a bad gateway: 502.
 */
export function statusFor(code: ErrorCode | undefined): ContentfulStatusCode {
  switch (code) {
    case "invalid_json":
    case "invalid_request":
    case "invalid_order":
    case "invalid_task":
    case "unknown_task":
    case "invalid_user":
      return 422;
    case "bad_credentials":
    case "unauthorized":
      return 401;
    case "user_exists":
      return 409;
    case "too_large":
      return 413;
    case "not_found":
    case "unknown_op":
      return 404;
    case "queue_full":
    case "busy":
    case "shutting_down":
      return 503;
    default:
      return 502;
  }
}

/**
 * The daemon's words for a form's user, who typed lines, not JSON: a
 * product is named by its place (`productos[2]` → `n.º 3`), and the shape
 * of the list by how it is typed.
 */
function forPeople(mensaje: string): string {
  return mensaje
    .replace(/\(lista de 1 a (\d+) productos, cada uno [^)]*\}\)/, "(de 1 a $1, uno por línea)")
    // The protocol's field names are for programs: "(campo "direccion", texto de …)" → "(texto de …)".
    .replace(/\(campo "[^"]*", /g, "(")
    .replace(/productos\[(\d+)\](?:\.\w+)?/g, (_, i: string) => `n.º ${Number(i) + 1}`);
}

/** The daemon's refusal in words, for people. */
export function refusal(reply: ErrorReply): string {
  const mensaje = forPeople(reply.mensaje ?? "❌ El servidor rechazó la solicitud.");
  return reply.error === "queue_full"
    ? `${mensaje} El servidor está a plena capacidad: todos sus lugares están ocupados.`
    : mensaje;
}

/**
 * `NAME x2`, `NAME x 2`, `NAME ×2`, `NAME×2`: an `x` counts only after a
 * space (`Xbox 360`, `Fox 2`, `tornillo 4x40` are names), a `×` anywhere.
 * A count out of range (`x0`, `x-1`, twenty digits) is still a count, for
 * the daemon to refuse saying which are allowed, not a name `pan x-1`. Only
 * whole digits are a count: `Tubo x 1,5`, `Resistencia x 4.7` and
 * `Clavos x 1.000` (a thousand, in Spanish) are names, as typed.
 */
const PRODUCT_COUNT_REGEXP = /^(.*?)(?:\s+x|\s*×)\s*([-+]?\d+)$/i;
const NUMBER_REGEXP = /^[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?$/i;
const DECIMAL_COMMA_REGEXP = /^[-+]?\d+,\d+$/;

/** Textarea lines → `productos`: `pan`, `pan x2` → `{nombre: "pan", cantidad: 2}`. */
export function parseProductos(text: string): Producto[] {
  return text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "").map(
    (line) => {
      const match = PRODUCT_COUNT_REGEXP.exec(line);
      if (match === null || match[1] === "") return line;
      return { nombre: match[1]!, cantidad: Number(match[2]) };
    },
  );
}

/** `1 2; 3,5 x` → `[1, 2, 3.5, "x"]`: what is not a number goes as text, for the daemon to judge. */
export function parseNumbers(text: string): (number | string)[] {
  return text.split(/[\s;]+/).filter((item) => item !== "").map((item) => {
    const value = NUMBER_REGEXP.test(item)
      ? Number(item)
      : DECIMAL_COMMA_REGEXP.test(item)
      ? Number(item.replace(",", "."))
      : NaN;
    // Past a double's range (1e400) a number reads as Infinity, which JSON
    // sends as null: kept as typed, for the form to say it is too large.
    return Number.isFinite(value) ? value : item;
  });
}

/** Whether `item`, as {@linkcode parseNumbers} kept it, is a number too large for a double. */
export function isTooLarge(item: string): boolean {
  return NUMBER_REGEXP.test(item) || DECIMAL_COMMA_REGEXP.test(item);
}

/** A text field of a parsed form; `""` when missing or a file. */
export function field(form: Record<string, unknown>, name: string): string {
  const value = form[name];
  return typeof value === "string" ? value : "";
}
