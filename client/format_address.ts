/**
 * `host:port` for people and error messages.
 *
 * @module
 */

/**
 * `host:port`, with IPv6 literals in brackets.
 *
 * @example Usage
 * ```ts
 * import { formatAddress } from "./format_address.ts";
 * console.log(formatAddress("::1", 8888)); // [::1]:8888
 * ```
 */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
