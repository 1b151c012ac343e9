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
 * their own attempts. The account's limit counts every address, though:
 * while wrong passwords from anywhere keep it limited, its owner waits too
 * (the price of slowing guesses spread over many addresses; see
 * `docs/guarantees.md`).
 *
 * @module
 */

import { type Attempt, AttemptLimiter, type AttemptLimiterOptions } from "./attempt_limiter.ts";
import { addressKey } from "./client_address.ts";
import { accountKey } from "./account_key.ts";

/** The defaults of every limit (documented in `docs/guarantees.md`, "Hostile clients"). */
export const DEFAULT_ACCOUNT_LIMITS = Object.freeze({
  /** LOGIN per client address: 10 free, then 1 s doubling to 15 min; forgotten after 15 min. */
  loginPerAddress: { free: 10, baseDelayMs: 1000, maxDelayMs: 900_000, forgetAfterMs: 900_000 },
  /** LOGIN per account: 5 free, then 1 s doubling to 15 min; forgotten after 15 min. */
  loginPerAccount: { free: 5, baseDelayMs: 1000, maxDelayMs: 900_000, forgetAfterMs: 900_000 },
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
  registroPerAddress?: AttemptLimiterOptions;
  /** The clock, in ms. @default {Date.now} */
  now?: () => number;
}

/** The limits on LOGIN and REGISTRO attempts; see the module docs. */
export class AccountLimits {
  readonly #loginAddress: AttemptLimiter;
  readonly #loginAccount: AttemptLimiter;
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
    this.#registro = new AttemptLimiter({
      ...d.registroPerAddress,
      ...options.registroPerAddress,
      ...now,
    });
  }

  /**
   * Counts a LOGIN of `usuario` from `address`, unless either is over its
   * limit (then nothing is counted).
   */
  login(address: string, usuario: string): Attempt {
    const keys = [addressKey(address), accountKey(usuario)] as const;
    const refusals = [this.#loginAddress.check(keys[0]), this.#loginAccount.check(keys[1])]
      .filter((attempt) => !attempt.ok);
    if (refusals.length > 0) {
      return { ok: false, retryAfterMs: Math.max(...refusals.map((r) => r.retryAfterMs)) };
    }
    this.#loginAddress.take(keys[0]);
    this.#loginAccount.take(keys[1]);
    return { ok: true };
  }

  /** A LOGIN succeeded: the account starts over, the address gets its attempt back. */
  loginSucceeded(address: string, usuario: string): void {
    this.#loginAccount.reset(accountKey(usuario));
    this.#loginAddress.forgive(addressKey(address));
  }

  /** Counts a REGISTRO from `address`, unless it is over its limit. */
  register(address: string): Attempt {
    return this.#registro.take(addressKey(address));
  }
}
