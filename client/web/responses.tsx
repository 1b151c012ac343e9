/**
 * How the gateway answers a browser: the session cookie, the session of a
 * request, CSRF tokens and one-time messages (kept in the session when
 * signed in, signed into cookies otherwise: nothing is kept for anonymous
 * visitors), whole pages in the {@linkcode Layout}, and signing out.
 *
 * @module
 */

import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { Child } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { Layout, type LayoutProps } from "./components/layout.tsx";
import {
  type Flash,
  randomToken,
  safeEqual,
  type SessionStore,
  type SignIn,
  type WebSession,
} from "./sessions.ts";
import type { VisitorTokens } from "./visitor_tokens.ts";
import { loginPath, returnPath } from "./return_path.ts";

/** The longest cookie lifetime browsers keep (and hono sets): 400 days, in seconds. */
const MAX_COOKIE_AGE_S = 400 * 24 * 3600;
/** The name of the session cookie: a signed-in session's id, or an anonymous visitor's. */
export const SESSION_COOKIE = "pedidos_sesion";

/** The name of the cookie that carries an anonymous visitor's next message, signed. */
export const FLASH_COOKIE = "pedidos_aviso";

/** The name of the cookie that marks a browser that signed in to an account (`account_limits.ts`). */
export const KNOWN_BROWSER_COOKIE = "pedidos_conocido";

/** How long a browser keeps its mark, s (browsers cap cookies at 400 days). */
const KNOWN_BROWSER_MAX_AGE_S = 400 * 24 * 3600;

/**
 * The gateway's hono environment: each request's session (null: not signed
 * in), and the anonymous visitor id given in this response, if any.
 */
export type GatewayEnv = {
  Variables: { session: WebSession | null; visitor?: string };
  /** What `Deno.serve` passes with each request; absent in tests that call the handler. */
  Bindings: { remoteAddr?: Deno.NetAddr } | undefined;
};

/** A request's context in the gateway. */
export type GatewayContext = Context<GatewayEnv>;

/** The layout's props that a page chooses. */
export type PageProps = Omit<LayoutProps, "usuario" | "csrf" | "rol" | "children">;

/** Options of {@linkcode Responses}. */
export interface ResponsesOptions {
  /** Where sessions are kept. */
  sessions: SessionStore;
  /** Signs visitors' CSRF tokens and messages. */
  visitors: VisitorTokens;
  /** The clock, in ms since the epoch (cookie lifetimes). */
  now: () => number;
  /** Whether the request came over HTTPS (own TLS, or a trusted proxy says so). */
  isHttps: (c: GatewayContext) => boolean;
  /** `Secure` on every cookie, not only over HTTPS. @default {false} */
  alwaysSecure?: boolean;
}

/** Answers with sessions from one store, on one clock. */
export class Responses {
  readonly #sessions: SessionStore;
  readonly #visitors: VisitorTokens;
  readonly #now: () => number;
  readonly #isHttps: (c: GatewayContext) => boolean;
  readonly #alwaysSecure: boolean;

  /** Answers with sessions from one store. */
  constructor(options: ResponsesOptions) {
    this.#sessions = options.sessions;
    this.#visitors = options.visitors;
    this.#now = options.now;
    this.#isHttps = options.isHttps;
    this.#alwaysSecure = options.alwaysSecure ?? false;
  }

