/**
 * Where a browser sent to Entrar goes back after signing in: the page it
 * was on, carried as `/login?next=PATH`. Only a path of this site is ever
 * followed (`/pedidos`, never `//evil.example/` or `https://evil.example/`),
 * so the parameter cannot make the gateway an open redirect.
 *
 * @module
 */

import type { GatewayContext } from "./responses.tsx";

/** The longest `next` followed, in characters: a page's path is far shorter. */
const MAX_NEXT = 512;

/** A row's action, taken by a POST only (a GET of one is a 405 page): its page is Pedidos. */
const ACTION = /^\/pedidos\/[^/]+\/(?:cancelar|reintentar)\/?$/;

/** Paths of this site that are no page to come back to: live streams, Salir, a row's action. */
const NOT_PAGES = new RegExp(`\\/eventos\\/?$|^\\/logout\\/?$|${ACTION.source}`);

/** The origin a path is resolved against to see whether it stays on this site. */
const THIS_SITE = "http://gateway.invalid";

/**
 * `next` when it is a path of this site, as a path (with its query); null
 * otherwise: absent, another site (`//host`, `/\host`, `https://…`, or a
 * path that comes to `//host` once its dot segments are resolved:
 * `/.//host`, `/%2e//host`, `/a/..//host`), a scheme (`javascript:`),
 * control characters, too long, or no page (a live stream, `/logout`).
 *
 * @example Usage
 * ```ts
 * import { localPath } from "./return_path.ts";
 * console.log(localPath("/pedidos")); // "/pedidos"
 * console.log(localPath("//evil.example/")); // null
 * ```
 */
export function localPath(next: string | undefined | null): string | null {
  if (typeof next !== "string" || next.length > MAX_NEXT) return null;
  // A browser reads `/\host` as `//host`, and drops tabs and newlines inside a URL.
  // deno-lint-ignore no-control-regex
  if (!next.startsWith("/") || /[\\\u0000-\u001f\u007f]/.test(next)) return null;
  if (!URL.canParse(next, THIS_SITE)) return null;
  const url = new URL(next, THIS_SITE);
  if (url.origin !== THIS_SITE) return null;
  // Dot segments are gone now: `/.//host`, `/%2e//host`, `/a/..//host` leave
  // `//host`, which a browser reads as another site.
  if (url.pathname.startsWith("//") || url.pathname.startsWith("/\\")) return null;
  // Not a page: a live stream (raw events in the tab) or Salir (a POST).
  if (NOT_PAGES.test(url.pathname)) return null;
  return `${url.pathname}${url.search}`;
}

/**
 * The page a request was made from, to come back to after signing in: a
 * page's own path (and query); for a form's POST, the page that shows that
 * form (`POST /pedidos/7/cancelar` → `/pedidos`: only a GET can be
 * returned to), and so for a GET of a row's action (a link to it opened
 * signed out), which would come back to a 405 page.
 */
export function returnPath(c: GatewayContext): string {
  const url = new URL(c.req.url);
  const get = c.req.method === "GET" || c.req.method === "HEAD";
  if (get && !ACTION.test(url.pathname)) return `${url.pathname}${url.search}`;
  return `/${url.pathname.split("/")[1] ?? ""}`;
}

/** Entrar, coming back to `path` once signed in (Inicio, the default, needs no `next`). */
export function loginPath(path: string | null): string {
  const next = localPath(path);
  return next === null || next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`;
}
