/**
 * Guards the pages for operators (the Panel: everyone's orders and the
 * workers' timeline): a signed-in user without the `operador` role gets a
 * 403 page in Spanish, or a 403 on an event stream. Put it after
 * {@linkcode signedIn}.
 *
 * The role is the one LOGIN returned; a role given with `pedidos usuarios`
 * applies here at the next sign-in. One taken back applies at once at the
 * daemon (its token then sees only its own orders), and here from the next
 * refresh of its Panel, which checks that the token still sees every order
 * (`live/operator_check.ts`): the session is then a `usuario`'s, and its
 * Panel and Panel stream say the role changed and to sign in again.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { MessagePage } from "../pages/message_page.tsx";
import type { GatewayContext, GatewayEnv, Responses } from "../responses.tsx";

/** What a session whose `operador` role was taken back is told, on the Panel and its stream. */
export const ROLE_TAKEN_BACK =
  "Su rol cambió: esta cuenta ya no es operador, y el Panel es solo para operadores. Si le devuelven el rol, salga y entre de nuevo para verlo.";

/**
 * The answer to a session whose `operador` role was taken back since it
 * signed in: a 403 page (or text, on an event stream) that says so.
 *
 * @param c The request's context.
 * @param respond Makes the page.
 * @returns The 403 response.
 */
export function roleTakenBack(c: GatewayContext, respond: Responses): Response {
  if (c.req.path.endsWith("/eventos")) return c.text(ROLE_TAKEN_BACK, 403);
  return respond.page(
    c,
    { title: "Su rol cambió", nav: "inicio" },
    <MessagePage title="Su rol cambió" text={ROLE_TAKEN_BACK} back="/pedidos" />,
    403,
  );
}

/**
 * Lets sessions with the `operador` role through.
 *
 * @param respond Makes the 403 page.
 * @returns The middleware.
 */
export function operatorOnly(respond: Responses): MiddlewareHandler<GatewayEnv> {
  return async function operatorOnly(c, next) {
    const session = c.get("session");
    if (session?.rolTakenBack) return roleTakenBack(c, respond);
    if (session?.rol === "operador") return await next();
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
