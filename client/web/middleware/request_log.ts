/**
 * One log line per request: method, path, status and time; never bodies,
 * cookies or tokens. The path is the client's text: control characters in
 * it (which a terminal would obey: `\x1b[2J` clears the screen) are logged
 * percent-encoded, and a very long one is cut.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { Logger } from "../../../server/log.ts";
import { cutText } from "../user_text.ts";

/**
 * Logs `web.request` after each request: at `info`, or `debug` for
 * `/static/*`.
 *
 * @param logger Where the line goes.
 * @returns The middleware.
 */
export function requestLog(logger: Logger): MiddlewareHandler {
  return async function requestLog(c, next) {
    const started = performance.now();
    await next();
    const level = c.req.path.startsWith("/static/") ? "debug" : "info";
    logger.log(level, "web.request", {
      method: c.req.method,
      path: loggablePath(c.req.path),
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  };
}

/** The longest path logged, in code points; longer ones end with `…`. */
const MAX_LOGGED_PATH = 512;

/**
 * C0 controls, DEL and C1 controls; and the bidirectional marks, embeddings,
 * overrides and isolates, which would reverse how what follows them reads.
 */
// deno-lint-ignore no-control-regex
const CONTROL_REGEXP = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A request path safe to put in a log line, or on a page: control and
 * bidirectional characters percent-encoded (`%1B`, `%E2%80%AE`), cut after
 * {@linkcode MAX_LOGGED_PATH} characters.
 *
 * @example Usage
 * ```ts
 * import { loggablePath } from "./request_log.ts";
 * console.log(loggablePath("/a\u001b[2J")); // "/a%1B[2J"
 * ```
 */
export function loggablePath(path: string): string {
  return cutText(path, MAX_LOGGED_PATH + 1).replace(
    CONTROL_REGEXP,
    (char) => encodeURIComponent(char).toUpperCase(),
  );
}
