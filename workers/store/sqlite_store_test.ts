import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { NewOrder } from "../../server/protocol/messages.ts";
import { migrate, MIGRATIONS, SCHEMA_VERSION, schemaVersion } from "./schema.ts";
import { SqliteStore } from "./sqlite_store.ts";

const T0 = "2026-11-23T13:16:00.123Z";
const T1 = "2026-11-23T13:16:01.357Z";
const T2 = "2026-11-23T13:16:02.000Z";

function order(fields: Partial<NewOrder> = {}): NewOrder {
  return { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null, ...fields };
}

/** A temp dir removed on dispose. */
function tempDir(): { path: string } & Disposable {
  const path = Deno.makeTempDirSync({ prefix: "pedidos_store_" });
  return { path, [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }) };
}

/** Runs `fn` against a `:memory:` store and against a store on a temp file. */
function testBoth(name: string, fn: (store: SqliteStore) => void): void {
  Deno.test(`${name} (:memory:)`, () => {
    using store = SqliteStore.open(":memory:");
    fn(store);
  });
  Deno.test(`${name} (file)`, () => {
    using dir = tempDir();
    using store = SqliteStore.open(`${dir.path}/pedidos.db`);
    fn(store);
  });
}

testBoth("SqliteStore.insert() and get() round-trip every field of §5", (store) => {
  const productos = ["pan", { nombre: "agua", cantidad: 3 }, "café ☕"];
  const { pedido, duplicado } = store.insert(
    { cliente: "Juan Pérez", productos, direccion: "Av. Siempre Viva 742", clave: "k-1" },
    T0,
  );
  assert.equal(duplicado, false);
  assert.ok(Number.isSafeInteger(pedido.id) && pedido.id > 0);
  const expected = {
    id: pedido.id,
    clave: "k-1",
    cliente: "Juan Pérez",
    productos,
    direccion: "Av. Siempre Viva 742",
    estado: "pendiente",
    fecha_recibido: T0,
    fecha_inicio: null,
    fecha_fin: null,
    worker: null,
    intentos: 0,
    detalle_error: null,
    duracion_ms: null,
  };
  assert.deepEqual(pedido, expected);
  assert.deepEqual(store.get(pedido.id), expected);

  store.markStarted(pedido.id, 2, T1);
  store.markFinished(pedido.id, { estado: "error", at: T2, detalle: "sin stock" });
  assert.deepEqual(store.get(pedido.id), {
    ...expected,
    estado: "error",
    fecha_inicio: T1,
    fecha_fin: T2,
    worker: 2,
    intentos: 1,
    detalle_error: "sin stock",
    duracion_ms: 643,
  });
  assert.equal(store.get(pedido.id + 1000), null);
});

testBoth("SqliteStore.markRan() records a whole attempt, start and end, in one write", (store) => {
  const { pedido } = store.insert(order(), T0);
  store.markRan(pedido.id, 2, T1, { estado: "listo", at: T2 });
  assert.deepEqual(store.get(pedido.id), {
    ...pedido,
    estado: "listo",
    fecha_inicio: T1,
    fecha_fin: T2,
    worker: 2,
    intentos: 1,
    duracion_ms: 643,
  });
  // An attempt recorded before (e.g. one that failed) still counts.
  const second = store.insert(order(), T0).pedido;
  store.markStarted(second.id, 1, T0);
  store.markRan(second.id, 1, T1, { estado: "error", at: T2, detalle: "sin stock" });
  const stored = store.get(second.id);
  assert.equal(stored?.intentos, 2);
  assert.equal(stored?.detalle_error, "sin stock");
  assert.throws(() => store.markRan(9999, 1, T1, { estado: "listo", at: T2 }), /not found/);
});

testBoth(
  "SqliteStore.insert() answers the row as get() reads it, and a repeated clave",
  (store) => {
    const productos = ["pan", { nombre: "agua", cantidad: 3 }];
    const first = store.insert(order({ clave: "k-9", productos }), T0);
    assert.deepEqual(first.pedido, store.get(first.pedido.id));
    assert.equal(store.insertId(order({ clave: "k-10" }), T0), first.pedido.id + 1);
    const again = store.insertId(order({ clave: "k-9", cliente: "Otro" }), T1);
    assert.deepEqual(again, first.pedido, "the order stored first, unchanged");
  },
);

