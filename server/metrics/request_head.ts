/**
 * The head of an HTTP/1.x request, as the metrics endpoint reads it: the
 * request line only (method, path, version); header fields are not needed
 * to answer a scrape. Pure: bytes in, a value out.
 *
 * @module
 */

/** The most bytes of a request head the endpoint reads (request line and fields). */
export const MAX_HEAD_BYTES = 8192;

/** A request line: `GET /metrics?x HTTP/1.1`. */
export interface RequestHead {
  method: string;
  /** The target's path, without its query (`/metrics`). */
  path: string;
  /** `HTTP/1.0` or `HTTP/1.1`. */
  version: string;
}

/**
 * Where the head ends in `bytes` (the index just past its blank line, CRLF
 * or a bare LF as RFC 9112 §2.2 lets a server accept), or -1 while it has
 * not ended.
 */
export function headEnd(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (bytes[i + 1] === 0x0a) return i + 2;
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The request line of a complete head.
 *
 * @returns It, or null when it is not an HTTP/1.x request line (the answer
 * is then 400) — an origin-form target (`/metrics?x`) or an absolute one
 * (`http://host/metrics`).
 */
export function parseRequestHead(head: Uint8Array): RequestHead | null {
  const end = head.indexOf(0x0a);
  let line: string;
  try {
    line = new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(0, end < 0 ? 0 : end));
  } catch {
    return null;
  }
  const parts = line.replace(/\r$/, "").split(" ");
  if (parts.length !== 3) return null;
  const [method, target, version] = parts as [string, string, string];
  if (!TOKEN.test(method) || !/^HTTP\/1\.[01]$/.test(version)) return null;
  let path: string;
  if (target.startsWith("/")) {
    path = target.split("?", 1)[0]!;
  } else {
    try {
      const url = new URL(target);
      if (url.protocol !== "http:" && url.protocol !== "https:") return null;
      path = url.pathname;
    } catch {
      return null;
    }
  }
  return { method, path, version };
}
