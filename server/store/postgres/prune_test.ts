import assert from "node:assert/strict";
import postgres from "postgres";
import { freshDatabase, pgTest } from "../../../tests/postgres_util.ts";
import { orderWrites } from "./order_writes.ts";
import { migrate } from "./postgres_schema.ts";
import { WRITER_SETTINGS } from "./postgres_writer.ts";
import { StatementRecorder } from "../../../tests/statement_recorder.ts";

pgTest({
  name:
    "a retention pass does not delete an old failed order that a REINTENTAR made pendiente again while the pass waited for it",
  async fn() {
    await using db = await freshDatabase();
    const sql = postgres(db.url, { max: 2, onnotice: () => {}, connection: WRITER_SETTINGS });
    const watch = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await migrate(sql);
      // An order that failed a month ago, past a week's retention.
      const [row] = await sql<{ id: number }[]>`INSERT INTO pedidos (cliente, productos,
          direccion, fecha_recibido, estado, intentos, fecha_inicio, fecha_fin, detalle_error)
        VALUES ('Ana', '["pan"]', 'C 1', now() - interval '30 days', 'error', 1,
          now() - interval '30 days', now() - interval '30 days', 'falló')
        RETURNING id::int AS id`;
      const recorder = new StatementRecorder();
      const before = new Date(Date.now() - 7 * 86_400_000).toISOString();
      await orderWrites("nodo-a", 30_000).prune.apply(recorder.batch as never, [
        { before, limit: 500 },
      ]);
      const [text, params] = recorder.sent[0]!;
      const retry = await sql.reserve();
      try {
        // Another daemon's REINTENTAR, not committed yet: the pass picks the order, then waits.
        await retry`BEGIN`;
        await retry`UPDATE pedidos SET estado = 'pendiente', fecha_fin = NULL WHERE id = ${
          row!.id
        }`;
        const pruning = sql.unsafe(text, params as never[]).execute();
        // Until the pass waits for the row lock of the retry.
        for (let waiting = false; !waiting;) {
          const [lock] = await watch`SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = ${db.name} AND wait_event_type = 'Lock'`;
          waiting = lock!.n > 0;
          if (!waiting) await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await retry`COMMIT`;
        assert.deepEqual([...await pruning], [], "nothing deleted");
      } finally {
        retry.release();
      }
      const [kept] = await sql`SELECT estado FROM pedidos WHERE id = ${row!.id}`;
      assert.equal(kept?.estado, "pendiente", "the order retried is still there");
    } finally {
      await sql.end({ timeout: 1 });
      await watch.end({ timeout: 1 });
    }
  },
});