Deno.test("SqliteStore stores productos as JSON text and dates as ISO text, readable by any tool", () => {
  using dir = tempDir();
  const path = `${dir.path}/pedidos.db`;
  let id: number;
  {
    using store = SqliteStore.open(path);
    id = store.insert(order({ productos: ["pan", { nombre: "agua", cantidad: 2 }] }), T0).pedido.id;
  }
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const row = db.prepare(
      "SELECT productos, typeof(productos) AS t, fecha_recibido, estado, intentos FROM pedidos WHERE id = ?",
    ).get(id);
    assert.deepEqual({ ...row }, {
      productos: '["pan",{"nombre":"agua","cantidad":2}]',
      t: "text",
      fecha_recibido: T0,
      estado: "pendiente",
      intentos: 0,
    });
  } finally {
    db.close();
  }
});

testBoth(
  "SqliteStore.insert() returns the existing order with duplicado when clave is taken",
  (store) => {
    const first = store.insert(order({ clave: "abc", cliente: "Ana" }), T0);
    store.markStarted(first.pedido.id, 1, T1);
    const again = store.insert(order({ clave: "abc", cliente: "Otro" }), T2);
    assert.equal(again.duplicado, true);
    assert.equal(again.pedido.id, first.pedido.id);
    assert.equal(again.pedido.cliente, "Ana");
    assert.equal(again.pedido.estado, "en proceso", "the reply carries the current state");
    assert.equal(store.list({ limit: 10 }).length, 1);
    // Orders without a clave never collide.
    const a = store.insert(order(), T0);
    const b = store.insert(order(), T0);
    assert.notEqual(a.pedido.id, b.pedido.id);
    assert.equal(b.duplicado, false);
    assert.deepEqual(store.findByClave("abc"), again.pedido);
    assert.equal(store.findByClave("nope"), null);
  },
);

testBoth(
  "SqliteStore.markStarted() increments intentos and sets fecha_inicio and worker",
  (store) => {
    const { id } = store.insert(order(), T0).pedido;
    store.markStarted(id, 3, T1);
    let p = store.get(id)!;
    assert.deepEqual([p.estado, p.intentos, p.fecha_inicio, p.worker, p.fecha_fin], [
      "en proceso",
      1,
      T1,
      3,
      null,
    ]);
    // A second attempt (restart) counts again and clears the previous end.
    store.markFinished(id, { estado: "listo", at: T2 });
    store.markStarted(id, 1, T2);
    p = store.get(id)!;
    assert.deepEqual([p.estado, p.intentos, p.fecha_inicio, p.worker, p.fecha_fin, p.duracion_ms], [
      "en proceso",
      2,
      T2,
      1,
      null,
      null,
    ]);
    assert.throws(() => store.markStarted(id + 99, 1, T1), /Cannot start order \d+: not found/);
  },
);

testBoth("SqliteStore.markFinished() sets fecha_fin and duracion_ms", (store) => {
  const { id } = store.insert(order(), T0).pedido;
  store.markStarted(id, 1, T1);
  store.markFinished(id, { estado: "listo", at: T2, detalle: "ignored when listo" });
  const p = store.get(id)!;
  assert.equal(p.estado, "listo");
  assert.equal(p.fecha_fin, T2);
  assert.equal(p.duracion_ms, Date.parse(T2) - Date.parse(T1));
  assert.equal(p.detalle_error, null);
  assert.throws(
    () => store.markFinished(id, { estado: "bogus" as "listo", at: T2 }),
    /CHECK constraint failed/,
  );
});

testBoth("SqliteStore.markPending() puts an order back and keeps intentos", (store) => {
  const { id } = store.insert(order(), T0).pedido;
  store.markStarted(id, 2, T1);
  store.markPending(id);
  const p = store.get(id)!;
  assert.deepEqual([p.estado, p.intentos, p.fecha_inicio, p.worker], ["pendiente", 1, null, null]);
});

