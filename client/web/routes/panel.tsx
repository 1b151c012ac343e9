/**
 * The panel area, mounted at `/panel`: the page (STATS counters and the
 * workers' timeline) and its live feed (`/panel/eventos`). Both show
 * everyone's orders, so both need a signed-in operador (403 otherwise,
 * also once the role is found taken back since the session signed in).
 *
 * @module
 */

import { Hono } from "hono";
import { operatorOnly, roleTakenBack } from "../middleware/operator_only.tsx";
import { signedIn } from "../middleware/signed_in.ts";
import { PanelPage } from "../pages/panel_page.tsx";
import type { GatewayEnv } from "../responses.tsx";
import type { RouteDeps } from "../route_deps.ts";

/**
 * The Panel routes.
 *
 * @param deps The gateway's shared parts.
 * @returns A sub-app to mount at `/panel`.
 */
export function panelRoutes(deps: RouteDeps): Hono<GatewayEnv> {
  const { respond, live } = deps;
  const app = new Hono<GatewayEnv>();
  for (const path of ["/", "/eventos"]) app.use(path, signedIn(respond), operatorOnly(respond));

  app.get("/", async (c) => {
    const props = await live.panel(c.get("session")!);
    const ended = respond.ifSessionEnded(c);
    if (ended !== null) return ended;
    // Its token no longer sees every order: the role was taken back since LOGIN.
    if (props === null) return roleTakenBack(c, respond);
    return respond.page(
      c,
      { title: "Panel", nav: "panel", refreshWithoutScript: true },
      <PanelPage {...props} />,
      props.stats === null ? 503 : 200,
    );
  });

  app.get("/eventos", (c) => live.stream(c, "panel"));

  return app;
}
