/**
 * The web gateway as a plain `fetch` handler: `(Request) => Promise<Response>`.
 * Browser → this handler → the daemon over TCP ({@linkcode DaemonClient}).
 * Tests call it with `new Request(...)` and a fake daemon; `main.ts` serves
 * it with `Deno.serve`.
 *
 * This file only puts the parts together. Where to look for the rest:
 *
 * | what                               | where                               |
 * | ---------------------------------- | ----------------------------------- |
 * | Registro, Login, Logout            | `routes/accounts.tsx`               |
 * | Inicio and Tareas                  | `routes/tareas.tsx`                 |
 * | Pedidos, its form and live feed    | `routes/pedidos.tsx`                |
 * | Panel and its live feed            | `routes/panel.tsx`                  |
 * | one file per page                  | `pages/<page>_page.tsx`             |
 * | shared pieces (table, timeline, …) | `components/`                       |
 * | one middleware per file            | `middleware/`                       |
 * | 403, 404 and 500 pages             | `error_pages.tsx`                   |
 * | live data, feeds, event streams    | `live/`                             |
 * | sessions, cookie, whole pages      | `sessions.ts`, `responses.tsx`      |
 *
 * Security: the session cookie (`pedidos_sesion`) is HttpOnly and
 * SameSite=Lax and holds only a random id; the daemon's token and the
 * user's name stay on the server ({@linkcode SessionStore}), for signed-in
 * users only: an anonymous visitor's CSRF token is an HMAC of its cookie
 * ({@linkcode VisitorTokens}), so anonymous page views cost no memory. A
 * password is passed to the daemon and forgotten; sign-in and sign-up
 * attempts are limited per client address and account
 * ({@linkcode AccountLimits}). Every form POST must come from this origin
 * (hono's `csrf()`: `Origin` / `Sec-Fetch-Site`) and carry the browser's
 * CSRF token (`middleware/csrf_token.ts`). Each account sees only its own
 * orders (the daemon scopes them by the session's token); the Panel is
 * for operators. Live streams are bounded and end with their session.
 *
 * @module
 */

import { Hono } from "hono";
import { csrf } from "hono/csrf";
import { Logger } from "../../server/log.ts";
import { AccountLimits } from "./account_limits.ts";
import { type Ask, createAsk, DaemonHealth } from "./ask.ts";
import { clientAddress, isHttps } from "./client_address.ts";
import type { DaemonClient } from "./daemon.ts";
import { ErrorPages } from "./error_pages.tsx";
import { LiveData } from "./live/live_data.tsx";
import { formBodyLimit } from "./middleware/body_limit.ts";
import { headLength } from "./middleware/head_length.ts";
import { csrfToken } from "./middleware/csrf_token.ts";
import { formText } from "./middleware/form_text.ts";
import { requestLog } from "./middleware/request_log.ts";
import { securityHeaders } from "./middleware/security_headers.ts";
import { session } from "./middleware/session.ts";
import { toSignIn } from "./middleware/signed_in.ts";
import { type GatewayContext, type GatewayEnv, Responses } from "./responses.tsx";
import type { RouteDeps } from "./route_deps.ts";
import { accountsRoutes } from "./routes/accounts.tsx";
import { panelRoutes } from "./routes/panel.tsx";
import { pedidosRoutes } from "./routes/pedidos.tsx";
import { staticRoutes } from "./routes/static.ts";
import { tareasRoutes } from "./routes/tareas.tsx";
import { SessionStore } from "./sessions.ts";
import { hostOf, isLoopbackName } from "./loopback_host.ts";
import { VisitorTokens } from "./visitor_tokens.ts";

export { SESSION_COOKIE } from "./responses.tsx";

