import assert from "node:assert/strict";
import postgres from "postgres";
import { freshDatabase, pgTest } from "../../../tests/postgres_util.ts";
import { migrate } from "./postgres_schema.ts";
import { PostgresReads } from "./postgres_reads.ts";
import {
  assertNoTableScan,
  inlined,
  planOf,
  type Sent,
  StatementRecorder,
} from "../../../tests/statement_recorder.ts";

const AT = "2026-12-01T10:00:00.000Z";

/**
 * The statements a claim sends (with takeover, and without), and a renewal
 * of `limit` leases, with their parameters.
 */
async function claimStatements(limit: number): Promise<Sent[]> {
  const recorder = new StatementRecorder();
  // (The heartbeat beside a renewal is not under test: it is answered as alone.)
  const pool = recorder.pool([{ yo: 1, otros: 0 }]);
  const reads = new PostgresReads(() => pool);
  const holder = { nodeId: "nodo-a", leaseMs: 30_000 };
  await reads.claim(pool, { limit, at: AT, takeover: true, holding: [1, 2], ...holder });
  const leases = Array.from({ length: limit }, (_, i) => ({ id: 65_001 + i, attempt: 1 }));
  await reads.renew(pool, leases, { ...holder, capacity: 10 });
  return recorder.sent;
}

pgTest({
  name:
    "a claim or a renewal beside 60,000 finished orders reaches its orders through indexes, not by reading the table",
  async fn() {
    await using db = await freshDatabase();
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await migrate(sql);
      // A queue that has been running: many finished orders, some waiting, some leases run out.
      await sql`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido, estado, intentos)
        SELECT 'Ana ' || n, '["pan"]', 'C 1', now(), 'listo', 1 FROM generate_series(1, 60000) n`;
      await sql`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido)
        SELECT 'Eva ' || n, '["pan"]', 'C 1', now() FROM generate_series(1, 5000) n`;
      await sql`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido, estado,
          intentos, nodo, lease_hasta)
        SELECT 'Gil ' || n, '["pan"]', 'C 1', now(), 'en proceso', 1, 'nodo-b',
          now() - interval '1 minute' FROM generate_series(1, 2000) n`;
      await sql`ANALYZE pedidos`;
      for (const limit of [1024, 8]) {
        const sent = await claimStatements(limit);
        assert.equal(sent.length, 3, "the takeover, the claim, the renewal");
        for (const [text, params] of sent) {
          const plan = await planOf(sql, inlined([text, params]));
          const what = `limit ${limit}, ${text.replace(/\s+/g, " ").slice(0, 60)}`;
          assertNoTableScan(plan, what);
        }
      }
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});

pgTest({
  name:
    "LISTAR of the orders in error or cancelled, rare among 60,000 finished, reaches them through an index",
  async fn() {
    await using db = await freshDatabase();
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await migrate(sql);
      await sql`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido, estado, intentos)
        SELECT 'Ana ' || n, '["pan"]', 'C 1', now(),
          CASE WHEN n % 20000 = 0 THEN 'error' WHEN n % 20000 = 1 THEN 'cancelado' ELSE 'listo' END,
          1 FROM generate_series(1, 60000) n`;
      await sql`ANALYZE pedidos`;
      for (const estado of ["error", "cancelado"] as const) {
        const recorder = new StatementRecorder();
        await new PostgresReads(() => recorder.pool()).list({ estado, limit: 50 });
        const [text, params] = recorder.sent[0]!;
        const plan = await planOf(sql, inlined([text, params]));
        assert.doesNotMatch(plan, /Seq Scan on pedidos\b(?!_)/, `${estado}:\n${plan}`);
        assert.doesNotMatch(plan, /Index Scan Backward using pedidos_pkey/, `${estado}:\n${plan}`);
        const found = await sql.unsafe(text, params as never[]);
        assert.equal(found.length, 3, `${estado}: every one of them`);
      }
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});
