/**
 * The daemon's limit on the length of an account's name (protocol §2.6:
 * 3 to 64 letters, digits, `.`, `_`, `-`, counted in code points after
 * NFC), checked by the gateway before a typed name is kept anywhere. A
 * longer name is no account's, and the daemon refuses it; Entrar refuses it
 * the same way without asking the daemon and without counting it towards
 * the limits on attempts, whose keys are kept for 15 minutes (a name of the
 * form's whole 64 KiB, as a key, held that much memory).
 *
 * @module
 */

import { codePoints, MAX_USUARIO_CHARS } from "../../server/protocol/parse_request.ts";

/**
 * Whether `usuario` is longer than any account's name: over
 * {@linkcode MAX_USUARIO_CHARS} code points once in normal form C (a name
 * typed with combining accents counts as the daemon counts it).
 *
 * @example Usage
 * ```ts
 * import { nameTooLong } from "./account_name.ts";
 * console.log(nameTooLong("ana"), nameTooLong("a".repeat(65))); // false true
 * ```
 */
export function nameTooLong(usuario: string): boolean {
  return codePoints(usuario.normalize("NFC"), MAX_USUARIO_CHARS + 1) > MAX_USUARIO_CHARS;
}
