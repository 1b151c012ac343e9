/**
 * Finds each request's session from its cookie and puts it in the context
 * (`c.get("session")`, null when there is none).
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { type GatewayEnv, SESSION_COOKIE } from "../responses.tsx";
import type { SessionStore } from "../sessions.ts";

/**
 * Sets `session` from the `pedidos_sesion` cookie.
 *
 * @param sessions Where sessions are kept.
 * @returns The middleware.
 */
export function session(sessions: SessionStore): MiddlewareHandler<GatewayEnv> {
  return async function session(c, next) {
    c.set("session", sessions.get(getCookie(c, SESSION_COOKIE)));
    await next();
  };
}
