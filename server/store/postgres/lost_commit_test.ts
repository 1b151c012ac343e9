import assert from "node:assert/strict";
import postgres from "postgres";
import { pgSkipReason } from "../../../tests/postgres_util.ts";
import {
  privatePostgresSkipReason,
  startPrivatePostgres,
} from "../../../tests/private_postgres.ts";
import { StoreUnavailableError } from "../store_unavailable_error.ts";
import { orderWrites } from "./order_writes.ts";
import { migrate } from "./postgres_schema.ts";
import { PostgresWriter } from "./postgres_writer.ts";

/** Why this file's tests, each on a PostgreSQL server of its own, cannot run here. */
const skip = pgSkipReason || await privatePostgresSkipReason();

Deno.test({
  name:
    `a new order whose commit waits for a synchronous standby that never answers is answered unavailable, outcome unknown, and its wait is not cut short${
      skip ? ` [${skip}]` : ""
    }`,
  ignore: skip !== false,
  async fn() {
    // A standby that never comes: every commit waits for it (synchronous_commit on).
    await using server = await startPrivatePostgres({ synchronous_standby_names: "nadie" });
    const local = { synchronous_commit: "local" };
    const admin = postgres(server.url, { max: 1, onnotice: () => {}, connection: local });
    const sql = postgres(server.url, { max: 3, onnotice: () => {} });
    const writer = new PostgresWriter({
      sql: () => sql,
      onCommit: () => {},
      unavailable: (what, error) => new StoreUnavailableError(what, String(error)),
      deadlineMs: 800,
      recoverMs: 1200,
    });
    try {
      await migrate(admin);
      const writing = writer.write(orderWrites("nodo-a", 30_000).insert, {
        pedido: { cliente: "Ana", productos: ["pan"], direccion: "C 1", clave: "k1" },
        receivedAt: new Date().toISOString(),
        owner: null,
      });
      const failure = await writing.then(
        (result) => assert.fail(`answered ${JSON.stringify(result)}: a commit not on the standby`),
        (error) => error,
      );
      assert.ok(failure instanceof StoreUnavailableError, String(failure));
      assert.equal(failure.outcomeUnknown, true);
      // Still waiting for the standby: not terminated, which would have left it on this server only.
      const waiting = await admin`SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE wait_event = 'SyncRep'`;
      assert.equal(waiting[0]?.n, 1);
    } finally {
      await writer.close();
      await sql.end({ timeout: 0 });
      await admin.end({ timeout: 0 });
    }
  },
});
