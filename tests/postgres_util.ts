/**
 * Helpers for tests against the real PostgreSQL (§9): whether it can be
 * reached, and a fresh database per test, dropped after.
 *
 * The server is `PEDIDOS_TEST_PG` (an admin URL), by default the local
 * PostgreSQL at `postgres://postgres@127.0.0.1:5432/postgres`. When it
 * cannot be reached, {@linkcode pgSkipReason} says why and the PostgreSQL
 * tests are ignored with that reason, so the README's test command passes
 * on a machine without PostgreSQL. With `CI=true` they are not ignored:
 * CI must run them, and an unreachable PostgreSQL fails the run.
 *
 * @module
 */

import postgres, { type Options, type Sql } from "postgres";
import { driverOptions } from "../server/store/postgres/driver_options.ts";
import { parsePostgresUrl } from "../server/store/postgres/postgres_url.ts";
import { lackingReason, readEnv } from "./permissions.ts";

/** The admin URL tests create and drop databases with. */
export const PG_ADMIN_URL: string = readEnv("PEDIDOS_TEST_PG") ??
  "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * Where the PostgreSQL server of {@linkcode PG_ADMIN_URL} listens: what a
 * test's TCP proxy forwards to.
 */
export const PG_SERVER: { hostname: string; port: number } = (() => {
  const url = new URL(PG_ADMIN_URL);
  return {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1",
    port: url.port === "" ? 5432 : Number(url.port),
  };
})();

const IN_CI = readEnv("CI") === "true";

/** A connection pool to the admin database (`postgres`), for what a test database cannot do itself. */
export function adminSql(url = PG_ADMIN_URL): Sql {
  return postgres(url, { max: 2, connect_timeout: 5, onnotice: () => {}, fetch_types: false });
}

async function probe(): Promise<string | false> {
  const sql = adminSql();
  try {
    await sql`SELECT 1`;
    return false;
  } catch (error) {
    const shown = PG_ADMIN_URL.replace(/:[^:@/]*@/, ":***@");
    const reason = `PostgreSQL is not reachable at ${shown} (${
      (error as Error).message
    }); start it (pg_ctlcluster 15 main start) or set PEDIDOS_TEST_PG`;
    if (IN_CI) {
      console.error(`CI=true: the PostgreSQL tests run and fail: ${reason}`);
      return false;
    }
    return reason;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * Why the PostgreSQL tests cannot run here (pass it as `ignore`), or false.
 * Always false with `CI=true`.
 */
export const pgSkipReason: string | false =
  // The driver reads libpq's PG* variables; the cluster tests run daemons in temp dirs.
  lackingReason("read", "write", "run", "env") || await probe();
if (pgSkipReason) console.log(`PostgreSQL tests ignored: ${pgSkipReason}`);

/**
 * `Deno.test` for a test against PostgreSQL: ignored, with the reason at the
 * end of its name, when {@linkcode pgSkipReason} says it cannot run.
 */
export function pgTest(definition: { name: string; fn: () => Promise<void> }): void {
  Deno.test({
    ...definition,
    ...(pgSkipReason ? { name: `${definition.name} [${pgSkipReason}]`, ignore: true } : {}),
  });
}

/** A database of its own for one test. */
export interface TestDatabase extends AsyncDisposable {
  /** Its name, `pedidos_t_<random>`. */
  name: string;
  /** A URL for it, with the admin's user and password. */
  url: string;
  /** Runs SQL on it, as the admin (e.g. to look at rows, or to terminate backends). */
  sql: Sql;
}

/**
 * Creates a new, empty database; disposing it terminates its sessions and drops it.
 *
 * @param encoding Its encoding (with the C locale, from template0). @default {the server's}
 */
export async function freshDatabase(encoding?: "LATIN1" | "SQL_ASCII"): Promise<TestDatabase> {
  const name = `pedidos_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = adminSql();
  try {
    await admin.unsafe(
      `CREATE DATABASE ${name}` +
        (encoding ? ` ENCODING '${encoding}' LOCALE 'C' TEMPLATE template0` : ""),
    );
  } finally {
    await admin.end({ timeout: 1 });
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const sql = postgres(url.href, { max: 2, onnotice: () => {}, fetch_types: false });
  return {
    name,
    url: url.href,
    sql,
    async [Symbol.asyncDispose]() {
      await sql.end({ timeout: 1 });
      const admin = adminSql();
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end({ timeout: 1 });
      }
    },
  };
}

/** The store's driver options for `url` with a pool of 2, for tests of the store's parts. */
export function storeDriverOptions(url: string): Options<Record<string, never>> {
  return driverOptions(parsePostgresUrl(url), {
    poolSize: 2,
    connectTimeoutS: 5,
    idleInTransactionMs: 30_000,
    sync: "full",
  });
}
