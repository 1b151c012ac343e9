/**
 * Replies for people, in Spanish like the daemon: what `pedidos client`
 * prints without `--json`. Pure: no I/O.
 *
 * @module
 */

import type { Pedido, Producto } from "../server/protocol/messages.ts";
import type { ErrorReply, Reply, Stats } from "../server/protocol/replies.ts";
import { columns as width, cutToColumns as cut } from "./text_width.ts";

/** `text` filled with spaces to `size` terminal columns, on the left when `right`. */
function pad(text: string, size: number, right = false): string {
  const fill = " ".repeat(Math.max(0, size - width(text)));
  return right ? fill + text : text + fill;
}

/**
 * What a terminal would act on, or draw as nothing, rather than show: any
 * client may store it in an order, and `\x1b[2J` in a `cliente` would clear
 * the screen of whoever lists it, while an invisible character makes one
 * name pass for another or reorders what follows it. By Unicode category:
 * - `Cc`, control characters: C0, DEL, C1 (`U+0085` too);
 * - `Cf`, format characters: every bidirectional control (Unicode's
 *   Bidi_Control list: `U+061C`, `U+200E`, `U+200F`, `U+202A`–`U+202E`,
 *   `U+2066`–`U+2069`), the zero-width `U+200B`–`U+200D`, `U+2060`–`U+2064`,
 *   `U+FEFF`, the soft hyphen `U+00AD`, the tag characters `U+E0000`–`U+E007F`;
 * - `Zl` and `Zp`, the line and paragraph separators `U+2028`, `U+2029`.
 *
 * But for the zero-width joiner and non-joiner between two characters of
 * the scripts and emoji that use them ({@linkcode printable}).
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * `text` with what a terminal would act on or draw as nothing shown as
 * escapes ({@linkcode UNPRINTABLE}): `\n`, `\r`, `\t`, else `\u001b`, and
 * `\u{e0041}` past U+FFFF.
 */
export function printable(text: string): string {
  return text.replace(
    UNPRINTABLE,
    (c, at: number) => joinsWithin(c, text, at) ? c : ESCAPES[c] ?? escape(c.codePointAt(0)!),
  );
}

/**
 * Whether `c`, at `at` in `text`, is a zero-width joiner or non-joiner
 * between two characters of {@linkcode JOINED}: there it is part of the
 * text (Persian and Indic words, emoji such as 👩‍💻), kept as it is;
 * anywhere else (beside Latin letters, at an end, beside another invisible
 * character) it could only make one name pass for another, and is escaped.
 */
function joinsWithin(c: string, text: string, at: number): boolean {
  if (c !== "\u200c" && c !== "\u200d") return false;
  const before = at > 0 ? text.codePointAt(at - 1) : undefined;
  // The character before may be the low half of a surrogate pair.
  const previous = before !== undefined && before >= 0xdc00 && before <= 0xdfff && at > 1
    ? text.codePointAt(at - 2)
    : before;
  const next = text.codePointAt(at + 1);
  return [previous, next].every((code) =>
    code !== undefined && JOINED.test(String.fromCodePoint(code))
  );
}

/**
 * Characters between which a joiner or non-joiner has a meaning: the
 * scripts that join or form conjuncts (Arabic, Syriac, N'Ko, Mongolian, the
 * Indic scripts), emoji, their skin tones and the emoji presentation
 * selector. Between two Latin, Cyrillic or Han letters it has none, and
 * could only make one name pass for another (`Mü\u200dñoz`).
 */
const JOINED =
  /^[\p{Script=Arabic}\p{Script=Syriac}\p{Script=Nko}\p{Script=Mongolian}\p{Script=Devanagari}\p{Script=Bengali}\p{Script=Gurmukhi}\p{Script=Gujarati}\p{Script=Oriya}\p{Script=Tamil}\p{Script=Telugu}\p{Script=Kannada}\p{Script=Malayalam}\p{Script=Sinhala}\p{Extended_Pictographic}\p{Emoji_Modifier}\ufe0f]$/u;

/** `\u001b`, or `\u{e0041}` for a code point past U+FFFF. */
function escape(code: number): string {
  const hex = code.toString(16);
  return code > 0xffff ? `\\u{${hex}}` : `\\u${hex.padStart(4, "0")}`;
}

const ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function text(value: unknown): string {
  if (value === null || value === undefined) return "—";
  return printable(typeof value === "string" ? value : JSON.stringify(value));
}

