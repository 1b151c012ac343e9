/**
 * `HEAD` answered with the length `GET` would have: Hono answers `HEAD`
 * with its `GET` route's response less the body, and `Deno.serve` then
 * says `content-length: 0`, which tells a client (a link checker, a cache,
 * `curl -I`) that the page is empty. RFC 9110 §9.3.2: the same header
 * fields as `GET`, `Content-Length` included when it is sent. A live stream
 * (`text/event-stream`) has no length and gets none.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";

/**
 * Sets `content-length` on the answer to a `HEAD` from its body, then drops
 * the body. Used first, so it sees the finished response.
 *
 * @returns The middleware.
 */
export function headLength(): MiddlewareHandler {
  return async function headLength(c, next) {
    await next();
    const res = c.res;
    if (c.req.method !== "HEAD" || res.body === null || res.headers.has("content-length")) return;
    if (res.headers.get("content-type")?.startsWith("text/event-stream")) {
      await res.body.cancel();
      return;
    }
    const length = (await res.arrayBuffer()).byteLength;
    const headers = new Headers(res.headers);
    headers.set("content-length", String(length));
    c.res = new Response(null, { status: res.status, statusText: res.statusText, headers });
  };
}
