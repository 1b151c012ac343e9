/**
 * The accounts area: Crear cuenta (`/registro`, REGISTRO), Entrar
 * (`/login`, LOGIN) and Salir (`POST /logout`). Mounted at `/`.
 *
 * A password goes from the form to the daemon and is forgotten; LOGIN's
 * token stays in the server-side session ({@linkcode Responses.signIn}).
 *
 * @module
 */

import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { field, refusal, statusFor } from "../forms.ts";
import { LoginPage } from "../pages/login_page.tsx";
import { RegistroPage } from "../pages/registro_page.tsx";
import type { GatewayEnv } from "../responses.tsx";
import type { RouteDeps } from "../route_deps.ts";

/** How long a session lasts when LOGIN's `expira` cannot be read: one day. */
const FALLBACK_SESSION_MS = 86_400_000;

/**
 * The accounts routes.
 *
 * @param deps The gateway's shared parts.
 * @returns A sub-app to mount at `/`.
 */
export function accountsRoutes(deps: RouteDeps): Hono<GatewayEnv> {
  const { ask, unreachable, respond, now } = deps;
  const app = new Hono<GatewayEnv>();

  app.get("/login", (c) => {
    const session = respond.ensureSession(c);
    if (session.usuario) return c.redirect("/", 303);
    return respond.page(c, { title: "Entrar", nav: "login" }, <LoginPage csrf={session.csrf} />);
  });

  app.post("/login", async (c) => {
    const session = c.get("session")!;
    const form = await c.req.parseBody();
    const usuario = field(form, "usuario").trim();
    const reply = await ask({ op: "LOGIN", data: { usuario, password: field(form, "password") } });
    if (reply?.ok) {
      const expires = Date.parse(reply.expira) || now() + FALLBACK_SESSION_MS;
      respond.signIn(c, { usuario: reply.usuario, token: reply.token, expires });
      return c.redirect("/", 303);
    }
    return respond.page(
      c,
      { title: "Entrar", nav: "login", problem: reply === null ? unreachable() : null },
      <LoginPage csrf={session.csrf} usuario={usuario} error={reply ? refusal(reply) : null} />,
      reply ? statusFor(reply.error) : 503,
    );
  });

  app.get("/registro", (c) => {
    const session = respond.ensureSession(c);
    return respond.page(
      c,
      { title: "Crear cuenta", nav: "registro" },
      <RegistroPage csrf={session.csrf} />,
    );
  });

  app.post("/registro", async (c) => {
    const session = c.get("session")!;
    const form = await c.req.parseBody();
    const usuario = field(form, "usuario").trim();
    const password = field(form, "password");
    const again = (error: string | null, status: ContentfulStatusCode, problem?: string) =>
      respond.page(
        c,
        { title: "Crear cuenta", nav: "registro", problem: problem ?? null },
        <RegistroPage csrf={session.csrf} usuario={usuario} error={error} />,
        status,
      );
    if (password !== field(form, "password2")) {
      return again("❌ Las contraseñas no coinciden.", 422);
    }
    const reply = await ask({ op: "REGISTRO", data: { usuario, password } });
    if (reply === null) return again(null, 503, unreachable());
    if (!reply.ok) return again(refusal(reply), statusFor(reply.error));
    session.flash = { kind: "ok", text: `✅ Cuenta ${reply.usuario} creada. Ya puede entrar.` };
    return c.redirect("/login", 303);
  });

  app.post("/logout", (c) => respond.signOut(c, "Sesión cerrada."));

  return app;
}
