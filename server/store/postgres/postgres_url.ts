/**
 * `--db postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (§9): recognising
 * it, reading it into the driver's options, and showing it without its
 * password. A URL's password never reaches a log line or an error message:
 * everything that shows a URL shows {@linkcode redactDatabaseUrl} of it.
 *
 * @module
 */

/**
 * Whether `db` is meant to name a PostgreSQL database: it starts with
 * `postgres:` or `postgresql:`. A slash too few (`postgres:/ana:pw@db/x`) is
 * such a URL mistyped, to be refused by {@linkcode parsePostgresUrl}: taken
 * for a SQLite file's name, it was shown, password and all, in the error
 * about its directory.
 */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(?:ql)?:/i.test(db.trim());
}

/** Where a PostgreSQL URL points, read into the parts the driver takes. */
export interface PostgresTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  /** Empty when the URL has none (the driver then reads `PGPASSWORD`). */
  password: string;
  /** libpq's `sslmode`, when given: `disable`, `prefer`, `require`, `verify-ca`, `verify-full`. */
  sslmode: string | null;
  /** `application_name`, when given. */
  applicationName: string | null;
  /**
   * libpq's `sslrootcert`, when given: a PEM file of the certificate
   * authorities to trust for `verify-ca` and `verify-full` (and, as libpq
   * does, for `require`, which then verifies as `verify-ca`), or `system`
   * (the system's authorities, with `verify-full` only).
   */
  sslrootcert: string | null;
}

const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];
const KNOWN_PARAMS = new Set(["sslmode", "application_name", "sslrootcert"]);

/**
 * Reads a PostgreSQL URL.
 *
 * @param db The `--db` value.
 * @returns Its parts.
 * @throws {RangeError} Why it is not a usable URL; the message never contains
 * the password.
 *
 * @example Usage
 * ```ts
 * import { parsePostgresUrl } from "./postgres_url.ts";
 * const target = parsePostgresUrl("postgres://ana:s3cret@db.example:6543/pedidos?sslmode=require");
 * console.log(target.host, target.port, target.database, target.sslmode); // db.example 6543 pedidos require
 * ```
 */
