/**
 * The driver's options for a PostgreSQL URL (`npm:postgres`): where to
 * connect, how long to wait, and how values are read back.
 *
 * @module
 */

import tls from "node:tls";
import type { Options } from "postgres";
import type { PostgresTarget } from "./postgres_url.ts";

/** `int8` (ids, counts) read as numbers, not strings: ids stay below 2^53. */
const INT8_AS_NUMBER = {
  to: 20,
  from: [20],
  serialize: (value: number) => String(value),
  parse: (text: string) => Number(text),
};

/**
 * The longest one of our transactions may wait for this process, in ms,
 * whatever the lease: every transaction sends all its statements at once
 * (the writer's) or one right after another (migrations, the node's
 * registration), so only a paused or cut-off daemon leaves one waiting that
 * long. One paused holding the capacity lock held up every other daemon's
 * intake until then, which past their 15 s deadline answered `unavailable`
 * though the database was up; 5 s stays below that deadline.
 */
export const IDLE_IN_TRANSACTION_MS = 5000;

/** {@linkcode DriverSettings.idleInTransactionMs} for a lease of `leaseMs`: the shorter. */
export function idleInTransactionMsFor(leaseMs: number): number {
  return Math.min(leaseMs, IDLE_IN_TRANSACTION_MS);
}

/**
 * Settings every session of the store starts with, whatever the database's
 * or the role's defaults (`ALTER DATABASE … SET`, `postgresql.conf`), which
 * the store's correctness must not depend on:
 * - `default_transaction_isolation`: read committed. The capacity check
 *   counts unfinished orders in the statement after it takes the capacity
 *   lock, and must see what the lock's last holder committed: under
 *   repeatable read the transaction's snapshot is taken by the statement
 *   that waits for the lock, before it has it, and three daemons accepted
 *   12 orders for a capacity of 5; under serializable, claims fail.
 * - `DateStyle`: ISO. The driver reads `timestamptz` from its text; in the
 *   `SQL` or `German` styles with DMY it read 6 December as 12 June, and
 *   with a zone abbreviation it could not read it at all (every read
 *   failed).
 */
export const SESSION_SETTINGS: Readonly<Record<string, string>> = {
  default_transaction_isolation: "read committed",
  datestyle: "ISO, MDY",
};

/**
 * `synchronous_commit` of the sessions that commit orders, for `--sync`,
 * whatever the database's or the role's default (an `ALTER DATABASE … SET
 * synchronous_commit = off` made every `ok` an asynchronous commit):
 * - `full`: `on`. A commit is on the server's disk before the daemon
 *   answers: an `ok` survives a crash of the daemon, of PostgreSQL, or of
 *   its machine (§6).
 * - `normal`: `off`. A commit is in PostgreSQL's memory: an `ok` survives a
 *   crash of the daemon, but a crash of PostgreSQL or its machine may undo
 *   the last commits (up to three times `wal_writer_delay`, 0.6 s by
 *   default), as `--sync normal` on SQLite may on a power loss.
 */
export function synchronousCommit(sync: "full" | "normal"): "on" | "off" {
  return sync === "full" ? "on" : "off";
}

/** Options of {@linkcode driverOptions}. */
export interface DriverSettings {
  /** Connections for reads and writes. */
  poolSize: number;
  /** How long a connection attempt may take, seconds. */
  connectTimeoutS: number;
  /**
   * The longest a transaction of ours may sit idle (the daemon paused, or
   * cut off mid-transaction) before PostgreSQL ends its session, in ms. At
   * most the lease, so that a paused daemon cannot keep an order's row
   * locked past its lease, where another daemon's takeover (`SKIP LOCKED`)
   * would never see it; and short, so that one paused while it held the
   * capacity lock (between its insert and its `COMMIT`) holds up the other
   * daemons' intake for that long only: see {@linkcode IDLE_IN_TRANSACTION_MS}.
   */
  idleInTransactionMs: number;
  /** `--sync`: see {@linkcode synchronousCommit}. */
  sync: "full" | "normal";
  /** The PEM text of the URL's `sslrootcert`, read by the caller. */
  ca?: string;
}

/**
 * The driver's `ssl` for libpq's `sslmode` of `target`, with `ca`, the
 * certificate authorities of its `sslrootcert` (PEM), when it has one.
 *
 * - `disable` (or none): no TLS. `allow` and `prefer`: TLS when the server
 *   has it, unverified (the driver, postgres 3.4.9, would take `allow` as
 *   `require`). `require`: TLS, unverified — verified as `verify-ca` when
 *   `ca` is given, as libpq does with a root certificate.
 * - `verify-ca`: the chain must lead to `ca` (the URL must give one, see
 *   `parsePostgresUrl`); the name is not checked.
 * - `verify-full`: the chain, and the URL's host against the certificate's
 *   names — an IP address too: the driver gives Deno no name for an IP
 *   host, and Deno then checked the name "localhost".
 *
 * @param target The URL, read.
 * @param ca The PEM text of its `sslrootcert` file, when it names one.
 * @returns The driver's `ssl`: `false`, one of its modes, or TLS options.
 *
 * @example Usage
 * ```ts
 * import { sslOptions } from "./driver_options.ts";
 * import { parsePostgresUrl } from "./postgres_url.ts";
 * console.log(sslOptions(parsePostgresUrl("postgres://ana@db/x?sslmode=require"))); // require
 * ```
 */
export function sslOptions(
  target: PostgresTarget,
  ca?: string,
): false | "prefer" | "require" | tls.ConnectionOptions {
  const trust = ca === undefined ? {} : { ca };
  switch (target.sslmode) {
    case null:
    case "disable":
      return false;
    case "allow":
    case "prefer":
      return "prefer";
    case "require":
      if (ca === undefined) return "require";
      return { ...trust, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case "verify-ca":
      return { ...trust, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    default:
      return {
        ...trust,
        rejectUnauthorized: true,
        checkServerIdentity: (_name: string, cert: tls.PeerCertificate) =>
          tls.checkServerIdentity(target.host, cert),
      };
  }
}

/** The driver's options to reach `target`. */
export function driverOptions(
  target: PostgresTarget,
  settings: DriverSettings,
): Options<Record<string, never>> {
  return {
    // One host and its port, as lists (which the driver, postgres 3.4.9,
    // takes, though its types say text): given as text, it splits the host
    // at each ":" for a port, so that an IPv6 address ("::1",
    // "2001:db8::5") reached another server, or failed with no port.
    host: [target.host] as unknown as string,
    port: [target.port] as unknown as number,
    database: target.database,
    user: target.user,
    // Without a password in the URL, the driver reads PGPASSWORD.
    ...(target.password === "" ? {} : { pass: target.password }),
    ssl: sslOptions(target, settings.ca),
    max: settings.poolSize,
    connect_timeout: settings.connectTimeoutS,
    // Connections idle this long are closed: several daemons share the
    // server's max_connections, and each keeps only what its load needs.
    idle_timeout: 10,
    // Left on: with it off, a reserve() that opens a new connection is never
    // answered (postgres 3.4.9 resolves it only after the type query).
    fetch_types: true,
    onnotice: () => {},
    connection: {
      ...SESSION_SETTINGS,
      synchronous_commit: synchronousCommit(settings.sync),
      application_name: target.applicationName ?? "pedidos",
      idle_in_transaction_session_timeout: settings.idleInTransactionMs,
    },
    types: { int8: INT8_AS_NUMBER } as unknown as Record<string, never>,
  };
}
