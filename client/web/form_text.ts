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

/** The first text part of a multipart body that is no UTF-8 (files are bytes, and pass). */
function multipartField(body: Uint8Array, contentType: string): string | null {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const mark = boundary?.[1] ?? boundary?.[2];
  if (mark === undefined) return null; // no form: parsing it fails elsewhere
  // Latin-1 keeps one character per byte, so positions in it are positions in the body.
  const text = new TextDecoder("latin1").decode(body);
  for (const part of text.split(`--${mark}`)) {
    const headEnd = part.indexOf("\r\n\r\n");
    if (headEnd === -1) continue;
    const head = part.slice(0, headEnd);
    if (/filename=/i.test(head)) continue;
    const name = /name="([^"]*)"/i.exec(head)?.[1] ?? "";
    const toBytes = (s: string) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
    const value = toBytes(part.slice(headEnd + 4).replace(/\r\n$/, ""));
    if (!isUtf8(value) || !isUtf8(toBytes(name))) return LENIENT_UTF8.decode(toBytes(name));
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
