/**
 * The panel area, mounted at `/panel`: the page (STATS counters and the
 * workers' timeline) and its live feed (`/panel/eventos`). Both need a
 * signed-in user.
 *
 * @module
 */

import { Hono } from "hono";
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
  const guard = signedIn(respond);
  app.use("/", guard);
  app.use("/eventos", guard);

  app.get("/", async (c) => {
    const props = await live.panel();
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