/** What the gateway needs. */
export interface GatewayDeps {
  /** The daemon (one long-lived client; see `daemon.ts`). */
  daemon: DaemonClient;
  /** Where requests and problems are logged (never bodies, cookies or tokens). @default {a Logger to stderr} */
  logger?: Logger;
  /** The sessions. @default {a new SessionStore} */
  sessions?: SessionStore;
  /** The clock, in ms since the epoch. @default {Date.now} */
  now?: () => number;
  /** How often the live pages are refreshed. @default {500} */
  liveIntervalMs?: number;
  /** Orders shown on Pedidos. @default {15} */
  recentOrders?: number;
  /** Time span of the Panel's timeline. @default {60000} */
  timelineMs?: number;
  /** Signs anonymous visitors' CSRF tokens and messages. @default {a VisitorTokens with a random key} */
  visitors?: VisitorTokens;
  /** The limits on sign-in and sign-up attempts. @default {an AccountLimits with the defaults} */
  limits?: AccountLimits;
  /**
   * Believe `X-Forwarded-For` and `X-Forwarded-Proto` (`--web-trust-proxy`):
   * only behind a reverse proxy that sets them. @default {false}
   */
  trustProxy?: boolean;
  /** `always`: every cookie is `Secure`; `auto`: over HTTPS only. @default {"auto"} */
  secureCookies?: "auto" | "always";
  /** Live streams open at once, in all (`--web-max-streams`). @default {256} */
  maxStreams?: number;
  /** Live streams open at once per session. @default {4} */
  maxStreamsPerSession?: number;
  /** Live streams open at once per account, over all its sessions. @default {8} */
  maxStreamsPerAccount?: number;
  /**
   * The daemon is one of several (`--host A,B`: a cluster, protocol §9): the
   * Panel then says which counters are the cluster's and which the answering
   * daemon's. @default {false}
   */
  cluster?: boolean;
  /**
   * The `Host` names answered: `loopback` only those of this machine
   * (`localhost`, `127.0.0.1`, `[::1]`), any other getting 421, as a
   * gateway listening only on the loopback is reached by no other name but
   * through a DNS rebinding, whose page would pass the CSRF check as this
   * site (its Origin matches its Host); `any` when the gateway is reached by
   * names it cannot know (listening on other addresses, behind a proxy).
   * @default {"any"}
   */
  hosts?: "any" | "loopback";
}

/** The gateway: a `fetch` handler plus `close()`, which ends live streams. */
export interface GatewayHandler {
  /** Answers a request; `info` is what `Deno.serve` passes (the client's address). */
  (request: Request, info?: { remoteAddr: Deno.NetAddr }): Promise<Response>;
  /** Ends every live stream and stops polling the daemon. Idempotent. */
  close(): void;
}

/**
 * Builds the gateway.
 *
 * @param deps The daemon, and optionally the logger, sessions, clock and live settings.
 * @returns The `fetch` handler, with `close()`.
 *
 * @example Usage
 * ```ts ignore
 * import { createGatewayHandler } from "./app.tsx";
 * import { connectDaemon } from "./daemon.ts";
 * import { Logger } from "../../server/log.ts";
 * const logger = new Logger();
 * const handler = createGatewayHandler({
 *   daemon: connectDaemon({ hosts: ["localhost"], port: 8888, logger }),
 *   logger,
 * });
 * const res = await handler(new Request("http://localhost/login"));
 * console.log(res.status); // 200
 * ```
 */
