import assert from "node:assert/strict";
import postgres from "postgres";
import { freshDatabase, pgTest } from "../../../tests/postgres_util.ts";
import type { WriteKind } from "./postgres_writer.ts";
import { orderWrites } from "./order_writes.ts";
import { migrate } from "./postgres_schema.ts";
import { WRITER_SETTINGS } from "./postgres_writer.ts";
import {
  assertNoTableScan,
  inlined,
  literal,
  planOf,
  type Sent,
  StatementRecorder,
} from "../../../tests/statement_recorder.ts";

const AT = "2026-12-01T10:00:00.000Z";

/** Every statement the writer's kinds send, with their parameters, as sent. */
async function statements(): Promise<Sent[]> {
  const w = orderWrites("nodo-a", 30_000);
  const recorder = new StatementRecorder();
  const apply = <A>(kind: WriteKind<A, unknown>, args: A) =>
    kind.apply(recorder.batch as never, [args]);
  const pedido = { cliente: "Ana", productos: [{ nombre: "pan", cantidad: 1 }], direccion: "C 1" };
  const insert = { pedido: { ...pedido, clave: "k1" }, receivedAt: AT, owner: null, take: true };
  const lease = { id: 1, attempt: 1 };
  const end = { outcome: { estado: "listo" as const, at: AT }, worker: 1, startedAt: AT };
  await apply(w.insertChecked, insert);
  await apply(w.insert, insert);
  await apply(w.attemptStarted, { lease, worker: 1, at: AT });
  await apply(w.attemptFinished, { lease, end });
  await apply(w.attemptReleased, { lease, started: true, retryInMs: 10 });
  await apply(w.cancel, { id: 1, owner: null, at: AT });
  await apply(w.retryChecked, { id: 1, owner: null });
  await apply(w.markFinished, { id: 1, outcome: end.outcome });
  await apply(w.prune, { before: AT, limit: 10 });
  return recorder.sent;
}

pgTest({
  name:
    "the writer's statements, planned once on an empty table, reach orders only through indexes",
  async fn() {
    await using db = await freshDatabase();
    // As the writer's connections are set up; a plan made once and kept.
    const sql = postgres(db.url, {
      max: 1,
      onnotice: () => {},
      connection: { ...WRITER_SETTINGS, plan_cache_mode: "force_generic_plan" },
    });
    try {
      await migrate(sql);
      const sent = await statements();
      assert.ok(sent.length >= 9);
      for (const [i, [text, params]] of sent.entries()) {
        await sql.unsafe(`PREPARE s${i} AS ${text}`);
        const plan = await planOf(sql, `EXECUTE s${i}(${params.map(literal).join(", ")})`);
        const what = text.replace(/\s+/g, " ").slice(0, 60);
        assertNoTableScan(plan, what);
      }
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});

pgTest({
  name:
    "a retention pass with nothing old enough to delete, beside 60,000 finished orders, reads none of them",
  async fn() {
    await using db = await freshDatabase();
    const sql = postgres(db.url, { max: 1, onnotice: () => {}, connection: WRITER_SETTINGS });
    try {
      await migrate(sql);
      await sql`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido, estado,
          intentos, fecha_inicio, fecha_fin)
        SELECT 'Ana ' || n, '["pan"]', 'C 1', now(), 'listo', 1, now(), now()
        FROM generate_series(1, 60000) n`;
      await sql`ANALYZE pedidos`;
      const recorder = new StatementRecorder();
      // A week ago: every order ended after it.
      const before = new Date(Date.now() - 7 * 86_400_000).toISOString();
      await orderWrites("nodo-a", 30_000).prune.apply(recorder.batch as never, [
        { before, limit: 500 },
      ]);
      // (Nothing is old enough: running it deletes nothing.)
      const plan = await planOf(sql, inlined(recorder.sent[0]!), "(ANALYZE)");
      assert.doesNotMatch(plan, /Rows Removed by Filter: [1-9]/, plan);
      assert.doesNotMatch(plan, /Seq Scan on pedidos\b(?!_)/, plan);
      const [left] = await sql`SELECT count(*)::int AS n FROM pedidos`;
      assert.equal(left!.n, 60_000);
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});
