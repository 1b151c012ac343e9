/**
 * The second CSRF check (the first is hono's `csrf()`, on `Origin` /
 * `Sec-Fetch-Site`): every form POST must carry the session's own token in
 * `_csrf`.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { field } from "../forms.ts";
import type { GatewayContext, GatewayEnv } from "../responses.tsx";
import { safeEqual } from "../sessions.ts";

/**
 * Refuses a POST without a session or whose `_csrf` is not the session's
 * token (compared in constant time).
 *
 * @param refuse The answer to a refused POST (the 403 page).
 * @returns The middleware.
 */
export function csrfToken(
  refuse: (c: GatewayContext) => Response,
): MiddlewareHandler<GatewayEnv> {
  return async function csrfToken(c, next) {
    if (c.req.method !== "POST") return await next();
    const session = c.get("session");
    const form = await c.req.parseBody();
    if (session === null || !safeEqual(field(form, "_csrf"), session.csrf)) return refuse(c);
    await next();
  };
}
