import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { PedidoNuevo } from "../../server/protocol/messages.ts";
import { ClientIndexFold } from "../client_index_fold.ts";
import { SqliteDatabase } from "./sqlite_database.ts";
import { testWith } from "../../tests/permissions.ts";

const T0 = "2026-11-23T13:16:00.123Z";

function order(cliente: string, clave: string | null = null): PedidoNuevo {
  return { cliente, productos: ["pan"], direccion: "Calle 1", clave };
}

function add(db: SqliteDatabase, cliente: string): number {
  const id = db.insert(order(cliente), T0);
  assert.equal(typeof id, "number");
  return id as number;
}

function tempDir(): { path: string } & Disposable {
  const path = Deno.makeTempDirSync({ prefix: "pedidos_client_index_" });
  return { path, [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }) };
}

Deno.test("LISTAR by cliente sees orders folded into the client index and the newer ones above it, newest first", () => {
  using db = SqliteDatabase.open(":memory:");
  const folded = [add(db, "Ana"), add(db, "Beto"), add(db, "Ana")];
  assert.equal(db.foldClients(), 3);
  const tail = [add(db, "Ana"), add(db, "Beto"), add(db, "Ana")];
  const ids = (filter: Parameters<SqliteDatabase["list"]>[0]) => db.list(filter).map((p) => p.id);
  const ana = [tail[2]!, tail[0]!, folded[2]!, folded[0]!];
  assert.deepEqual(ids({ limit: 50, cliente: "Ana" }), ana);
  assert.deepEqual(ids({ limit: 3, cliente: "Ana" }), ana.slice(0, 3), "the limit spans both");
  assert.deepEqual(ids({ limit: 50, cliente: "Ana", antesDe: tail[0]! }), ana.slice(2));
  assert.deepEqual(ids({ limit: 50, cliente: "Ana", antesDe: tail[2]! }), ana.slice(1));
  db.markRan(folded[0]!, 1, T0, { estado: "listo", at: T0 });
  db.markRan(tail[0]!, 1, T0, { estado: "listo", at: T0 });
  assert.deepEqual(ids({ limit: 50, cliente: "Ana", estado: "listo" }), [tail[0]!, folded[0]!]);
  assert.deepEqual(ids({ limit: 50, cliente: "Beto" }), [tail[1]!, folded[1]!]);
  assert.deepEqual(ids({ limit: 50, cliente: "ana" }), [], "an exact match");
  // After another fold, the same answers.
  assert.equal(db.foldClients(), 3);
  assert.deepEqual(ids({ limit: 50, cliente: "Ana" }), ana);
});

testWith("read", "write")("a pruned order leaves the client index too", () => {
  using dir = tempDir();
  const path = `${dir.path}/p.db`;
  using db = SqliteDatabase.open(path);
  const old = add(db, "Ana");
  db.markRan(old, 1, T0, { estado: "listo", at: T0 });
  add(db, "Ana");
  db.foldClients();
  assert.equal(db.prune("2027-01-01T00:00:00.000Z", 10), 1);
  const raw = new DatabaseSync(path, { readOnly: true });
  try {
    const left = raw.prepare("SELECT id FROM pedidos_cliente WHERE cliente = 'Ana'").all();
    assert.deepEqual(left.map((r) => r.id), [old + 1]);
  } finally {
    raw.close();
  }
});

testWith("read", "write")(
  "LISTAR by cliente reads indexes and the tail by id, never the whole table",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/p.db`;
    using db = SqliteDatabase.open(path);
    add(db, "Ana");
    const raw = new DatabaseSync(path, { readOnly: true });
    try {
      // The statement list() runs for a cliente, with every optional filter.
      const plan = raw.prepare(
        `EXPLAIN QUERY PLAN SELECT id FROM pedidos
        WHERE id > (SELECT hasta FROM pedidos_cliente_hasta) AND cliente = ? AND id < ?
      UNION ALL
      SELECT k.id AS id FROM pedidos_cliente k JOIN pedidos p ON p.id = k.id
        WHERE k.cliente = ? AND k.id <= (SELECT hasta FROM pedidos_cliente_hasta) AND k.id < ?
      ORDER BY id DESC LIMIT ?`,
      ).all("Ana", 9, "Ana", 9, 10).map((row) => String(row.detail));
      assert.ok(!plan.some((line) => /^SCAN (pedidos|p)\b/.test(line)), plan.join("\n"));
      assert.ok(!plan.some((line) => line.includes("TEMP B-TREE")), plan.join("\n"));
    } finally {
      raw.close();
    }
  },
);

Deno.test("the writer folds once enough orders wait, and a shorter tail once it has been idle", () => {
  using db = SqliteDatabase.open(":memory:");
  const fold = new ClientIndexFold(db, { every: 3, idleMs: 200 });
  add(db, "Ana");
  add(db, "Ana");
  fold.afterFlush(2, 1000);
  assert.equal(fold.lag, 2, "below every: not yet");
  add(db, "Beto");
  fold.afterFlush(1, 1001);
  assert.equal(fold.lag, 0, "folded at once");
  assert.equal(db.clientLag(), 0);
  add(db, "Ana");
  fold.afterFlush(1, 2000);
  assert.equal(fold.dueAt(), 2200);
  assert.equal(fold.runIdle(2100), 2200, "not idle long enough");
  assert.equal(db.clientLag(), 1);
  assert.equal(fold.runIdle(2200), null, "folded, nothing more due");
  assert.equal(db.clientLag(), 0);
  assert.deepEqual(db.list({ limit: 9, cliente: "Ana" }).map((p) => p.id), [4, 2, 1]);
  assert.equal(fold.folds, 2);
});

Deno.test("an order without clave is stored beside others without one, and a clave is still unique", () => {
  using db = SqliteDatabase.open(":memory:");
  const a = db.insert(order("Ana"), T0);
  const b = db.insert(order("Ana"), T0);
  assert.notEqual(a, b);
  const first = db.insert(order("Ana", "k"), T0);
  assert.equal(typeof first, "number");
  const again = db.insert(order("Beto", "k"), T0);
  assert.equal(typeof again === "object" && again.id, first);
});
