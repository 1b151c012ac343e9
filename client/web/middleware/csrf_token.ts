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

/** The forms an anonymous visitor sends: the only POSTs done without a session. */
const ANONYMOUS_FORMS = new Set(["/login", "/registro"]);

/** Options of {@linkcode csrfToken}. */
export interface CsrfTokenOptions {
  /** The answer to a refused POST (the 403 page). */
  refuse: (c: GatewayContext) => Response;
  /** The answer to a POST whose body is no form, so that no token could be looked for (400). */
  unreadable: (c: GatewayContext) => Response;
  /** The answer to a POST with no session to a page that needs one (to Entrar). */
  signIn: (c: GatewayContext) => Response;
}

/**
 * Refuses a POST whose `_csrf` is not this browser's token (compared in
 * constant time), or that comes with no cookie at all. A POST with no
 * session to a page that needs one is sent to Entrar instead: its page's
 * session ended while it was open (the form carries that session's token),
 * and being sent to Entrar does nothing on anyone's behalf, so it needs no
 * token; hono's `csrf()` has already refused other sites' posts.
 *
 * @param respond Knows each request's token.
 * @param options What to answer instead.
 * @returns The middleware.
 */
export function csrfToken(
  respond: Responses,
  options: CsrfTokenOptions,
): MiddlewareHandler<GatewayEnv> {
  return async function csrfToken(c, next) {
    if (c.req.method !== "POST") return await next();
    if (c.get("session") === null && !ANONYMOUS_FORMS.has(c.req.path)) {
      // Salir on such a page: the route says the session is closed, which it is.
      return c.req.path === "/logout" ? await next() : options.signIn(c);
    }
    let form;
    try {
      form = await c.req.parseBody();
    } catch {
      // A body that is no form (a multipart one without a boundary, cut short…): not refused
      // as a forgery, for it was not read; nothing runs either way.
      return options.unreadable(c);
    }
    if (!respond.csrfMatches(c, field(form, "_csrf"))) return options.refuse(c);
    await next();
  };
}
