/**
 * Salted slow password hashes: `node:crypto` scrypt, whose async form runs
 * on the runtime's thread pool, so hashing never blocks the event loop.
 *
 * Hashes are PHC strings that carry their own parameters
 * (`$scrypt$ln=15,r=8,p=1,nfc=1$SALT$HASH`, base64 without padding), so the
 * cost can be raised later without breaking stored accounts.
 *
 * A password is hashed in Unicode's composed form (NFC, as RFC 8265's
 * OpaqueString has it): `contraseña` typed with a precomposed `ñ` and pasted
 * with `n` + a combining tilde (as text from a macOS file name comes) is one
 * password. Hashes that say `nfc=1` were made so; a hash without it (made
 * before) is checked against the password exactly as typed, as it was made.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** The cost of scrypt: `N = 2^ln`, block size `r`, parallelism `p`. */
export interface ScryptParams {
  /** log2 of N, the CPU/memory cost. */
  ln: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
}

/**
 * The default cost: N = 2^15, r = 8, p = 1 — 32 MiB and about 150 ms per
 * hash on one core of our 2-core machines.
 */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ ln: 15, r: 8, p: 1 });

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const PHC_REGEXP =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})(,nfc=1)?\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** Options of {@linkcode PasswordHasher}. */
export interface PasswordHasherOptions {
  /** The cost of new hashes. @default {DEFAULT_SCRYPT} */
  params?: ScryptParams;
  /** Hashes computed at once; more wait their turn (each takes 128·N·r bytes). @default 2 */
  concurrency?: number;
  /**
   * Hashes waiting for their turn at most; one more is refused at once with
   * a {@linkcode HasherBusyError}, so a flood of logins cannot queue
   * without bound. @default {Infinity}
   */
  maxWaiting?: number;
  /** The key derivation, called with the `node:crypto` scrypt arguments (tests count calls). @default {scrypt of node:crypto} */
  scrypt?: typeof scrypt;
}

/** Thrown when `maxWaiting` hashes already wait for their turn: nothing was hashed. */
export class HasherBusyError extends Error {
  /** @param maxWaiting The bound that was reached. */
  constructor(maxWaiting: number) {
    super(`Cannot hash: ${maxWaiting} hashes are already waiting`);
    this.name = "HasherBusyError";
  }
}

/** Thrown for a hash asked for, or still waiting its turn, once {@linkcode PasswordHasher.stop} was called. */
export class HasherStoppedError extends Error {
  constructor() {
    super("Cannot hash: the hasher is stopping");
    this.name = "HasherStoppedError";
  }
}

/**
 * Hashes and checks passwords, a bounded number at a time.
 *
 * @example Usage
 * ```ts
 * import { PasswordHasher } from "./password_hash.ts";
 * const hasher = new PasswordHasher({ params: { ln: 10, r: 8, p: 1 } });
 * const hash = await hasher.hash("s3cret-pass");
 * console.log(await hasher.verify("s3cret-pass", hash)); // true
 * console.log(await hasher.verify("wrong-pass", hash)); // false
 * ```
 */
export class PasswordHasher {
  readonly #params: ScryptParams;
  readonly #concurrency: number;
  readonly #maxWaiting: number;
  readonly #scrypt: typeof scrypt;
  #running = 0;
  readonly #waiting: { resolve: () => void; reject: (error: Error) => void }[] = [];
  #stopped = false;
  #dummy: string | null = null;

  constructor(options: PasswordHasherOptions = {}) {
    this.#params = { ...(options.params ?? DEFAULT_SCRYPT) };
    this.#concurrency = Math.max(1, options.concurrency ?? 2);
    this.#maxWaiting = Math.max(0, options.maxWaiting ?? Infinity);
    this.#scrypt = options.scrypt ?? scrypt;
  }

  /**
   * A new salted hash of `password` in its composed form (NFC), as a PHC string.
   *
   * @param password The password in clear; never stored or logged.
   */
  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const key = await this.#derive(password.normalize("NFC"), salt, this.#params, HASH_BYTES);
    return phc(this.#params, salt, key);
  }

  /**
   * Whether `password` matches `stored`, compared in constant time: in its
   * composed form (NFC) when `stored` says `nfc=1`, else as given. A
   * malformed `stored` is false (after the same work as a real check).
   */
  async verify(password: string, stored: string): Promise<boolean> {
    const match = PHC_REGEXP.exec(stored);
    if (match === null) {
      await this.verify(password, this.dummyHash());
      return false;
    }
    const [, ln, r, p, nfc, salt, expected] = match;
    const want = Buffer.from(expected!, "base64");
    const params = { ln: Number(ln), r: Number(r), p: Number(p) };
    const typed = nfc === undefined ? password : password.normalize("NFC");
    const got = await this.#derive(typed, Buffer.from(salt!, "base64"), params, want.length);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  /**
   * A hash of no password with the current cost: a random salt and a random
   * key, made once and at no cost (no derivation), so that the first LOGIN
   * of an unknown name takes no longer than the next. Checking a password
   * against it costs what a real check costs and always fails (a key would
   * have to match 32 random bytes): LOGIN uses it for unknown names so they
   * take as long as wrong passwords.
   */
  dummyHash(): string {
    return this.#dummy ??= phc(this.#params, randomBytes(SALT_BYTES), randomBytes(HASH_BYTES));
  }

  async #derive(
    password: string,
    salt: Uint8Array,
    { ln, r, p }: ScryptParams,
    length: number,
  ): Promise<Buffer> {
    await this.#acquire();
    try {
      const N = 2 ** ln;
      const maxmem = 128 * N * r * p + 16 * 1024 * 1024;
      return await new Promise<Buffer>((resolve, reject) =>
        this.#scrypt(password, salt, length, { N, r, p, maxmem }, (error, key) => {
          if (error) reject(error);
          else resolve(key);
        })
      );
    } finally {
      this.#release();
    }
  }

  /**
   * Stops taking hashes: those waiting for their turn, and any asked for
   * later, reject with a {@linkcode HasherStoppedError}; running ones finish.
   */
  stop(): void {
    this.#stopped = true;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(new HasherStoppedError());
  }

  /** Hashes waiting for their turn now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  #acquire(): Promise<void> {
    if (this.#stopped) return Promise.reject(new HasherStoppedError());
    if (this.#running < this.#concurrency) {
      this.#running++;
      return Promise.resolve();
    }
    if (this.#waiting.length >= this.#maxWaiting) {
      return Promise.reject(new HasherBusyError(this.#maxWaiting));
    }
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next.resolve(); // the slot passes straight to the next waiter
    else this.#running--;
  }
}

/** The PHC string of a scrypt hash of a composed password: `$scrypt$ln=…,r=…,p=…,nfc=1$<salt>$<key>`. */
function phc({ ln, r, p }: ScryptParams, salt: Uint8Array, key: Uint8Array): string {
  return `$scrypt$ln=${ln},r=${r},p=${p},nfc=1$${b64(salt)}$${b64(key)}`;
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replace(/=+$/, "");
}
