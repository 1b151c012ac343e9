/**
 * One log line per request: method, path, status and time; never bodies,
 * cookies or tokens.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { Logger } from "../../../server/log.ts";

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
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  };
}
