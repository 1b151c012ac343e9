/**
 * Who a request came from and over what: the client's address (for the
 * limits on sign-in attempts) and whether it came over HTTPS (for the
 * `Secure` cookie flag). Behind a reverse proxy the socket's peer is the
 * proxy, so the proxy's `X-Forwarded-For` and `X-Forwarded-Proto` are read,
 * but only when the gateway is told to trust them (`--web-trust-proxy yes`):
 * otherwise any client could claim any address.
 *
 * @module
 */

import type { GatewayContext } from "./responses.tsx";

/** What a request's address is when nothing says (a test calling the handler directly). */
export const UNKNOWN_ADDRESS = "desconocida";

/**
 * The last entry of a comma-separated header: what the nearest proxy
 * added (earlier entries come from the client and prove nothing).
 */
function lastEntry(header: string | undefined): string | null {
  const entry = header?.split(",").at(-1)?.trim();
  return entry ? entry : null;
}

/**
 * The address of the client of a request: the socket's peer, or with
 * `trustProxy` the last address of `X-Forwarded-For`.
 *
 * @param c The request's context (`c.env.remoteAddr` comes from `Deno.serve`).
 * @param trustProxy Whether a reverse proxy in front sets `X-Forwarded-For`.
 */
export function clientAddress(c: GatewayContext, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = lastEntry(c.req.header("x-forwarded-for"));
    if (forwarded !== null) return forwarded.replace(/^\[(.*)\]$/, "$1");
  }
  return c.env?.remoteAddr?.hostname ?? UNKNOWN_ADDRESS;
}

/**
 * Whether the request reached the browser's side over HTTPS: the request's
 * own URL, or with `trustProxy` the last `X-Forwarded-Proto`.
 */
export function isHttps(c: GatewayContext, trustProxy: boolean): boolean {
  if (trustProxy) {
    const proto = lastEntry(c.req.header("x-forwarded-proto"));
    if (proto !== null) return proto.toLowerCase() === "https";
  }
  return new URL(c.req.url).protocol === "https:";
}

/**
 * The key that limits count an address under: an IPv4 address as it is
 * (`::ffff:a.b.c.d` read as `a.b.c.d`), an IPv6 address by its /64, which a
 * single machine usually holds whole.
 *
 * @example Usage
 * ```ts
 * import { addressKey } from "./client_address.ts";
 * console.log(addressKey("2001:db8:0:7::1")); // "2001:db8:0:7::/64"
 * console.log(addressKey("::ffff:10.0.0.1")); // "10.0.0.1"
 * ```
 */
export function addressKey(address: string): string {
  const v4 = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (v4) return v4[1]!;
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.toLowerCase().replace(/%.*$/, "").split("::");
  const front = head === "" ? [] : head.split(":");
  const back = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined
    ? front
    : [...front, ...Array(Math.max(0, 8 - front.length - back.length)).fill("0"), ...back];
  const prefix = groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, "") || "0");
  return `${prefix.join(":")}::/64`;
}
