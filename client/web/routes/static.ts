/**
 * The gateway's stylesheet and script (`/static/app.css`, `/static/app.js`),
 * served from memory with a short cache. Mounted at `/static`, before the
 * session middleware: they need no session.
 *
 * @module
 */

import { Hono } from "hono";
import { APP_CSS, APP_JS } from "../static.ts";

/**
 * The static files' routes.
 *
 * @returns A sub-app to mount at `/static`.
 */
export function staticRoutes(): Hono {
  const app = new Hono();
  app.get("/app.css", (c) => {
    c.header("Cache-Control", "public, max-age=300");
    return c.body(APP_CSS, 200, { "Content-Type": "text/css; charset=utf-8" });
  });
  app.get("/app.js", (c) => {
    c.header("Cache-Control", "public, max-age=300");
    return c.body(APP_JS, 200, { "Content-Type": "text/javascript; charset=utf-8" });
  });
  return app;
}