export function createGatewayHandler(deps: GatewayDeps): GatewayHandler {
  const { daemon } = deps;
  const logger = deps.logger ?? new Logger();
  const sessions = deps.sessions ?? new SessionStore();
  const now = deps.now ?? Date.now;
  const closing = new AbortController();
  const health = new DaemonHealth(daemon.address);
  const asked = createAsk(daemon, closing.signal, health);
  // A session token the daemon refuses (it expired there, or its accounts were
  // replaced) ends every session holding it: its pages sign out, its streams end.
  const ask: Ask = async (request, options) => {
    const reply = await asked(request, options);
    if (reply?.ok === false && reply.error === "unauthorized") {
      const token = request.token ?? (request.data as { token?: unknown } | undefined)?.token;
      if (typeof token === "string") sessions.endByToken(token);
    }
    return reply;
  };
  const unreachable = () => health.problem();
  const trustProxy = deps.trustProxy ?? false;
  const live = new LiveData({
    ask,
    unreachable,
    now,
    intervalMs: deps.liveIntervalMs ?? 500,
    recentOrders: deps.recentOrders ?? 15,
    timelineMs: deps.timelineMs ?? 60_000,
    cluster: deps.cluster ?? false,
    address: daemon.address,
    ...(deps.maxStreams ? { maxStreams: deps.maxStreams } : {}),
    ...(deps.maxStreamsPerSession ? { maxStreamsPerSession: deps.maxStreamsPerSession } : {}),
    ...(deps.maxStreamsPerAccount ? { maxStreamsPerAccount: deps.maxStreamsPerAccount } : {}),
  });
  const respond = new Responses({
    sessions,
    visitors: deps.visitors ?? new VisitorTokens(),
    now,
    isHttps: (c) => isHttps(c, trustProxy),
    alwaysSecure: deps.secureCookies === "always",
  });
  const parts: RouteDeps = { ask, unreachable, respond, live, now, logger };
  const limits = deps.limits ?? new AccountLimits({ now });
  const address = (c: GatewayContext) => clientAddress(c, trustProxy);
  const errors = new ErrorPages(parts);

  const app = new Hono<GatewayEnv>();
  app.onError(errors.onError);
  // A path of this server asked with a method it does not take there (GET
  // /logout, POST /): 405 with the methods it takes, not "no such page".
  app.notFound((c) => {
    const allowed = methodsAt(app, c.req.path);
    const asked = c.req.method === "HEAD" ? "GET" : c.req.method;
    // Taken there, but its parameters did not fit (`/pedidos/abc/cancelar`): no such page.
    if (allowed.length === 0 || allowed.includes(asked)) return errors.notFound(c);
    return errors.methodNotAllowed(c, allowed);
  });
  // In this order: a HEAD gets its GET's length; every request is logged and gets the security headers;
  // static files need nothing more; then the session, the body limit,
  // both CSRF checks and the check that form fields are text run before any page.
  app.use("*", headLength());
  app.use("*", requestLog(logger));
  app.use("*", securityHeaders());
  // Pages are read (GET, HEAD) and forms posted (POST); any other method is
  // none of this server's, whatever the path: 405, not the CSRF page.
  app.use("*", async (c, next) => {
    if (["GET", "HEAD", "POST"].includes(c.req.method)) return await next();
    c.header("Allow", "GET, HEAD, POST");
    return c.text("Método no permitido", 405);
  });
  if (deps.hosts === "loopback") {
    app.use("*", async (c, next) => {
      // The Host header, and the URL's host too: from a request target in
      // absolute form (`GET http://evil.example/…`) the URL names that one,
      // and it is what the origin check compares.
      const header = c.req.header("host");
      const names = [
        new URL(c.req.url).hostname,
        ...(header === undefined ? [] : [hostOf(header)]),
      ];
      if (names.every(isLoopbackName)) return await next();
      return c.text(
        "Host no válido: este servidor solo responde a localhost, 127.0.0.1 y [::1].",
        421,
      );
    });
  }
  app.route("/static", staticRoutes());
  app.use("*", session(sessions));
  app.use("*", formBodyLimit((c) => errors.tooLarge(c as GatewayContext)));
  // The page's own origin, as the browser sees it: behind a trusted HTTPS
  // proxy that is https, though this server is reached over plain HTTP.
  app.use(
    "*",
    csrf({
      origin: (origin, c) =>
        origin === `${isHttps(c, trustProxy) ? "https" : "http"}://${new URL(c.req.url).host}`,
    }),
  );
  app.use(
    "*",
    csrfToken(respond, {
      refuse: (c) => errors.forbidden(c),
      unreadable: (c) => errors.unreadableForm(c),
      signIn: (c) => toSignIn(c, respond),
    }),
  );
  app.use("*", formText((c, name) => errors.invalidText(c, name)));
  app.route("/", accountsRoutes({ ...parts, limits, address }));
  app.route("/", tareasRoutes(parts));
  app.route("/pedidos", pedidosRoutes(parts));
  app.route("/panel", panelRoutes(parts));

  const handler = ((request: Request, info?: { remoteAddr: Deno.NetAddr }) => {
    // A Host header that makes no URL (`Host: a b<c>`) is the client's mistake:
    // 400, not a 500 page and an ERROR line for anyone to write.
    if (!URL.canParse(request.url)) {
      return Promise.resolve(new Response("Solicitud inválida", { status: 400 }));
    }
    return Promise.resolve(app.fetch(request, info));
  }) as GatewayHandler;
  handler.close = () => {
    closing.abort();
    live.close();
  };
  return handler;
}

/** The methods the routes of `app` take at `path` (HEAD wherever GET), in a fixed order. */
function methodsAt(app: Hono<GatewayEnv>, path: string): string[] {
  const taken = new Set<string>();
  for (const route of app.routes) {
    if (route.method !== "GET" && route.method !== "POST") continue; // middleware is ALL
    // `:id{[0-9]+}` takes what its pattern does; `:id` any one segment.
    const pattern = route.path.split("/").map((part) =>
      part.startsWith(":")
        ? `(?:${/^:[^{]*\{(.*)\}$/.exec(part)?.[1] ?? "[^/]+"})`
        : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    ).join("/");
    if (new RegExp(`^${pattern}$`).test(path)) taken.add(route.method);
  }
  return ["GET", "HEAD", "POST"].filter((method) => taken.has(method === "HEAD" ? "GET" : method));
}
