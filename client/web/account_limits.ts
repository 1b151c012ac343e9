/**
 * The gateway's limits on sign-in and sign-up attempts, so that guessing
 * passwords, or filling the daemon's hasher with them, is slow for anyone
 * who tries: LOGIN is counted per client address and per account, REGISTRO
 * per client address, each with a backoff ({@linkcode AttemptLimiter}). An
 * attempt over the limit never reaches the daemon: the gateway answers
 * `429` with `Retry-After`.
 *
 * A successful sign-in forgets the account's attempts and takes back the
 * address's, so people who type their password right are not slowed by
 * their own attempts. And a browser that has signed in to the account
 * before (it shows the mark the gateway gave it then, see
 * `VisitorTokens.sealKnownBrowser`) has its attempts at that account
 * counted for itself alone, instead of with everyone's: wrong passwords
 * from elsewhere, however many, do not lock its owner out. (It still counts
 * for its address, and a mark taken from its browser buys a guesser only
 * that browser's own few attempts.)
 *
 * @module
 */

import { type Attempt, AttemptLimiter, type AttemptLimiterOptions } from "./attempt_limiter.ts";
import { addressKey } from "./client_address.ts";
import { accountKey } from "./account_key.ts";

const LOGIN_PER_ACCOUNT = Object.freeze({
  free: 5,
  baseDelayMs: 1000,
  maxDelayMs: 900_000,
  forgetAfterMs: 900_000,
});

/** The defaults of every limit (documented in `docs/guarantees.md`, "Hostile clients"). */
export const DEFAULT_ACCOUNT_LIMITS = Object.freeze({
  /** LOGIN per client address: 10 free, then 1 s doubling to 15 min; forgotten after 15 min. */
  loginPerAddress: { free: 10, baseDelayMs: 1000, maxDelayMs: 900_000, forgetAfterMs: 900_000 },
  /** LOGIN per account: 5 free, then 1 s doubling to 15 min; forgotten after 15 min. */
  loginPerAccount: LOGIN_PER_ACCOUNT,
  /** LOGIN per known browser of an account, instead of per account: as per account. */
  loginPerKnownBrowser: LOGIN_PER_ACCOUNT,
  /** REGISTRO per client address: 5 free, then 10 s doubling to 1 h; forgotten after 1 h. */
  registroPerAddress: {
    free: 5,
    baseDelayMs: 10_000,
    maxDelayMs: 3_600_000,
    forgetAfterMs: 3_600_000,
  },
});

/** Options of {@linkcode AccountLimits}; each defaults to {@linkcode DEFAULT_ACCOUNT_LIMITS}. */
export interface AccountLimitsOptions {
  loginPerAddress?: AttemptLimiterOptions;
  loginPerAccount?: AttemptLimiterOptions;
  loginPerKnownBrowser?: AttemptLimiterOptions;
  registroPerAddress?: AttemptLimiterOptions;
  /** The clock, in ms. @default {Date.now} */
  now?: () => number;
}

/** The limits on LOGIN and REGISTRO attempts; see the module docs. */
export class AccountLimits {
  readonly #loginAddress: AttemptLimiter;
  readonly #loginAccount: AttemptLimiter;
  readonly #loginKnown: AttemptLimiter;
  readonly #registro: AttemptLimiter;

  constructor(options: AccountLimitsOptions = {}) {
    const d = DEFAULT_ACCOUNT_LIMITS;
    const now = options.now ? { now: options.now } : {};
    this.#loginAddress = new AttemptLimiter({
      ...d.loginPerAddress,
      ...options.loginPerAddress,
      ...now,
    });
    this.#loginAccount = new AttemptLimiter({
      ...d.loginPerAccount,
      ...options.loginPerAccount,
      ...now,
    });
    this.#loginKnown = new AttemptLimiter({
      ...d.loginPerKnownBrowser,
      ...options.loginPerKnownBrowser,
      ...now,
    });
    this.#registro = new AttemptLimiter({
      ...d.registroPerAddress,
      ...options.registroPerAddress,
      ...now,
    });
  }

  /**
   * Counts a LOGIN of `usuario` from `address`, unless either is over its
   * limit (then nothing is counted). With `knownBrowser` (the id of the
   * browser's mark for this account, checked by the caller), the attempt
   * counts for that browser instead of for the account.
   */
  login(address: string, usuario: string, knownBrowser: string | null = null): Attempt {
    const byAddress: [AttemptLimiter, string] = [this.#loginAddress, addressKey(address)];
    const byAccount: [AttemptLimiter, string] = knownBrowser === null
      ? [this.#loginAccount, accountKey(usuario)]
      : [this.#loginKnown, knownBrowser];
    const refusals = [byAddress, byAccount].map(([limiter, key]) => limiter.check(key))
      .filter((attempt) => !attempt.ok);
    if (refusals.length > 0) {
      return { ok: false, retryAfterMs: Math.max(...refusals.map((r) => r.retryAfterMs)) };
    }
    for (const [limiter, key] of [byAddress, byAccount]) limiter.take(key);
    return { ok: true };
  }

  /**
   * A LOGIN succeeded: the account (and the known browser it came from)
   * starts over, the address gets its attempt back.
   */
  loginSucceeded(address: string, usuario: string, knownBrowser: string | null = null): void {
    this.#loginAccount.reset(accountKey(usuario));
    if (knownBrowser !== null) this.#loginKnown.reset(knownBrowser);
    this.#loginAddress.forgive(addressKey(address));
  }

  /**
   * A LOGIN counted by {@linkcode login} was never sent (no connection to
   * the daemon could be made): nothing was guessed, so the attempt is given
   * back. Else retries through an outage would use up the free attempts,
   * and the waits they start outlast it. (One sent and not answered, late
   * or its connection lost, may have been checked: it stays counted.)
   */
  loginUnanswered(address: string, usuario: string, knownBrowser: string | null = null): void {
    this.#loginAddress.forgive(addressKey(address));
    if (knownBrowser === null) this.#loginAccount.forgive(accountKey(usuario));
    else this.#loginKnown.forgive(knownBrowser);
  }

  /** Counts a REGISTRO from `address`, unless it is over its limit. */
  register(address: string): Attempt {
    return this.#registro.take(addressKey(address));
  }

  /** A REGISTRO counted by {@linkcode register} was never sent: given back. */
  registerUnanswered(address: string): void {
    this.#registro.forgive(addressKey(address));
  }
}