export function parsePostgresUrl(db: string): PostgresTarget {
  if (!/^postgres(?:ql)?:\/\//i.test(db.trim())) {
    throw new RangeError("must start with postgres:// or postgresql://");
  }
  let url: URL;
  try {
    url = new URL(db.trim());
  } catch {
    throw new RangeError("must be a URL postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE");
  }
  // (A URL of this scheme keeps its host %-encoded, as libpq takes it: decoded.)
  const host = decode(url.hostname.replace(/^\[(.*)\]$/, "$1"));
  if (host === "") throw new RangeError("must name a host: postgres://USER@HOST/DATABASE");
  if (host.includes(",")) {
    // libpq's list of hosts to try in turn: the driver would look the whole up as one name.
    throw new RangeError(
      "names several hosts (HOST1,HOST2): pedidos connects to one; give one host, or a name that follows the primary",
    );
  }
  if (host.startsWith("/")) {
    // libpq's Unix-socket directory: looked up as a host name, it never resolved.
    throw new RangeError("names a Unix socket directory as its host; give a TCP host: HOST[:PORT]");
  }
  const user = decode(url.username);
  if (user === "") throw new RangeError("must name a user: postgres://USER@HOST/DATABASE");
  // One path segment, decoded as libpq does: `%2F` is a "/" in the database's name.
  const path = url.pathname.replace(/^\//, "");
  if (path === "" || path.includes("/")) {
    throw new RangeError("must name one database: postgres://USER@HOST/DATABASE");
  }
  const database = decode(path);
  const port = url.port === "" ? 5432 : Number(url.port);
  if (port === 0) throw new RangeError("has port 0; give the server's port, 1-65535");
  for (const key of url.searchParams.keys()) {
    if (!KNOWN_PARAMS.has(key)) {
      throw new RangeError(
        `has an unknown parameter "${key}" (known: sslmode, sslrootcert, application_name)`,
      );
    }
  }
  // A parameter given twice counts with its last value, as libpq (and so psql) reads it:
  // `?sslmode=disable&sslmode=require` requires TLS there, and must not connect without here.
  const param = (key: string) => url.searchParams.getAll(key).at(-1) ?? null;
  const sslmode = param("sslmode");
  if (sslmode !== null && !SSL_MODES.includes(sslmode)) {
    throw new RangeError(`has sslmode "${sslmode}"; use one of ${SSL_MODES.join(", ")}`);
  }
  const sslrootcert = param("sslrootcert");
  if (sslrootcert === "") throw new RangeError("has an empty sslrootcert; give a PEM file's path");
  if (sslrootcert !== null && !["require", "verify-ca", "verify-full"].includes(sslmode ?? "")) {
    throw new RangeError(
      `has sslrootcert with sslmode ${
        sslmode ?? "unset"
      }, which verifies no certificate; use sslmode=verify-full (or verify-ca)`,
    );
  }
  // As libpq: verify-ca checks no name, so it needs the authorities of this
  // server's certificates, not every public one (any certificate a public
  // authority signed, for any name, would pass); `system` is for verify-full.
  if (sslmode === "verify-ca" && (sslrootcert === null || sslrootcert === "system")) {
    throw new RangeError(
      "has sslmode=verify-ca without sslrootcert=PATH: it checks no name, so it needs the authority of the server's certificate; give sslrootcert=PATH, or use sslmode=verify-full",
    );
  }
  if (sslrootcert === "system" && sslmode !== "verify-full") {
    throw new RangeError("has sslrootcert=system, which needs sslmode=verify-full (as in libpq)");
  }
  const password = decode(url.password);
  const applicationName = param("application_name");
  // The protocol's strings end at a NUL: the server refuses a startup packet
  // with one inside, on every try, which would read as an outage forever.
  const parts = { host, user, password, database, application_name: applicationName };
  for (const [name, value] of Object.entries(parts)) {
    if (value?.includes("\0")) {
      throw new RangeError(`has a NUL (%00) in its ${name}, which PostgreSQL cannot take`);
    }
  }
  return { host, port, database, user, password, sslmode, applicationName, sslrootcert };
}

/**
 * The URL as it may be shown: its password replaced by `***`. Text that is
 * not a URL with a password is returned as it is.
 *
 * @example Usage
 * ```ts
 * import { redactDatabaseUrl } from "./postgres_url.ts";
 * console.log(redactDatabaseUrl("postgres://ana:s3cret@db/pedidos")); // postgres://ana:***@db/pedidos
 * ```
 */
export function redactDatabaseUrl(db: string): string {
  // Not through URL: a malformed URL must be redacted too. Up to the last
  // "@", so that an unescaped "@" in a password does not leave a part shown.
  // Any scheme: a URL refused for its scheme is shown masked too.
  // A password given as a parameter (`?password=…`, which libpq takes) too.
  // A scheme with its slashes mistyped (`postgres:/ana:pw@db/x`) too.
  // And "//user:password@" anywhere, after whatever came before the scheme
  // (a quote an env file kept, `db=`): a value that is no URL is shown too.
  // And "user:password@host" with no "//" at all (the scheme left out:
  // `postgres:pw@db/x`, `ana:pw@db/x`), which the other forms miss.
  // And, in a PostgreSQL URL with no "@" at all (its host left out, or cut
  // at a "#"), what follows `//user:`: a password or a port, which cannot
  // be told apart there.
  return db.replace(/^(\s*[a-z][a-z0-9+.-]*:\/*[^:@/?#]*):.*@/i, "$1:***@")
    .replace(CREDENTIALS, "$1:***@")
    .replace(BARE_CREDENTIALS, "$1:***@")
    .replace(NO_HOST, "$1:***")
    .replace(/([?&](?:password|pass)=)[^&#]*/gi, "$1***");
}

/**
 * `scheme://user:` (or `postgres:user:`) and all that follows it, in a value
 * with no `@`: whether what follows is a password or a port cannot be told
 * there, nor where a password with a `/`, `?`, `#` or space in it ends.
 */
const NO_HOST =
  /^(\s*(?:postgres(?:ql)?:\/*|[a-z][a-z0-9+.-]*:\/\/)[^:/?#@\s]*):(?=[^@]*$)[\s\S]*$/i;

/** `//user:password@` anywhere in a value, up to its last `@`. */
const CREDENTIALS = /(\/\/[^:@/?#\s]*):.*@/;

/**
 * `user:password@` at the start of a value, no `/` before the `:` nor right
 * after it, up to the last `@`: a URL without its `scheme://`.
 */
const BARE_CREDENTIALS = /^(\s*[^\s:/@]*):(?!\/).*@/;

/**
 * `user:password@host/database` with no scheme: a URL, not a file's name
 * (`backup:2026@x.db` may be one, and is shown masked but opened).
 */
const BARE_URL = /^\s*[^\s:/@]*:(?!\/).*@[^/@\s]+\/[^/\s]+$/;

/**
 * Whether `db` holds `//user:password@` somewhere, or is
 * `user:password@host/database` (its scheme left out): a database URL with
 * a password, whatever comes before it.
 */
export function hasUrlCredentials(db: string): boolean {
  return CREDENTIALS.test(db) || BARE_URL.test(db);
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new RangeError("has a malformed %-escape");
  }
}