  /**
   * Sets a cookie the gateway's way: `HttpOnly`, `SameSite=Lax`, path `/`,
   * `Secure` over HTTPS (or always, when configured).
   */
  #setCookie(c: GatewayContext, name: string, value: string, maxAge?: number): void {
    setCookie(c, name, value, {
      path: "/",
      httpOnly: true,
      sameSite: "Lax",
      secure: this.#alwaysSecure || this.#isHttps(c),
      ...(maxAge === undefined ? {} : { maxAge }),
    });
  }

  /**
   * Sets the session cookie: only the random id; a signed-in session's
   * lasts until it expires, an anonymous visitor's until the browser closes.
   */
  cookie(c: GatewayContext, session: WebSession): void {
    const left = Math.floor((session.expires - this.#now()) / 1000);
    // Browsers keep a cookie 400 days at most (RFC 6265bis), and hono refuses
    // a longer Max-Age: a daemon's far-off `expira` must not make sign-in fail.
    const maxAge = Math.min(Math.max(0, left), MAX_COOKIE_AGE_S);
    this.#setCookie(c, SESSION_COOKIE, session.id, maxAge);
  }

  /**
   * The anonymous visitor's id: the cookie's, or a new random one (and its
   * cookie). Nothing is kept for it.
   */
  #visitorId(c: GatewayContext): string {
    const known = c.get("visitor");
    if (known !== undefined) return known;
    const id = getCookie(c, SESSION_COOKIE);
    if (id !== undefined && VISITOR_ID_REGEXP.test(id)) return id;
    return this.#newVisitor(c);
  }

  /** A new anonymous visitor id for this browser, with its cookie. */
  #newVisitor(c: GatewayContext): string {
    const id = randomToken();
    c.set("visitor", id);
    this.#setCookie(c, SESSION_COOKIE, id);
    return id;
  }

  /**
   * The CSRF token the request's forms carry: the session's, or for an
   * anonymous visitor the HMAC of their cookie's id (setting that cookie
   * if there is none).
   */
  csrf(c: GatewayContext): string {
    const session = c.get("session");
    return session ? session.csrf : this.#visitors.csrfFor(this.#visitorId(c));
  }

  /** Whether `token` is the CSRF token this request's forms carry (compared in constant time). */
  csrfMatches(c: GatewayContext, token: string): boolean {
    const session = c.get("session");
    if (session) return safeEqual(token, session.csrf);
    const id = getCookie(c, SESSION_COOKIE);
    if (id === undefined || !VISITOR_ID_REGEXP.test(id)) return false;
    return safeEqual(token, this.#visitors.csrfFor(id));
  }

  /**
   * The id of this browser's mark for the account `account` (its key), or
   * null when it shows none made by this gateway for that account.
   */
  knownBrowser(c: GatewayContext, account: string): string | null {
    return this.#visitors.openKnownBrowser(getCookie(c, KNOWN_BROWSER_COOKIE), account);
  }

  /** Gives this browser a new mark for the account `account` (it has just signed in to it). */
  markKnownBrowser(c: GatewayContext, account: string): void {
    this.#setCookie(
      c,
      KNOWN_BROWSER_COOKIE,
      this.#visitors.sealKnownBrowser(account),
      KNOWN_BROWSER_MAX_AGE_S,
    );
  }

  /**
   * Leaves a message for the next page: in the session, or for an
   * anonymous visitor in a signed cookie that lasts a minute.
   */
  flash(c: GatewayContext, flash: Flash): void {
    const session = c.get("session");
    if (session) session.flash = flash;
    else this.#setCookie(c, FLASH_COOKIE, this.#visitors.sealFlash(flash), 60);
  }

  /** The message left for this page, taken (it is shown once). */
  #takeFlash(c: GatewayContext): Flash | null {
    // A HEAD (a link checker, a prefetch) shows it, as its GET would, and
    // leaves it for the GET that the user sees.
    const take = c.req.method !== "HEAD";
    const session = c.get("session");
    let flash: Flash | null = null;
    if (session?.flash) {
      flash = session.flash;
      if (take) session.flash = null;
    }
    const sealed = getCookie(c, FLASH_COOKIE);
    if (sealed !== undefined) {
      flash ??= this.#visitors.openFlash(sealed);
      if (take) this.#setCookie(c, FLASH_COOKIE, "", 0);
    }
    return flash;
  }

  /** A whole page: `body` in the layout, with the session's user, CSRF token and message. */
  page(
    c: GatewayContext,
    props: PageProps,
    body: Child,
    status: ContentfulStatusCode = 200,
  ): Response {
    const session = c.get("session");
    // The message waiting for the next page shown after a redirect: a page
    // that answers a form at once (refused, or wrong) leaves it for that one,
    // as another tab's form may have just left it ("Pedido 16 recibido").
    const flash = props.flash !== undefined
      ? props.flash
      : c.req.method === "POST"
      ? null
      : this.#takeFlash(c);
    const page = (
      <Layout
        {...props}
        usuario={session?.usuario ?? null}
        rol={session?.rol ?? null}
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
  signIn(c: GatewayContext, user: SignIn): void {
    const next = this.#sessions.signIn(c.get("session"), user);
    c.set("session", next);
    this.cookie(c, next);
  }

  /**
   * Ends the session (its live streams end too) and sends the browser to
   * the login page with a message, as a new anonymous visitor; once signed
   * in again, it goes to `next` (a path of this site) or Inicio.
   */
  signOut(c: GatewayContext, flash: Flash | null, next: string | null = null): Response {
    const old = c.get("session");
    if (old) this.#sessions.delete(old);
    c.set("session", null);
    this.#newVisitor(c);
    if (flash !== null) this.flash(c, flash);
    return c.redirect(loginPath(next), 303);
  }

  /**
   * When this request's session ended meanwhile (the daemon refused its
   * token, see `app.tsx`; or Salir in another tab while the request waited
   * for the daemon), the sign-out that says so; else null. `done`: what the
   * daemon did for this request all the same (an order received, a cancel
   * made), said instead of "not sent", so that the user does not send it
   * again (a new form has a new `clave`).
   */
  ifSessionEnded(c: GatewayContext, done: string | null = null): Response | null {
    const session = c.get("session");
    if (session === null || !session.ended.aborted) return null;
    if (done !== null) {
      const text = `${done} Su sesión terminó: entre de nuevo para seguir.`;
      return this.signOut(c, { kind: "ok", text }, returnPath(c));
    }
    const text = c.req.method === "POST"
      ? "Su sesión venció y el formulario no se envió. Entre de nuevo."
      : "Su sesión venció. Entre de nuevo.";
    return this.signOut(c, { kind: "error", text }, returnPath(c));
  }
}

/** What a visitor id looks like ({@linkcode randomToken}); anything else is replaced. */
const VISITOR_ID_REGEXP = /^[A-Za-z0-9_-]{43}$/;
