/**
 * Whether a name or address is this machine's loopback: what a gateway
 * listening only there answers to (`Host`), so that a page of another site
 * whose name a DNS rebinding pointed at 127.0.0.1 is not served as if it
 * were this one.
 *
 * @module
 */

/** 127.0.0.0/8. */
const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * Whether `hostname` (no port; an IPv6 address with or without brackets)
 * names the loopback: `localhost` and its subdomains, 127.0.0.0/8, `::1`,
 * and 127.0.0.0/8 mapped into IPv6.
 *
 * @example Usage
 * ```ts
 * import { isLoopbackName } from "./loopback_host.ts";
 * console.log(isLoopbackName("localhost"), isLoopbackName("[::1]"), isLoopbackName("evil.example")); // true true false
 * ```
 */
export function isLoopbackName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (LOOPBACK_V4.test(name)) return true;
  if (name === "::1" || name === "0:0:0:0:0:0:0:1") return true;
  const mapped = /^::ffff:(.+)$/.exec(name)?.[1];
  return mapped !== undefined && LOOPBACK_V4.test(mapped);
}

/**
 * The host name of a `Host` header (`localhost:5000`, `[::1]:5000`,
 * `127.0.0.1`), without its port.
 */
export function hostOf(header: string): string {
  const trimmed = header.trim();
  if (trimmed.startsWith("[")) {
    const end = trimmed.indexOf("]");
    return end === -1 ? trimmed : trimmed.slice(0, end + 1);
  }
  const colon = trimmed.lastIndexOf(":");
  return colon === -1 ? trimmed : trimmed.slice(0, colon);
}
