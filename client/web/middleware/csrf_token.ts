/**
 * The second CSRF check (the first is hono's `csrf()`, on `Origin` /
 * `Sec-Fetch-Site`): every form POST must carry in `_csrf` the token of
 * this browser: its signed-in session's, or for an anonymous visitor the
 * HMAC of the id in its cookie (nothing is kept for anonymous visitors).
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { field } from "../forms.ts";
import type { GatewayContext, GatewayEnv, Responses } from "../responses.tsx";

/**
 * Refuses a POST whose `_csrf` is not this browser's token (compared in
 * constant time), or that comes with no cookie at all.
 *
 * @param respond Knows each request's token.
 * @param refuse The answer to a refused POST (the 403 page).
 * @returns The middleware.
 */
export function csrfToken(
  respond: Responses,
  refuse: (c: GatewayContext) => Response,
): MiddlewareHandler<GatewayEnv> {
  return async function csrfToken(c, next) {
    if (c.req.method !== "POST") return await next();
    let form;
    try {
      form = await c.req.parseBody();
    } catch {
      // A body that is no form (a multipart one without a boundary, cut short…) carries no token.
      return refuse(c);
    }
    if (!respond.csrfMatches(c, field(form, "_csrf"))) return refuse(c);
    await next();
  };
}
