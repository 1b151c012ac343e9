/**
 * What the gateway gives visitors who are not signed in, without keeping
 * anything for them: their CSRF token is an HMAC of the random id in their
 * cookie, and a message for their next page (a "flash") travels in a signed
 * cookie. So a flood of anonymous page views costs the gateway no memory,
 * and cannot push out anyone's pending sign-in form.
 *
 * The HMAC key is 32 random bytes made when the gateway starts (tokens of
 * an earlier run are refused, like its sessions, which are in memory too).
 *
 * @module
 */

import { createHmac } from "node:crypto";
import type { Flash } from "./sessions.ts";
import { randomToken, safeEqual } from "./sessions.ts";

/** Signs visitors' CSRF tokens and flash cookies with one key. */
export class VisitorTokens {
  readonly #key: Uint8Array;

  /**
   * @param key The HMAC-SHA-256 key. @default {32 random bytes}
   */
  constructor(key: Uint8Array = crypto.getRandomValues(new Uint8Array(32))) {
    this.#key = key;
  }

  /**
   * The CSRF token of an anonymous visitor: bound to the id in their
   * cookie, so a page fetched by someone else (another cookie) is useless.
   *
   * @param visitorId The random id in the visitor's cookie.
   * @returns 43 base64url characters.
   */
  csrfFor(visitorId: string): string {
    return this.#mac(`csrf\n${visitorId}`);
  }

  /**
   * A flash message as a cookie value: its JSON, base64url, then a MAC.
   *
   * @param flash The message.
   */
  sealFlash(flash: Flash): string {
    const body = btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(flash))))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    return `${body}.${this.#mac(`flash\n${body}`)}`;
  }

  /**
   * The flash message of a cookie value, or null when it was not made by
   * {@linkcode sealFlash} with this key (forged, damaged, from an earlier run).
   *
   * @param sealed The cookie value.
   */
  openFlash(sealed: string | undefined): Flash | null {
    if (sealed === undefined || sealed.length > 2048) return null;
    const [body = "", mac = "", ...rest] = sealed.split(".");
    if (rest.length > 0 || !safeEqual(mac, this.#mac(`flash\n${body}`))) return null;
    try {
      const base64 = body.replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const value = JSON.parse(new TextDecoder().decode(bytes));
      if ((value.kind === "ok" || value.kind === "error") && typeof value.text === "string") {
        return { kind: value.kind, text: value.text };
      }
    } catch {
      // not ours after all
    }
    return null;
  }

  /**
   * A mark for a browser that signed in to an account (its key, from
   * `accountKey`): a random id, then a MAC binding it to the account. Its
   * attempts at that account's password are then counted for that browser
   * alone (`account_limits.ts`).
   *
   * @param account The account's key.
   * @returns `ID.MAC`, base64url.
   */
  sealKnownBrowser(account: string): string {
    const id = randomToken();
    return `${id}.${this.#mac(`known\n${account}\n${id}`)}`;
  }

  /**
   * The id of a mark {@linkcode sealKnownBrowser} made for `account` with
   * this key, or null (none, forged, another account's, an earlier run's).
   *
   * @param sealed The cookie value.
   * @param account The account's key.
   */
  openKnownBrowser(sealed: string | undefined, account: string): string | null {
    if (sealed === undefined || sealed.length > 256) return null;
    const [id = "", mac = "", ...rest] = sealed.split(".");
    if (rest.length > 0 || id === "") return null;
    return safeEqual(mac, this.#mac(`known\n${account}\n${id}`)) ? id : null;
  }

  #mac(text: string): string {
    return createHmac("sha256", this.#key).update(text).digest("base64url");
  }
}
