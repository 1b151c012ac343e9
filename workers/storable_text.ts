/**
 * Text from outside the order's own fields, an attempt's error message, as
 * every store can keep it whole.
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
