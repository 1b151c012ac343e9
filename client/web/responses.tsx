/**
 * How the gateway answers a browser: the session cookie, the session of a
 * request, whole pages in the {@linkcode Layout}, and signing out.
 *
 * @module
 */

import type { Context } from "hono";
import { setCookie } from "hono/cookie";
import type { Child } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { Layout, type LayoutProps } from "./components/layout.tsx";
import type { SessionStore, WebSession } from "./sessions.ts";

/** The name of the session cookie. */
export const SESSION_COOKIE = "pedidos_sesion";

/** The gateway's hono environment: each request's session (null: none yet). */
export type GatewayEnv = { Variables: { session: WebSession | null } };

/** A request's context in the gateway. */
export type GatewayContext = Context<GatewayEnv>;

/** The layout's props that a page chooses. */
export type PageProps = Omit<LayoutProps, "usuario" | "csrf" | "children">;

/** Answers with sessions from one store, on one clock. */
export class Responses {
  readonly #sessions: SessionStore;
  readonly #now: () => number;

  /**
   * Answers with sessions from one store.
   *
   * @param sessions Where sessions are kept.
   * @param now The clock, in ms since the epoch (cookie lifetimes).
   */
  constructor(sessions: SessionStore, now: () => number) {
    this.#sessions = sessions;
    this.#now = now;
  }

  /**
   * Sets the session cookie: only the random id, `HttpOnly`, `SameSite=Lax`,
   * `Secure` over HTTPS; a signed-in session's lasts until it expires, an
   * anonymous one until the browser closes.
   */
  cookie(c: GatewayContext, session: WebSession): void {
    const signedIn = session.usuario !== null;
    setCookie(c, SESSION_COOKIE, session.id, {
      path: "/",
      httpOnly: true,
      sameSite: "Lax",
      secure: new URL(c.req.url).protocol === "https:",
      ...(signedIn
        ? { maxAge: Math.max(0, Math.floor((session.expires - this.#now()) / 1000)) }
        : {}),
    });
  }

  /** The request's session, made (and its cookie set) if there is none. */
  ensureSession(c: GatewayContext): WebSession {
    let session = c.get("session");
    if (session === null) {
      session = this.#sessions.create();
      c.set("session", session);
      this.cookie(c, session);
    }
    return session;
  }

  /** A whole page: `body` in the layout, with the session's user, CSRF token and message. */
  page(
    c: GatewayContext,
    props: PageProps,
    body: Child,
    status: ContentfulStatusCode = 200,
  ): Response {
    const session = c.get("session");
    let flash = props.flash;
    if (flash === undefined) {
      flash = session?.flash ?? null;
      if (session) session.flash = null; // shown once
    }
    const page = (
      <Layout
        {...props}
        usuario={session?.usuario ?? null}
        csrf={session?.csrf ?? null}
        flash={flash}
      >
        {body}
      </Layout>
    );
    c.header("Cache-Control", "no-store");
    return c.html(`<!DOCTYPE html>${page}`, status);
  }

  /** Signs the session in: a new session (new id, new CSRF token) with its cookie. */
  signIn(c: GatewayContext, user: { usuario: string; token: string; expires: number }): void {
    const next = this.#sessions.signIn(c.get("session"), user);
    c.set("session", next);
    this.cookie(c, next);
  }

  /** Forgets the session and sends the browser to the login page with a message. */
  signOut(c: GatewayContext, text: string | null, kind: "ok" | "error" = "ok"): Response {
    const old = c.get("session");
    if (old) this.#sessions.delete(old);
    const fresh = this.#sessions.create();
    if (text !== null) fresh.flash = { kind, text };
    c.set("session", fresh);
    this.cookie(c, fresh);
    return c.redirect("/login", 303);
  }
}
