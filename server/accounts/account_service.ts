/**
 * The account service of the protocol's §2.6: REGISTRO, LOGIN and the
 * sessions behind GET_TAREAS_HTML.
 *
 * - Passwords are kept only as salted scrypt hashes, computed off the main
 *   thread ({@linkcode PasswordHasher}), and never logged.
 * - A wrong name and a wrong password get the same `bad_credentials`, after
 *   the same work: an unknown name is checked against a dummy hash.
 * - A session token is 32 random bytes (base64url, 43 characters), given
 *   once to the client; the store keeps only its SHA-256, with an expiry.
 * - Hashing is slow on purpose, so waiting for it is bounded: when
 *   `maxLoginQueue` REGISTRO/LOGIN already wait for the hasher, one more is
 *   refused at once with `queue_full` (nothing is created or checked).
 *
 * @module
 */

import { createHash, randomBytes } from "node:crypto";
import type { AccountStore, Sesion } from "../store/store.ts";
import { DEFAULT_LIMITS, DEFAULT_SESSION_TTL_S } from "../config/server_config.ts";
import type { Logger } from "../log.ts";
import { HasherBusyError, HasherStoppedError, PasswordHasher } from "./password_hash.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { Credentials, Secret } from "../protocol/messages.ts";
import type { LoginReply, RegistroReply } from "../protocol/replies.ts";

/** Options of {@linkcode AccountService}. */
export interface AccountServiceOptions {
  /** Where accounts and sessions are kept (writes go through the single writer). */
  store: AccountStore;
  logger: Logger;
  /** How long a session token is valid, in seconds. @default {86400} */
  sessionTtlS?: number;
  /** Hashes passwords. @default {a PasswordHasher with the default cost and `maxLoginQueue`} */
  hasher?: PasswordHasher;
  /** REGISTRO/LOGIN waiting for the hasher at most (`--max-login-queue`). @default {1024} */
  maxLoginQueue?: number;
  /** The clock, in ms since the epoch. @default {Date.now} */
  now?: () => number;
  /** Expired sessions are deleted at most this often, on a LOGIN. @default {60000} */
  sweepEveryMs?: number;
}

const TOKEN_BYTES = 32;

/**
 * The SHA-256 of a session token, in hex: what the store keeps and looks up.
 *
 * @param token The token as given to the client.
 */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Registers users, checks passwords, issues and checks session tokens. */
export class AccountService {
  readonly #store: AccountStore;
  readonly #logger: Logger;
  readonly #ttlMs: number;
  readonly #hasher: PasswordHasher;
  readonly #now: () => number;
  readonly #sweepEveryMs: number;
  #lastSweep = -Infinity;

  constructor(options: AccountServiceOptions) {
    this.#store = options.store;
    this.#logger = options.logger;
    this.#ttlMs = (options.sessionTtlS ?? DEFAULT_SESSION_TTL_S) * 1000;
    this.#hasher = options.hasher ??
      new PasswordHasher({ maxWaiting: options.maxLoginQueue ?? DEFAULT_LIMITS.maxLoginQueue });
    this.#now = options.now ?? Date.now;
    this.#sweepEveryMs = options.sweepEveryMs ?? 60_000;
  }

  /**
   * REGISTRO: stores a new account with a salted hash of its password.
   *
   * @returns `{ok: true, usuario}`.
   * @throws {ProtocolError} `user_exists` when the name is taken (ignoring
   * ASCII case); `queue_full` when too many wait for the hasher.
   */
  async register({ usuario, password }: Credentials): Promise<RegistroReply> {
    if (await this.#store.findUser(usuario) !== null) throw userExists(usuario);
    const hash = await busyAsQueueFull(this.#hasher.hash(password.reveal()));
    const id = await this.#store.createUser(usuario, hash, this.#iso(0));
    if (id === null) throw userExists(usuario); // registered meanwhile
    this.#logger.info("account.registered", { usuario });
    return { ok: true, usuario };
  }

  /**
   * LOGIN: checks the password and opens a session.
   *
   * @param from Where the request came from, for the log of a failed attempt.
   * @returns `{ok: true, usuario, token, expira, rol}`; `usuario` as registered.
   * @throws {ProtocolError} `bad_credentials`, the same for an unknown name
   * and a wrong password, after the same work; `queue_full` when too many
   * wait for the hasher.
   */
  async login(
    { usuario, password }: Credentials,
    from: { peer?: string | undefined } = {},
  ): Promise<LoginReply> {
    const user = await this.#store.findUser(usuario);
    const stored = user?.hash ?? this.#hasher.dummyHash();
    const matches = await busyAsQueueFull(this.#hasher.verify(password.reveal(), stored));
    if (user === null || !matches) {
      // No name: people type passwords there. The address, to trace guessing.
      this.#logger.info("account.login_failed", from.peer === undefined ? {} : { peer: from.peer });
      throw new ProtocolError("bad_credentials");
    }
    const token = randomBytes(TOKEN_BYTES).toString("base64url");
    const expira = this.#iso(this.#ttlMs);
    await this.#store.createSession(hashToken(token), user.id, expira);
    this.#logger.info("account.login", { usuario: user.usuario });
    await this.#sweep();
    return { ok: true, usuario: user.usuario, token, expira, rol: user.rol };
  }

  /**
   * The live session of a token.
   *
   * @throws {ProtocolError} `unauthorized` when the token is unknown or expired.
   */
  async authenticate(token: Secret): Promise<Sesion> {
    const sesion = await this.#store.findSession(hashToken(token.reveal()), this.#iso(0));
    if (sesion === null) throw new ProtocolError("unauthorized", undefined, { campo: "token" });
    return sesion;
  }

  /**
   * The daemon is stopping: REGISTRO/LOGIN still waiting for the hasher (and
   * any later one) are answered `shutting_down` rather than cut off with no
   * reply when the connections close; the hashes running now finish.
   */
  stop(): void {
    this.#hasher.stop();
  }

  #iso(offsetMs: number): string {
    return new Date(this.#now() + offsetMs).toISOString();
  }

  /** Deletes expired sessions, at most once per `sweepEveryMs`; a failure is only logged. */
  async #sweep(): Promise<void> {
    const now = this.#now();
    if (now - this.#lastSweep < this.#sweepEveryMs) return;
    this.#lastSweep = now;
    try {
      const deleted = await this.#store.deleteExpiredSessions(new Date(now).toISOString());
      if (deleted > 0) this.#logger.debug("account.sessions_expired", { deleted });
    } catch (error) {
      this.#logger.warn("account.sweep_failed", { error: String(error) });
    }
  }
}

/**
 * `work`, with the hasher's {@linkcode HasherBusyError} turned into
 * `queue_full`, and its {@linkcode HasherStoppedError} into `shutting_down`.
 */
async function busyAsQueueFull<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof HasherStoppedError) {
      throw new ProtocolError("shutting_down", undefined, { cause: error });
    }
    if (!(error instanceof HasherBusyError)) throw error;
    throw new ProtocolError(
      "queue_full",
      "❌ Demasiados inicios de sesión y registros en espera. Intente de nuevo en unos segundos.",
      { cause: error },
    );
  }
}

function userExists(usuario: string): ProtocolError {
  return new ProtocolError("user_exists", `❌ El usuario ${usuario} ya existe.`, {
    campo: "usuario",
  });
}
