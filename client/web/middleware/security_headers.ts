/**
 * The security headers of every response: a Content-Security-Policy that
 * allows only the gateway's own script and stylesheet, no framing, a
 * referrer for the gateway's own pages only, plus hono's other defaults
 * (`nosniff`, …). No HSTS: the gateway may be served over plain HTTP on a
 * private network.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";

/**
 * hono's `secureHeaders()` with the gateway's policy.
 *
 * @returns The middleware.
 */
export function securityHeaders(): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      objectSrc: ["'none'"],
    },
    strictTransportSecurity: false,
    // As frame-ancestors 'none' says, for browsers that know only this header
    // (hono's default, SAMEORIGIN, would let the gateway's own pages frame it).
    xFrameOptions: "DENY",
    // Not hono's default, no-referrer: under it a browser sends `Origin: null`
    // with every form POST, even to the page's own origin (Fetch, "append a
    // request Origin header"), and over plain HTTP to an address other than
    // localhost it sends no Sec-Fetch-Site either, so the origin check refused
    // every form there. Under same-origin, the gateway's own forms carry its
    // origin, and other sites still get no referrer.
    referrerPolicy: "same-origin",
  });
}
