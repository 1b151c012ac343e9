/**
 * One account's key in the gateway (per-account limits, sessions, the
 * account's `clave` namespace): its name as the daemon compares names,
 * in Unicode normal form C and ignoring ASCII case only (`Ana` and `ana`
 * are one account, so are `José` typed with a combining accent and
 * `José`; `José` and `JOSÉ` are two).
 *
 * @module
 */

/**
 * The account's key: `usuario` in normal form C, its ASCII letters in lower case.
 *
 * @example Usage
 * ```ts
 * import { accountKey } from "./account_key.ts";
 * console.log(accountKey("AnA"), accountKey("ÉBC")); // "ana" "Ébc"
 * ```
 */
export function accountKey(usuario: string): string {
  return usuario.normalize("NFC").replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}
