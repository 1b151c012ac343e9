/**
 * Whether a form's fields are text: a browser sends its fields in UTF-8,
 * percent-encoded, and a byte sequence that is no UTF-8 (`%ff%fe%80`) can
 * only come from a program. Decoding would silently put U+FFFD (`�`) in
 * its place and store that; the daemon refuses invalid UTF-8 of its own
 * clients (`invalid_json`), and so does the gateway, naming the field.
 *
 * @module
 */

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
const LENIENT_UTF8 = new TextDecoder("utf-8");
const PLUS = 0x2b;
const PERCENT = 0x25;
const AMPERSAND = 0x26;
const EQUALS = 0x3d;

function hex(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** `application/x-www-form-urlencoded` bytes of one name or value → the bytes they stand for. */
function percentDecode(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    const high = byte === PERCENT ? hex(bytes[i + 1]) : -1;
    const low = byte === PERCENT ? hex(bytes[i + 2]) : -1;
    if (high >= 0 && low >= 0) {
      out[n++] = high * 16 + low;
      i += 2;
    } else out[n++] = byte === PLUS ? 0x20 : byte;
  }
  return out.subarray(0, n);
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    STRICT_UTF8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The fields of an urlencoded body whose name or value is no UTF-8, as the first such. */
function urlencodedField(body: Uint8Array): string | null {
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf(AMPERSAND, start);
    if (end === -1) end = body.length;
    const pair = body.subarray(start, end);
    const equals = pair.indexOf(EQUALS);
    const name = percentDecode(equals === -1 ? pair : pair.subarray(0, equals));
    const value = percentDecode(equals === -1 ? new Uint8Array() : pair.subarray(equals + 1));
    if (!isUtf8(name) || !isUtf8(value)) return LENIENT_UTF8.decode(name);
    start = end + 1;
  }
  return null;
}

const CR = 0x0d;
const LF = 0x0a;
const CRLF = new Uint8Array([CR, LF]);
const HEAD_END = new Uint8Array([CR, LF, CR, LF]);

/** Where `needle` first is in `bytes` at or after `from`, or -1. */
function indexOfBytes(bytes: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  if (first === undefined) return from;
  for (let i = bytes.indexOf(first, from); i !== -1; i = bytes.indexOf(first, i + 1)) {
    if (i + needle.length > bytes.length) return -1;
    let j = 1;
    while (j < needle.length && bytes[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/**
 * The first text part of a multipart body that is no UTF-8 (files are
 * bytes, and pass). Read on the body's bytes: a part's value is every byte
 * between its head's blank line and the CRLF before the next delimiter.
 */
function multipartField(body: Uint8Array, contentType: string): string | null {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const mark = boundary?.[1] ?? boundary?.[2];
  if (mark === undefined) return null; // no form: parsing it fails elsewhere
  const delimiter = new TextEncoder().encode(`\r\n--${mark}`);
  // The first delimiter may open the body, without the CRLF before it.
  let at = indexOfBytes(body, delimiter.subarray(2));
  if (at !== 0) at = indexOfBytes(body, delimiter);
  else at -= 2;
  while (at !== -1) {
    const after = at + delimiter.length;
    if (body[after] === 0x2d && body[after + 1] === 0x2d) return null; // the closing delimiter
    const lineEnd = indexOfBytes(body, CRLF, after);
    if (lineEnd === -1) return null; // a cut body: parsing it fails elsewhere
    const headEnd = indexOfBytes(body, HEAD_END, lineEnd);
    const next = indexOfBytes(body, delimiter, lineEnd);
    if (headEnd === -1 || (next !== -1 && headEnd > next)) {
      at = next;
      continue;
    }
    const head = body.subarray(lineEnd + 2, headEnd);
    const value = body.subarray(headEnd + 4, next === -1 ? body.length : next);
    at = next;
    // A head's name is UTF-8 too (HTML's multipart/form-data encoding).
    const headText = LENIENT_UTF8.decode(head);
    if (/[;\s]filename\*?=/i.test(headText)) continue;
    const name = /(?:^|[;\s])name="([^"]*)"/i.exec(headText)?.[1] ?? "";
    if (!isUtf8(head) || !isUtf8(value)) return name;
  }
  return null;
}

/**
 * The name of the first field of a form body that is not UTF-8 text (its
 * name or its value), or null when all are (and for a body that is no form).
 *
 * @param body The request's body, as sent.
 * @param contentType Its `Content-Type`.
 * @returns The field's name (itself decoded with U+FFFD where it is no UTF-8), or null.
 */
export function invalidTextField(body: Uint8Array, contentType: string): string | null {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  if (type === "application/x-www-form-urlencoded") return urlencodedField(body);
  if (type === "multipart/form-data") return multipartField(body, contentType);
  return null;
}
