/**
 * Guards the pages that need a signed-in user: a page sends the browser to
 * Entrar with a message, and back to the page once signed in; a live
 * stream answers 401.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { GatewayContext, GatewayEnv, Responses } from "../responses.tsx";
import { loginPath, returnPath } from "../return_path.ts";

/**
 * Lets signed-in sessions through; others go to `/login?next=PAGE` (303), or
 * get 401 on an event stream (`…/eventos`), which cannot follow a redirect to a page.
 *
 * @param respond Leaves the message for the login page.
 * @returns The middleware.
 */
export function signedIn(respond: Responses): MiddlewareHandler<GatewayEnv> {
  return async function signedIn(c, next) {
    if (c.get("session") !== null) return await next();
    if (c.req.path.endsWith("/eventos")) return c.text("Inicie sesión", 401);
    return toSignIn(c, respond);
  };
}

/**
 * Sends a browser with no session to Entrar, to come back to the page it
 * was on. A form posted without one was sent from a page whose session
 * ended meanwhile: it is not done, and the message says so.
 */
export function toSignIn(c: GatewayContext, respond: Responses): Response {
  const posted = c.req.method === "POST";
  respond.flash(c, {
    kind: "error",
    text: posted
      ? "Su sesión terminó y el formulario no se envió. Inicie sesión para continuar."
      : "Inicie sesión para continuar.",
  });
  return c.redirect(loginPath(returnPath(c)), 303);
}
