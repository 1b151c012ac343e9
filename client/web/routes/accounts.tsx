/**
 * The accounts area: Crear cuenta (`/registro`, REGISTRO), Entrar
 * (`/login`, LOGIN) and Salir (`POST /logout`). Mounted at `/`. Entrar
 * goes back to the page the browser was sent from (`/login?next=/pedidos`,
 * a path of this site only: {@linkcode localPath}), or to Inicio.
 *
 * A password goes from the form to the daemon and is forgotten; LOGIN's
 * token stays in the server-side session ({@linkcode Responses.signIn}).
 * Attempts are limited per client address and per account
 * ({@linkcode AccountLimits}): one over the limit gets `429` with
 * `Retry-After`, and never reaches the daemon. A name longer than any
 * account's ({@linkcode nameTooLong}) is refused at once, counted nowhere.
 * Nothing is kept for a visitor until LOGIN succeeds.
 *
 * @module
 */

import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AccountLimits } from "../account_limits.ts";
import { accountKey } from "../account_key.ts";
import { nameTooLong } from "../account_name.ts";
import { USUARIO_RULE } from "../../../server/protocol/parse_request.ts";
import type { Attempt } from "../attempt_limiter.ts";
import { field, refusal, statusFor } from "../forms.ts";
import { LoginPage } from "../pages/login_page.tsx";
import { RegistroPage } from "../pages/registro_page.tsx";
import type { GatewayContext, GatewayEnv } from "../responses.tsx";
import type { RouteDeps } from "../route_deps.ts";
import { localPath } from "../return_path.ts";

/** How long a session lasts when LOGIN's `expira` cannot be read: one day. */
const FALLBACK_SESSION_MS = 86_400_000;

/** What the accounts routes need besides the shared parts. */
export interface AccountsDeps extends RouteDeps {
  /** The limits on attempts. */
  limits: AccountLimits;
  /** The client address of a request. */
  address: (c: GatewayContext) => string;
}

/** The words and header of a refused attempt; null when it may go ahead. */
function tooSoon(c: GatewayContext, attempt: Attempt): string | null {
  if (attempt.ok) return null;
  const seconds = Math.max(1, Math.ceil(attempt.retryAfterMs / 1000));
  c.header("Retry-After", String(seconds));
  return `❌ Demasiados intentos. Espere ${seconds} s y vuelva a intentarlo.`;
}

/**
 * The accounts routes.
 *
 * @param deps The gateway's shared parts, the limits and the client address.
 * @returns A sub-app to mount at `/`.
 */
export function accountsRoutes(deps: AccountsDeps): Hono<GatewayEnv> {
  const { ask, unreachable, respond, now, limits, address } = deps;
  const app = new Hono<GatewayEnv>();

  app.get("/login", (c) => {
    const next = localPath(c.req.query("next"));
    if (c.get("session")) return c.redirect(next ?? "/", 303);
    return respond.page(
      c,
      { title: "Entrar", nav: "login" },
      <LoginPage csrf={respond.csrf(c)} next={next} />,
    );
  });

  app.post("/login", async (c) => {
    const form = await c.req.parseBody();
    const usuario = field(form, "usuario").trim();
    const next = localPath(field(form, "next"));
    const again = (error: string | null, status: ContentfulStatusCode, problem?: string) =>
      respond.page(
        c,
        { title: "Entrar", nav: "login", problem: problem ?? null },
        <LoginPage csrf={respond.csrf(c)} usuario={usuario} error={error} next={next} />,
        status,
      );
    // No account has a longer name: refused as the daemon would, before it
    // can become a key of the limits (kept 15 min) or reach the daemon.
    if (nameTooLong(usuario)) return again(USUARIO_RULE, 422);
    const from = address(c);
    const known = respond.knownBrowser(c, accountKey(usuario));
    const wait = tooSoon(c, limits.login(from, usuario, known));
    if (wait !== null) return again(wait, 429);
    let sent = true;
    const reply = await ask(
      { op: "LOGIN", data: { usuario, password: field(form, "password") } },
      { failed: (code) => sent = code !== "connect_failed" },
    );
    if (reply === null) {
      // Never sent, nothing guessed: the attempt is given back. One sent and not
      // answered (late, or its connection lost) may have been checked: it counts.
      if (!sent) limits.loginUnanswered(from, usuario, known);
      return again(null, 503, unreachable());
    }
    if (!reply.ok) return again(refusal(reply), statusFor(reply.error));
    limits.loginSucceeded(from, usuario, known);
    respond.markKnownBrowser(c, accountKey(usuario));
    const expires = Date.parse(reply.expira) || now() + FALLBACK_SESSION_MS;
    const rol = reply.rol === "operador" ? "operador" : "usuario";
    respond.signIn(c, { usuario: reply.usuario, token: reply.token, expires, rol });
    return c.redirect(next ?? "/", 303);
  });

  app.get("/registro", (c) =>
    respond.page(
      c,
      { title: "Crear cuenta", nav: "registro" },
      <RegistroPage csrf={respond.csrf(c)} />,
    ));

  app.post("/registro", async (c) => {
    const form = await c.req.parseBody();
    const usuario = field(form, "usuario").trim();
    const password = field(form, "password");
    const again = (error: string | null, status: ContentfulStatusCode, problem?: string) =>
      respond.page(
        c,
        { title: "Crear cuenta", nav: "registro", problem: problem ?? null },
        <RegistroPage csrf={respond.csrf(c)} usuario={usuario} error={error} />,
        status,
      );
    // Compared as the daemon hashes them, composed (NFC): the same accents typed two ways match.
    if (password.normalize("NFC") !== field(form, "password2").normalize("NFC")) {
      return again("❌ Las contraseñas no coinciden.", 422);
    }
    const from = address(c);
    const wait = tooSoon(c, limits.register(from));
    if (wait !== null) return again(wait, 429);
    let sent = true;
    const reply = await ask(
      { op: "REGISTRO", data: { usuario, password } },
      { failed: (code) => sent = code !== "connect_failed" },
    );
    if (reply === null) {
      if (!sent) limits.registerUnanswered(from);
      return again(null, 503, unreachable());
    }
    if (!reply.ok) {
      // A name or password the daemon refuses by its rules made no account: a typo
      // does not use up one of the address's sign-ups.
      if (reply.error === "invalid_user") limits.registerUnanswered(from);
      return again(refusal(reply), statusFor(reply.error));
    }
    respond.flash(c, { kind: "ok", text: `✅ Cuenta ${reply.usuario} creada. Ya puede entrar.` });
    return c.redirect("/login", 303);
  });

  app.post("/logout", (c) => respond.signOut(c, { kind: "ok", text: "Sesión cerrada." }));

  return app;
}