testBoth(
  "SqliteStore.list() filters by estado, cliente, limit and exclusive antesDe, newest first",
  (store) => {
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push(store.insert(order({ cliente: i % 2 === 0 ? "Ana" : "Beto" }), T0).pedido.id);
    }
    store.markStarted(ids[3]!, 1, T1);
    store.markFinished(ids[3]!, { estado: "listo", at: T2 });
    store.markStarted(ids[4]!, 1, T1);

    const all = store.list({ limit: 1000 }).map((p) => p.id);
    assert.deepEqual(all, [...ids].reverse());
    assert.deepEqual(store.list({ limit: 3 }).map((p) => p.id), ids.slice(7).reverse());
    assert.deepEqual(store.list({ estado: "listo", limit: 50 }).map((p) => p.id), [ids[3]]);
    assert.deepEqual(store.list({ estado: "en proceso", limit: 50 }).map((p) => p.id), [ids[4]]);
    assert.deepEqual(
      store.list({ cliente: "Beto", limit: 50 }).map((p) => p.id),
      ids.filter((_, i) => i % 2 === 1).reverse(),
    );
    assert.deepEqual(store.list({ cliente: "ana", limit: 50 }), [], "cliente is an exact match");
    assert.deepEqual(
      store.list({ antesDe: ids[5]!, limit: 2 }).map((p) => p.id),
      [ids[4], ids[3]],
      "antesDe is exclusive",
    );
    assert.deepEqual(
      store.list({ cliente: "Ana", estado: "pendiente", antesDe: ids[6]!, limit: 50 }).map((p) =>
        p.id
      ),
      [ids[2], ids[0]],
    );
    assert.deepEqual(store.list({ cliente: "x' OR 1=1 --", limit: 50 }), []);
  },
);

testBoth(
  "SqliteStore.unfinished() returns pendiente and en proceso orders, oldest first",
  (store) => {
    const ids = [0, 1, 2, 3, 4].map(() => store.insert(order(), T0).pedido.id);
    store.markStarted(ids[0]!, 1, T1);
    store.markStarted(ids[1]!, 2, T1);
    store.markFinished(ids[1]!, { estado: "listo", at: T2 });
    store.markStarted(ids[2]!, 3, T1);
    store.markFinished(ids[2]!, { estado: "error", at: T2, detalle: "x" });
    store.markStarted(ids[4]!, 1, T1);
    const unfinished = store.unfinished();
    assert.deepEqual(unfinished.map((p) => p.id), [ids[0], ids[3], ids[4]]);
    assert.deepEqual(unfinished.map((p) => p.estado), ["en proceso", "pendiente", "en proceso"]);
  },
);

testBoth("SqliteStore.rollback() discards what the transaction wrote", (store) => {
  store.begin();
  assert.equal(store.inTransaction, true);
  const { id } = store.insert(order(), T0).pedido;
  store.rollback();
  assert.equal(store.inTransaction, false);
  assert.equal(store.get(id), null);
  store.begin();
  const kept = store.insert(order(), T0).pedido.id;
  store.commit();
  assert.notEqual(store.get(kept), null);
});

Deno.test("migrate() on an empty file sets user_version >= 1 and is idempotent", () => {
  using dir = tempDir();
  const db = new DatabaseSync(`${dir.path}/empty.db`);
  try {
    assert.equal(schemaVersion(db), 0);
    assert.equal(migrate(db), SCHEMA_VERSION);
    assert.ok(schemaVersion(db) >= 1);
    assert.equal(migrate(db), SCHEMA_VERSION);
    assert.equal(schemaVersion(db), SCHEMA_VERSION);
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
      .all().map((r) => r.name);
    assert.deepEqual(tables, ["pedidos", "sesiones", "usuarios"]);
    const columns = db.prepare("SELECT name FROM pragma_table_info('pedidos') ORDER BY cid").all()
      .map((r) => r.name);
    assert.deepEqual(columns, [
      "id",
      "clave",
      "cliente",
      "productos",
      "direccion",
      "estado",
      "fecha_recibido",
      "fecha_inicio",
      "fecha_fin",
      "worker",
      "intentos",
      "detalle_error",
    ]);
    const indexes = db.prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
    ).all().map((r) => r.name);
    assert.deepEqual(indexes, ["pedidos_cliente_id", "pedidos_estado_id", "sesiones_usuario_id"]);
  } finally {
    db.close();
  }
});

