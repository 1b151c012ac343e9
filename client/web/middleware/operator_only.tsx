/**
 * Guards the pages for operators (the Panel: everyone's orders and the
 * workers' timeline): a signed-in user without the `operador` role gets a
 * 403 page in Spanish, or a 403 on an event stream. Put it after
 * {@linkcode signedIn}.
 *
 * The role is the one LOGIN returned; a role given or taken back with
 * `pedidos usuarios` applies here at the next sign-in (the daemon itself
 * applies it at once to the orders it lists).
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { MessagePage } from "../pages/message_page.tsx";
import type { GatewayEnv, Responses } from "../responses.tsx";

/**
 * Lets sessions with the `operador` role through.
 *
 * @param respond Makes the 403 page.
 * @returns The middleware.
 */
export function operatorOnly(respond: Responses): MiddlewareHandler<GatewayEnv> {
  return async function operatorOnly(c, next) {
    if (c.get("session")?.rol === "operador") return await next();
    if (c.req.path.endsWith("/eventos")) return c.text("Solo para operadores", 403);
    return respond.page(
      c,
      { title: "Solo para operadores", nav: "inicio" },
      <MessagePage
        title="Solo para operadores"
        text="El Panel muestra los pedidos de todos y la actividad de los workers: solo lo ven los operadores. Un administrador puede darle ese rol con «pedidos usuarios operador SU_USUARIO»."
        back="/pedidos"
      />,
      403,
    );
  };
}
