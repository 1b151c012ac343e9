import assert from "node:assert/strict";
import postgres from "postgres";
import { freshDatabase, pgTest } from "../../../tests/postgres_util.ts";
import { migrate } from "./postgres_schema.ts";
import { PostgresReads } from "./postgres_reads.ts";

const AT = "2026-12-01T10:00:00.000Z";

/**
 * The statements a claim sends (with takeover, and without), and a renewal
 * of `limit` leases, with their parameters.
 */
async function claimStatements(limit: number): Promise<[string, unknown[]][]> {
  const sent: [string, unknown[]][] = [];
  // Also called as a tagged template (the heartbeat, not under test here).
  const fake = Object.assign(() => Promise.resolve([{ yo: 1, otros: 0 }]), {
    unsafe: (text: string, params: unknown[]) => {
      sent.push([text, params]);
      return Promise.resolve([]);
    },
  });
  const reads = new PostgresReads(() => fake as never);
  const holder = { nodeId: "nodo-a", leaseMs: 30_000 };
  await reads.claim(fake as never, { limit, at: AT, takeover: true, holding: [1, 2], ...holder });
  const leases = Array.from({ length: limit }, (_, i) => ({ id: 65_001 + i, attempt: 1 }));
  await reads.renew(fake as never, leases, { ...holder, capacity: 10 });
  return sent;
}

function literal(value: unknown): string {
  if (typeof value === "string") return `'${value.replaceAll("'", "''")}'`;
  return String(value);
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
          const rows = await sql.unsafe(
            `EXPLAIN ${text.replace(/\$(\d+)/g, (_, n) => literal(params[Number(n) - 1]))}`,
          );
          const plan = rows.map((row) => row["QUERY PLAN"] as string).join("\n");
          const what = `limit ${limit}, ${text.replace(/\s+/g, " ").slice(0, 60)}`;
          assert.doesNotMatch(plan, /Seq Scan on pedidos\b(?!_)/, `${what}:\n${plan}`);
          assert.doesNotMatch(plan, /Bitmap Heap Scan on pedidos\b(?!_)/, `${what}:\n${plan}`);
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
        const sent: [string, unknown[]][] = [];
        const fake = {
          unsafe: (text: string, params: unknown[]) => {
            sent.push([text, params]);
            return Promise.resolve([]);
          },
        };
        await new PostgresReads(() => fake as never).list({ estado, limit: 50 });
        const [text, params] = sent[0]!;
        const rows = await sql.unsafe(
          `EXPLAIN ${text.replace(/\$(\d+)/g, (_, n) => literal(params[Number(n) - 1]))}`,
        );
        const plan = rows.map((row) => row["QUERY PLAN"] as string).join("\n");
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