/** `850 ms`, `1.98 s`, or `—`. */
function duration(ms: number | null): string {
  if (typeof ms !== "number") return "—";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** `pan, agua ×2` (a `cantidad` left out is 1, §8). */
function summariseProductos(productos: Producto[]): string {
  if (!Array.isArray(productos)) return text(productos);
  return productos.map((item) => {
    if (typeof item === "string") return printable(item);
    if (typeof item !== "object" || item === null) return text(item);
    const nombre = text(item.nombre);
    const cantidad = item.cantidad ?? 1;
    return cantidad === 1 ? nombre : `${nombre} ×${text(cantidad)}`;
  }).join(", ");
}

/** Aligned `key: value` lines. */
function keyValues(entries: [string, string][]): string {
  const size = Math.max(0, ...entries.map(([key]) => width(key))) + 1;
  return entries.map(([key, value]) => `${pad(`${key}:`, size)} ${value}`).join("\n") + "\n";
}

function describePedido(pedido: Pedido, timeout: boolean): string {
  const entries = Object.entries(pedido).map(([key, value]): [string, string] => {
    if (key === "productos") return [key, summariseProductos(pedido.productos)];
    if (key === "duracion_ms") return ["duracion", duration(pedido.duracion_ms)];
    return [printable(key), text(value)];
  });
  if (timeout) entries.push(["espera", "⌛ se agotó antes de que terminara"]);
  return keyValues(entries);
}

/** LISTAR's table. */
function describeTable(pedidos: Pedido[]): string {
  if (pedidos.length === 0) return "(sin pedidos)\n";
  const header = ["ID", "ESTADO", "CLIENTE", "PRODUCTOS", "RECIBIDO", "DURACIÓN", "RESULTADO"];
  const rows = pedidos.map((p) => [
    text(p.id),
    text(p.estado),
    cut(text(p.cliente), 24),
    cut(summariseProductos(p.productos), 32),
    text(p.fecha_recibido),
    duration(p.duracion_ms),
    p.estado === "error" ? cut(text(p.detalle_error), 32) : cut(text(p.resultado ?? null), 32),
  ]);
  // A loop, not Math.max(...rows): a spread of many rows overflows the stack.
  const sizes = header.map((h, i) =>
    rows.reduce((most, row) => Math.max(most, width(row[i] ?? "")), width(h))
  );
  const line = (row: string[]) =>
    row.map((cell, i) => pad(cell, sizes[i] ?? 0, i === 0 || i === 5)).join("  ").trimEnd();
  return [header, ...rows].map(line).join("\n") +
    `\n(${rows.length} ${rows.length === 1 ? "pedido" : "pedidos"})\n`;
}

/**
 * Every counter of {@linkcode Stats}, in the order shown, and its kind. A
 * `Record`, so a counter added to `Stats` does not compile until it is
 * shown here (and checked: `check_reply.ts`).
 */
export const STATS_SHOWN: Record<keyof Stats, "count" | "durations" | "seconds"> = {
  recibidos: "count",
  aceptados: "count",
  rechazados: "count",
  pendientes: "count",
  en_proceso: "count",
  listos: "count",
  errores: "count",
  cancelados: "count",
  capacidad: "count",
  libres: "count",
  workers: "count",
  conexiones: "count",
  duracion_ms: "durations",
  uptime_s: "seconds",
};

/** One line per counter; one a daemon does not send (an older one) shows `—`. */
function describeStats(stats: Stats): string {
  const entries = Object.entries(STATS_SHOWN).map(([key, kind]): [string, string] => {
    const value: unknown = stats[key as keyof Stats];
    if (value === undefined) return [key, "—"];
    if (kind === "seconds") return [key, `${text(value)} s`];
    if (kind === "count") return [key, text(value)];
    const parts = Object.entries(stats.duracion_ms).map(([name, v]) =>
      `${printable(name)} ${text(v)}`
    );
    return [key, parts.join(" · ")];
  });
  return keyValues(entries);
}

function describeError(reply: ErrorReply): string {
  const campo = typeof reply.campo === "string" ? `, campo ${printable(reply.campo)}` : "";
  // A peer that is not the daemon may leave either out.
  const mensaje = typeof reply.mensaje === "string"
    ? printable(reply.mensaje)
    : "❌ El servidor rechazó la solicitud.";
  const error = typeof reply.error === "string" ? printable(reply.error) : "sin código";
  return `${mensaje} (${error}${campo})\n`;
}

/** Whether `value` is an object (not an array, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The operation a reply answers, told from its fields, when the request is not known. */
function answeredOp(reply: Record<string, unknown>): string | null {
  if (reply.pong === true) return "PING";
  if ("result" in reply) return "TASK";
  if (Array.isArray(reply.pedidos)) return "LISTAR";
  if (isObject(reply.stats)) return "STATS";
  if (isObject(reply.pedido)) return "ESTADO";
  if ("id" in reply) return "PEDIDO";
  return null;
}

/**
 * A reply for people. `op` is the operation of the request it answers
 * (`PEDIDO` for a bare order, as `check_reply.ts` reads it, which has
 * checked the fields shown for it): only those fields are shown, every
 * string as {@linkcode printable}; a reply to another operation (an
 * account's, one unknown, or one that cannot be told) is shown as its
 * JSON, made printable. Without `op`, it is told from the reply's fields.
 *
 * @example Usage
 * ```ts
 * import { describeReply } from "./describe_reply.ts";
 * console.log(describeReply({ ok: true, id: 42, estado: "pendiente", mensaje: "✅" }));
 * // ✅ Pedido 42 recibido (pendiente)
 * ```
 */
export function describeReply(reply: Reply, op?: string | null): string {
  if (!reply.ok) return describeError(reply);
  const fields = reply as unknown as Record<string, unknown>;
  switch (op === undefined ? answeredOp(fields) : op) {
    case "PING":
      return "pong\n";
    case "TASK":
      return `${text(fields.result)}\n`;
    case "LISTAR":
      if (Array.isArray(fields.pedidos)) return describeTable(fields.pedidos as Pedido[]);
      break;
    case "STATS":
      if (isObject(fields.stats)) return describeStats(fields.stats as unknown as Stats);
      break;
    case "ESTADO":
    case "CANCELAR":
    case "REINTENTAR":
      if (isObject(fields.pedido)) {
        return describePedido(fields.pedido as unknown as Pedido, fields.timeout === true);
      }
      break;
    case "PEDIDO": {
      const [id, estado] = [text(fields.id), text(fields.estado)];
      return fields.duplicado === true
        ? `✅ Pedido ${id} ya recibido antes con esa clave (${estado})\n`
        : `✅ Pedido ${id} recibido (${estado})\n`;
    }
  }
  return `${printable(JSON.stringify(reply))}\n`;
}

/**
 * The end of a wait for people: `✅ Pedido 42 listo en 1.98 s (worker 2)`,
 * or how it ended otherwise (error, cancelled, the wait ran out).
 */
export function describeFinal(reply: Reply): string {
  if (!reply.ok || !("pedido" in reply) || !isObject(reply.pedido)) {
    return describeReply(reply, "ESTADO");
  }
  const p = reply.pedido;
  const [id, estado] = [text(p.id), text(p.estado)];
  if (reply.timeout === true) return `⌛ Pedido ${id} sigue ${estado}: se agotó la espera\n`;
  switch (p.estado) {
    case "error":
      return `❌ Pedido ${id} terminó con error en ${duration(p.duracion_ms)}: ${
        text(p.detalle_error)
      }\n`;
    case "cancelado":
      return `🚫 Pedido ${id} cancelado\n`;
    default: {
      const worker = p.worker === null || p.worker === undefined
        ? ""
        : ` (worker ${text(p.worker)})`;
      return `✅ Pedido ${id} ${estado} en ${duration(p.duracion_ms)}${worker}\n`;
    }
  }
}

/**
 * A wait the daemon ended before its time because it is stopping (at the
 * end of its drain it answers every wait with the order's state then and
 * `"timeout":true`): the order was received and is kept, and where to look
 * for it. Not "se agotó la espera": the time asked for had not passed.
 */
export function describeWaitCutShort(reply: Reply): string {
  const p = reply.ok && "pedido" in reply && isObject(reply.pedido) ? reply.pedido : null;
  const [id, estado] = [text(p?.id), text(p?.estado)];
  return `⏹️ El servidor se está deteniendo y terminó la espera antes de tiempo: el pedido ${id} ` +
    `sigue ${estado}. Fue recibido y se conserva; seguirá cuando el servidor vuelva a estar en ` +
    `marcha: consúltelo entonces con estado ${id}.\n`;
}
