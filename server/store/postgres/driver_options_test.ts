import assert from "node:assert/strict";
import { driverOptions } from "./driver_options.ts";
import { parsePostgresUrl } from "./postgres_url.ts";
import postgres from "postgres";
import { freshDatabase, pgTest } from "../../../tests/postgres_util.ts";

Deno.test("driverOptions() asks for TLS as each libpq sslmode means; allow takes a server without TLS", () => {
  const ssl = (query: string) =>
    driverOptions(parsePostgresUrl(`postgres://ana@127.0.0.1/pedidos${query}`), {
      poolSize: 1,
      connectTimeoutS: 1,
      idleInTransactionMs: 1000,
      sync: "full",
    }).ssl;
  assert.equal(ssl(""), false);
  assert.equal(ssl("?sslmode=disable"), false);
  assert.equal(ssl("?sslmode=allow"), "prefer", "a server without TLS is taken, not refused");
  assert.equal(ssl("?sslmode=prefer"), "prefer");
  assert.equal(ssl("?sslmode=require"), "require");
  assert.equal(ssl("?sslmode=verify-full"), "verify-full");
});

pgTest({
  name:
    "driverOptions() commits as --sync says whatever the database's default: full waits for the disk, normal does not",
  async fn() {
    await using db = await freshDatabase();
    // A database whose owner made commits asynchronous: every ok would have been one.
    await db.sql.unsafe(`ALTER DATABASE ${db.name} SET synchronous_commit = off`);
    for (const [sync, expected] of [["full", "on"], ["normal", "off"]] as const) {
      const sql = postgres(driverOptions(parsePostgresUrl(db.url), {
        poolSize: 1,
        connectTimeoutS: 5,
        idleInTransactionMs: 1000,
        sync,
      }));
      try {
        const [row] = await sql`SHOW synchronous_commit`;
        assert.equal(row?.synchronous_commit, expected, `--sync ${sync}`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    }
    // The database's default is still off for any other session.
    const other = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [row] = await other`SHOW synchronous_commit`;
      assert.equal(row?.synchronous_commit, "off");
    } finally {
      await other.end({ timeout: 1 });
    }
  },
});
