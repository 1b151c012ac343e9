/**
 * The gateway's sessions of signed-in users: the browser's cookie holds
 * only a random id (32 bytes, base64url); the daemon's session token, the
 * user's name and role and the CSRF token stay here, in memory. A gateway
 * restart signs everyone out; the daemon's own sessions are unaffected.
 * Only a successful LOGIN makes a session: anonymous visitors cost nothing.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";
import type { Rol } from "../../server/store/store.ts";
import { accountKey } from "./account_key.ts";

/** A message shown once on the next page (after a redirect). */
export interface Flash {
  /** Green or red. */
  kind: "ok" | "error";
  /** The message. */
  text: string;
}

/** One signed-in browser's session. */
export interface WebSession {
  /** The cookie's value. */
  readonly id: string;
  /** The CSRF token every form of this session carries. */
  readonly csrf: string;
  /** The signed-in user. */
  readonly usuario: string;
  /** The daemon's session token; never sent to the browser. */
  readonly token: string;
  /**
   * The account's role as the gateway knows it: LOGIN's, then `usuario`
   * from when the gateway found its token no longer sees every order (the
   * role taken back at the daemon). Only an `operador` sees the Panel.
   */
  rol: Rol;
  /** Whether the gateway found the `operador` role taken back since LOGIN (see `rol`). */
  rolTakenBack: boolean;
  /** When this session ends, ms since the epoch. */
  readonly expires: number;
  /** A message for the next page. */
  flash: Flash | null;
  /** Aborted when the session ends: sign-out, pushed out, or found expired. */
  readonly ended: AbortSignal;
  /** Live streams (server-sent events) open now for this session. */
  streams: number;
}

/** Options of {@linkcode SessionStore}. */
export interface SessionStoreOptions {
  /** Sessions kept at most; the least recently used goes first. @default {10000} */
  maxSessions?: number;
  /** Sessions of one account kept at most; its least recently used goes first. @default {10} */
  maxPerUser?: number;
  /** The clock, in ms since the epoch. @default {Date.now} */
  now?: () => number;
}

/** A random id or token: 32 bytes, base64url. */
export function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Whether two strings are equal, compared in constant time. */
export function safeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What a user gives {@linkcode SessionStore.signIn}. */
export interface SignIn {
  usuario: string;
  token: string;
  expires: number;
  /** @default {"usuario"} */
  rol?: Rol;
}

/**
 * The signed-in sessions of the gateway, in memory, bounded in all and per
 * account. Visitors who are not signed in have none (see `visitor_tokens.ts`).
 */
export class SessionStore {
  readonly #sessions = new Map<string, { session: WebSession; end: AbortController }>();
  readonly #max: number;
  readonly #maxPerUser: number;
  readonly #now: () => number;

  /** An empty store. */
  constructor(options: SessionStoreOptions = {}) {
    this.#max = options.maxSessions ?? 10_000;
    this.#maxPerUser = options.maxPerUser ?? 10;
    this.#now = options.now ?? Date.now;
  }

  /** Sessions held now. */
  get size(): number {
    return this.#sessions.size;
  }

  /** The live session with this id, or null (an expired one is ended). */
  get(id: string | undefined): WebSession | null {
    if (id === undefined) return null;
    const entry = this.#sessions.get(id);
    if (entry === undefined) return null;
    if (entry.session.expires <= this.#now()) {
      this.#end(id);
      return null;
    }
    this.#sessions.delete(id);
    this.#sessions.set(id, entry); // most recently used last
    return entry.session;
  }

  /**
   * Signs a user in: a new session (new id, new CSRF token), replacing
   * `old` if given, so an id known before LOGIN is worthless after it.
   * When the store (or the account) is full, its least recently used
   * session ends.
   */
  signIn(old: WebSession | null, user: SignIn): WebSession {
    if (old) this.delete(old);
    const mine = [...this.#sessions.values()].filter(({ session }) =>
      accountKey(session.usuario) === accountKey(user.usuario)
    );
    if (mine.length >= this.#maxPerUser) this.#end(mine[0]!.session.id);
    if (this.#sessions.size >= this.#max) this.#end(this.#sessions.keys().next().value!);
    const end = new AbortController();
    const session: WebSession = {
      id: randomToken(),
      csrf: randomToken(),
      usuario: user.usuario,
      token: user.token,
      rol: user.rol ?? "usuario",
      rolTakenBack: false,
      expires: user.expires,
      flash: null,
      ended: end.signal,
      streams: 0,
    };
    this.#sessions.set(session.id, { session, end });
    return session;
  }

  /** Ends a session (sign-out): forgotten, its live streams end. */
  delete(session: WebSession): void {
    this.#end(session.id);
  }

  /**
   * Ends every session holding the daemon's session token `token`: the
   * daemon no longer knows it (it expired there, or the daemon's accounts
   * were replaced), so nothing asked with it can work.
   */
  endByToken(token: string): void {
    for (const [id, { session }] of [...this.#sessions]) {
      if (session.token === token) this.#end(id);
    }
  }

  #end(id: string): void {
    const entry = this.#sessions.get(id);
    if (entry === undefined) return;
    this.#sessions.delete(id);
    entry.end.abort();
  }
}
