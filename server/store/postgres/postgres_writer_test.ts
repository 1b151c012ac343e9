import assert from "node:assert/strict";
import postgres from "postgres";
import { freshDatabase, pgTest } from "../../../tests/postgres_util.ts";
import { PostgresWriter, type WriteKind } from "./postgres_writer.ts";

/** A write whose transaction takes `seconds` in the database. */
function slow(seconds: number): WriteKind<null, string> {
  return {
    name: "sleep",
    async apply(ctx, args) {
      await ctx.query(`SELECT pg_sleep(${seconds})`, []);
      return args.map(() => "done");
    },
  };
}

pgTest({
  name:
    "a pool connection closed while idle does not cut short a slow commit on another connection",
  async fn() {
    await using db = await freshDatabase();
    let closes = 0;
    let writer: PostgresWriter | null = null;
    // Connections idle for a second are closed, as the store's are after ten.
    const sql = postgres(db.url, {
      max: 3,
      idle_timeout: 1,
      onnotice: () => {},
      onclose: (id: number) => {
        closes++;
        writer?.connectionClosed(id);
      },
    });
    try {
      writer = new PostgresWriter({
        sql: () => sql,
        onCommit: () => {},
        unavailable: (what, error) => new Error(`unavailable: ${what}`, { cause: error }),
      });
      // Two connections open, then idle: one carries the write, the other closes meanwhile.
      await Promise.all([sql`SELECT pg_sleep(0.05)`, sql`SELECT pg_sleep(0.05)`]);
      const result = await writer.write(slow(3), null);
      assert.equal(result, "done", "committed, not failed as if the database were gone");
      assert.ok(closes >= 1, "an idle connection closed during the commit");
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});