Deno.test("SqliteStore.open() upgrades a version-1 file in place and keeps its rows", () => {
  using dir = tempDir();
  const path = `${dir.path}/old.db`;
  const old = new DatabaseSync(path);
  old.exec(MIGRATIONS[0]!);
  old.exec("PRAGMA user_version = 1");
  old.prepare(
    "INSERT INTO pedidos (clave, cliente, productos, direccion, estado, fecha_recibido) VALUES (?, ?, ?, ?, ?, ?)",
  ).run("viejo", "Ana", '["pan"]', "Calle 1", "pendiente", T0);
  old.close();

  {
    using store = SqliteStore.open(path);
    assert.equal(store.schemaVersion, 2);
    const kept = store.findByClave("viejo");
    assert.equal(kept?.cliente, "Ana");
    assert.deepEqual(kept?.productos, ["pan"]);
  }
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    assert.equal(schemaVersion(db), 2);
    assert.equal(db.prepare("SELECT count(*) AS n FROM usuarios").get()?.n, 0);
    assert.equal(db.prepare("SELECT count(*) AS n FROM pedidos").get()?.n, 1);
  } finally {
    db.close();
  }
});

Deno.test("SqliteStore.open() refuses a file with a newer schema version", () => {
  using dir = tempDir();
  const path = `${dir.path}/future.db`;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA user_version = 99");
  db.close();
  assert.throws(
    () => SqliteStore.open(path),
    (error: Error) => {
      assert.match(
        error.message,
        /^Cannot open database ".*future\.db": .*schema version 99 is newer/,
      );
      return true;
    },
  );
  assert.throws(() => SqliteStore.open(path, { readOnly: true }), /schema version 99 is newer/);
  const after = new DatabaseSync(path, { readOnly: true });
  try {
    assert.equal(schemaVersion(after), 99, "the file is left untouched");
  } finally {
    after.close();
  }
});

Deno.test("SqliteStore.open() in a missing directory throws a message naming the path and reason", () => {
  using dir = tempDir();
  const path = `${dir.path}/nope/x.db`;
  assert.throws(() => SqliteStore.open(path), {
    message: `Cannot open database "${path}": directory does not exist`,
  });
  assert.throws(() => SqliteStore.open(`${dir.path}/missing.db`, { readOnly: true }), {
    message: `Cannot open database "${dir.path}/missing.db": file does not exist`,
  });
  assert.throws(() => SqliteStore.open(dir.path), {
    message: `Cannot open database "${dir.path}": it is a directory`,
  });
  Deno.writeTextFileSync(`${dir.path}/plain`, "");
  assert.throws(() => SqliteStore.open(`${dir.path}/plain/x.db`), {
    message:
      `Cannot open database "${dir.path}/plain/x.db": "${dir.path}/plain" is not a directory`,
  });
  assert.throws(() => SqliteStore.open("file:x.db"), TypeError);
});

Deno.test("SqliteStore.open({ readOnly }) reads what the writer committed and cannot write", () => {
  using dir = tempDir();
  const path = `${dir.path}/pedidos.db`;
  using writer = SqliteStore.open(path, { sync: "normal" });
  using reader = SqliteStore.open(path, { readOnly: true });
  writer.begin();
  const { id } = writer.insert(order(), T0).pedido;
  assert.equal(reader.get(id), null, "uncommitted rows are invisible");
  writer.commit();
  assert.equal(reader.get(id)?.id, id);
  assert.throws(() => reader.insert(order(), T0), /readonly/);
});
