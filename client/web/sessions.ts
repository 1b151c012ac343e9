/**
 * The gateway's sessions: the browser's cookie holds only a random id
 * (32 bytes, base64url); the daemon's session token, the user's name and
 * the CSRF token stay here, in memory. A gateway restart signs everyone
 * out; the daemon's own sessions are unaffected.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";

/** A message shown once on the next page (after a redirect). */
export interface Flash {
  /** Green or red. */
  kind: "ok" | "error";
  /** The message. */
  text: string;
}

/** One browser's session. */
export interface WebSession {
  /** The cookie's value. */
  readonly id: string;
  /** The CSRF token every form of this session carries. */
  readonly csrf: string;
  /** The signed-in user, or null before LOGIN. */
  usuario: string | null;
  /** The daemon's session token; never sent to the browser. */
  token: string | null;
  /** When this session ends, ms since the epoch. */
  expires: number;
  /** A message for the next page. */
  flash: Flash | null;
}

/** Options of {@linkcode SessionStore}. */
export interface SessionStoreOptions {
  /** Sessions kept at most; the least recently used without a user go first. @default {10000} */
  maxSessions?: number;
  /** How long a session without a user lives. @default {3600000} */
  anonymousTtlMs?: number;
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

/** The sessions of the gateway, in memory, bounded. */
export class SessionStore {
  readonly #sessions = new Map<string, WebSession>();
  readonly #max: number;
  readonly #anonymousTtlMs: number;
  readonly #now: () => number;

  /** An empty store. */
  constructor(options: SessionStoreOptions = {}) {
    this.#max = options.maxSessions ?? 10_000;
    this.#anonymousTtlMs = options.anonymousTtlMs ?? 3_600_000;
    this.#now = options.now ?? Date.now;
  }

  /** Sessions held now. */
  get size(): number {
    return this.#sessions.size;
  }

  /** The live session with this id, or null (an expired one is dropped). */
  get(id: string | undefined): WebSession | null {
    if (id === undefined) return null;
    const session = this.#sessions.get(id);
    if (session === undefined) return null;
    this.#sessions.delete(id);
    if (session.expires <= this.#now()) return null;
    this.#sessions.set(id, session); // most recently used last
    return session;
  }

  /** A new session without a user. */
  create(): WebSession {
    return this.#add({
      id: randomToken(),
      csrf: randomToken(),
      usuario: null,
      token: null,
      expires: this.#now() + this.#anonymousTtlMs,
      flash: null,
    });
  }

  /**
   * Signs a user in: a new session (new id, new CSRF token) replaces `old`,
   * so an id known before LOGIN is worthless after it.
   */
  signIn(old: WebSession | null, user: { usuario: string; token: string; expires: number }) {
    if (old) this.#sessions.delete(old.id);
    return this.#add({
      id: randomToken(),
      csrf: randomToken(),
      usuario: user.usuario,
      token: user.token,
      expires: user.expires,
      flash: null,
    });
  }

  /** Forgets a session. */
  delete(session: WebSession): void {
    this.#sessions.delete(session.id);
  }

  /** Adds a session; when full, drops the least recently used one without a user first. */
  #add(session: WebSession): WebSession {
    if (this.#sessions.size >= this.#max) {
      let victim: string | undefined;
      for (const [id, candidate] of this.#sessions) {
        victim ??= id;
        if (candidate.usuario === null) {
          victim = id;
          break;
        }
      }
      if (victim !== undefined) this.#sessions.delete(victim);
    }
    this.#sessions.set(session.id, session);
    return session;
  }
}
