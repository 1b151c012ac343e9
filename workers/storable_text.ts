/**
 * Text from outside the order's own fields, an attempt's error message and
 * its result, as every store can keep it whole.
 *
 * @module
 */

/**
 * `text` with each NUL and each unpaired surrogate replaced by U+FFFD, the
 * replacement character (as a UTF-8 decoder shows bytes it cannot read).
 * A processor's error message is any string: PostgreSQL's `text` refuses a
 * NUL (the attempt's end could then never be written, and the order stayed
 * `en proceso`), SQLite's cut the message at it, and neither UTF-8 holds a
 * lone surrogate. Orders' own fields never need it: a request with a NUL or
 * a lone surrogate in one is refused (`invalid_request`).
 */
export function storableText(text: string): string;
export function storableText(text: string | null): string | null;
export function storableText(text: string | null): string | null {
  return text === null ? null : text.toWellFormed().replaceAll("\u0000", "\ufffd");
}

/**
 * A `JSON.stringify` replacer that makes every string of a value, keys
 * included, {@linkcode storableText}: PostgreSQL's `jsonb` refuses a NUL
 * and an unpaired surrogate in a string, and a result is stored the same
 * in every store.
 */
export function storableJson(_key: string, value: unknown): unknown {
  if (typeof value === "string") return storableText(value);
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (keys.every((key) => storableText(key) === key)) return value;
  return Object.fromEntries(
    keys.map((key) => [storableText(key), (value as Record<string, unknown>)[key]]),
  );
}

/**
 * JSON text with its strings made storable ({@linkcode storableJson}). Text
 * with no `\u0000` and no surrogate escape (JSON.stringify writes only
 * unpaired ones so) is returned as it is, unparsed.
 */
export function storableJsonText(text: string): string {
  if (!MAYBE_UNSTORABLE.test(text)) return text;
  return JSON.stringify(JSON.parse(text), storableJson);
}

/** An escape of a NUL or of a surrogate, in JSON text. */
const MAYBE_UNSTORABLE = /\\u(?:0000|d[89a-f])/i;
