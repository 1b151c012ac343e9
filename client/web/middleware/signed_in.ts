/**
 * Guards the pages that need a signed-in user: a page sends the browser to
 * Entrar with a message, a live stream answers 401.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { GatewayEnv, Responses } from "../responses.tsx";

/**
 * Lets signed-in sessions through; others go to `/login` (303), or get 401
 * on an event stream (`…/eventos`), which cannot follow a redirect to a page.
 *
 * @param respond Leaves the message for the login page.
 * @returns The middleware.
 */
export function signedIn(respond: Responses): MiddlewareHandler<GatewayEnv> {
  return async function signedIn(c, next) {
    if (c.get("session") !== null) return await next();
    if (c.req.path.endsWith("/eventos")) return c.text("Inicie sesión", 401);
    respond.flash(c, { kind: "error", text: "Inicie sesión para continuar." });
    return c.redirect("/login", 303);
  };
}
