import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { Pedido, PedidoNuevo } from "../../server/protocol/messages.ts";
import { migrate, MIGRATIONS, SCHEMA_VERSION, schemaVersion } from "./schema.ts";
import { SqliteDatabase } from "./sqlite_database.ts";
import { testWith } from "../../tests/permissions.ts";

const T0 = "2026-11-23T13:16:00.123Z";
const T1 = "2026-11-23T13:16:01.357Z";
const T2 = "2026-11-23T13:16:02.000Z";

function order(fields: Partial<PedidoNuevo> = {}): PedidoNuevo {
  return { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null, ...fields };
}

/** Inserts a new order and reads it back. */
function add(db: SqliteDatabase, pedido: PedidoNuevo, at: string): Pedido {
  const id = db.insert(pedido, at);
  assert.equal(typeof id, "number", "a new order");
  return db.get(id as number)!;
}

/** A temp dir removed on dispose. */
function tempDir(): { path: string } & Disposable {
  const path = Deno.makeTempDirSync({ prefix: "pedidos_store_" });
  return { path, [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }) };
}

/** A database file at `path` made by an older release: the schema up to `version`. */
function fileAtVersion(path: string, version: number): DatabaseSync {
  const db = new DatabaseSync(path);
  for (const ddl of MIGRATIONS.slice(0, version)) db.exec(ddl);
  db.exec(`PRAGMA user_version = ${version}`);
  return db;
}

/** Runs `fn` against a `:memory:` store and against a store on a temp file. */
function testBoth(name: string, fn: (store: SqliteDatabase) => void): void {
  Deno.test(`${name} (:memory:)`, () => {
    using store = SqliteDatabase.open(":memory:");
    fn(store);
  });
  testWith("read", "write")(`${name} (file)`, () => {
    using dir = tempDir();
    using store = SqliteDatabase.open(`${dir.path}/pedidos.db`);
    fn(store);
  });
}

testWith("read", "write")(
  "SqliteDatabase stores productos as JSON text and dates as ISO text, readable by any tool",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/pedidos.db`;
    let id: number;
    {
      using store = SqliteDatabase.open(path);
      id = add(store, order({ productos: ["pan", { nombre: "agua", cantidad: 2 }] }), T0).id;
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
  },
);

testBoth(
  "SqliteDatabase.markStarted() increments intentos and sets fecha_inicio and worker",
  (store) => {
    const { id } = add(store, order(), T0);
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

testBoth("SqliteDatabase.markFinished() sets fecha_fin and duracion_ms", (store) => {
  const { id } = add(store, order(), T0);
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

testBoth(
  "SqliteDatabase.list() filters by estado, cliente, limit and exclusive antesDe, newest first",
  (store) => {
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push(add(store, order({ cliente: i % 2 === 0 ? "Ana" : "Beto" }), T0).id);
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
  "SqliteDatabase.unfinished() returns pendiente and en proceso orders, oldest first",
  (store) => {
    const ids = [0, 1, 2, 3, 4].map(() => add(store, order(), T0).id);
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

/** Ends an attempt of order `id` in `error`. */
function fail(db: SqliteDatabase, id: number): void {
  db.markStarted(id, 1, T1);
  db.markFinished(id, { estado: "error", at: T2, detalle: "roto" });
}

testBoth(
  "SqliteDatabase.unfinished() lists an order sent back by retry() after the orders stored before the retry and before those stored after",
  (store) => {
    const a = add(store, order({ cliente: "A" }), T0).id;
    fail(store, a);
    const p = add(store, order({ cliente: "P" }), T0).id;
    assert.equal(store.retry(a).status, "changed");
    const q = add(store, order({ cliente: "Q" }), T0).id;
    assert.deepEqual(store.unfinished().map((o) => o.id), [p, a, q]);
    // Retried again, with no new order between: still at the end, after q.
    fail(store, a);
    const b = add(store, order({ cliente: "B" }), T0).id;
    fail(store, b);
    assert.equal(store.retry(b).status, "changed");
    assert.equal(store.retry(a).status, "changed");
    const r = add(store, order({ cliente: "R" }), T0).id;
    assert.deepEqual(store.unfinished().map((o) => o.id), [p, q, b, a, r]);
    // Ids go on one by one: a retry takes a place, not an id.
    assert.deepEqual([p, q, b, r], [a + 1, a + 2, a + 3, a + 4]);
  },
);

testBoth(
  "SqliteDatabase: a refused retry() takes no place; markPending() and cancel() keep the order's place",
  (store) => {
    const a = add(store, order(), T0).id;
    fail(store, a);
    const p = add(store, order(), T0).id;
    assert.equal(store.retry(a).status, "changed");
    assert.equal(store.retry(a).status, "refused", "pendiente now");
    assert.equal(store.retry(p).status, "refused");
    assert.deepEqual(store.retry(9999), { status: "not_found" });
    // A failed attempt waiting out its backoff, then put back pendiente: the same place.
    store.markStarted(a, 1, T1);
    store.markPending(a);
    store.markStarted(p, 1, T1);
    store.markPending(p);
    const q = add(store, order(), T0).id;
    assert.deepEqual(store.unfinished().map((o) => o.id), [p, a, q]);
    assert.equal(store.cancel(p, T2).status, "changed");
    assert.deepEqual(store.unfinished().map((o) => o.id), [a, q]);
    assert.equal(q, p + 1, "no retry took an id");
  },
);

testBoth(
  "SqliteDatabase: an order retried after prune() took the newest order waits before the orders stored since, whose ids are never reused",
  (store) => {
    const a = add(store, order(), T0).id;
    const g = add(store, order(), T0).id;
    store.markRan(g, 1, T0, { estado: "listo", at: T1 });
    fail(store, a); // ends at T2
    assert.equal(store.prune(T2, 100), 1, "the newest order, g, goes");
    assert.equal(store.retry(a).status, "changed");
    const e = add(store, order(), T0).id;
    assert.equal(e, g + 1, "ids are never reused, and a retry takes none");
    assert.deepEqual(store.unfinished().map((o) => o.id), [a, e]);
  },
);

testBoth("SqliteDatabase.rollback() discards what the transaction wrote", (store) => {
  store.begin();
  assert.equal(store.inTransaction, true);
  const { id } = add(store, order(), T0);
  store.rollback();
  assert.equal(store.inTransaction, false);
  assert.equal(store.get(id), null);
  store.begin();
  const kept = add(store, order(), T0).id;
  store.commit();
  assert.notEqual(store.get(kept), null);
});

testWith("read", "write")(
  "migrate() on an empty file sets user_version >= 1 and is idempotent",
  () => {
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
      assert.deepEqual(tables, [
        "pedidos",
        "pedidos_cliente",
        "pedidos_cliente_hasta",
        "pedidos_id_alto",
        "sesiones",
        "usuarios",
      ]);
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
        "resultado",
        "usuario_id",
        "cola",
      ]);
      const indexes = db.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
      ).all().map((r) => r.name);
      assert.deepEqual(indexes, [
        "pedidos_clave",
        "pedidos_cola",
        "pedidos_estado_id",
        "pedidos_fin",
        "pedidos_usuario_id",
        "sesiones_usuario_id",
      ]);
    } finally {
      db.close();
    }
  },
);

testWith("read", "write")(
  "SqliteDatabase.open() upgrades a version-1 file to the current version in place and keeps its rows",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/old.db`;
    const old = fileAtVersion(path, 1);
    old.prepare(
      "INSERT INTO pedidos (clave, cliente, productos, direccion, estado, fecha_recibido) VALUES (?, ?, ?, ?, ?, ?)",
    ).run("viejo", "Ana", '["pan"]', "Calle 1", "pendiente", T0);
    old.close();

    {
      using store = SqliteDatabase.open(path);
      assert.equal(store.schemaVersion, SCHEMA_VERSION);
      const kept = store.findByClave("viejo");
      assert.equal(kept?.cliente, "Ana");
      assert.deepEqual(kept?.productos, ["pan"]);
      // Version 3 allows the state of CANCELAR on the rebuilt table.
      assert.equal(store.cancel(kept!.id, T1).status, "changed");
      assert.equal(store.get(kept!.id)?.estado, "cancelado");
      // Version 5 indexed the old order by cliente.
      assert.deepEqual(store.list({ limit: 10, cliente: "Ana" }).map((p) => p.id), [kept!.id]);
    }
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      assert.equal(schemaVersion(db), SCHEMA_VERSION);
      assert.equal(db.prepare("SELECT count(*) AS n FROM usuarios").get()?.n, 0);
      assert.equal(db.prepare("SELECT count(*) AS n FROM pedidos").get()?.n, 1);
    } finally {
      db.close();
    }
  },
);

testWith("read", "write")(
  "SqliteDatabase.open() refuses a file with a newer schema version",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/future.db`;
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 99");
    db.close();
    assert.throws(
      () => SqliteDatabase.open(path),
      (error: Error) => {
        assert.match(
          error.message,
          /^Cannot open database ".*future\.db": .*schema version 99 is newer/,
        );
        return true;
      },
    );
    assert.throws(
      () => SqliteDatabase.open(path, { readOnly: true }),
      /schema version 99 is newer/,
    );
    const after = new DatabaseSync(path, { readOnly: true });
    try {
      assert.equal(schemaVersion(after), 99, "the file is left untouched");
      assert.equal(
        after.prepare("PRAGMA journal_mode").get()?.journal_mode,
        "delete",
        "not even turned to WAL mode",
      );
    } finally {
      after.close();
    }
  },
);

testWith("read", "write")(
  "SqliteDatabase.open() refuses another program's file (tables, no schema version), naming what it holds, and leaves it as it was",
  async () => {
    using dir = tempDir();
    const path = `${dir.path}/other.db`;
    const db = new DatabaseSync(path);
    db.exec("CREATE TABLE notas (x); CREATE TABLE clientes (y); INSERT INTO notas VALUES (1)");
    db.close();
    const before = await Deno.readFile(path);
    assert.throws(
      () => SqliteDatabase.open(path),
      (error: Error) => {
        assert.equal(
          error.message,
          `Cannot open database "${path}": it is not a pedidos database: it holds clientes, notas but no pedidos schema version (PRAGMA user_version 0); left as it was: check --db`,
        );
        return true;
      },
    );
    assert.deepEqual(await Deno.readFile(path), before, "not a byte changed");
    // A table pedidos of another program's, without §5's columns: refused too.
    const alien = `${dir.path}/alien.db`;
    const other = new DatabaseSync(alien);
    other.exec("CREATE TABLE pedidos (numero INTEGER, total REAL)");
    other.close();
    assert.throws(
      () => SqliteDatabase.open(alien),
      (error: Error) => {
        assert.equal(
          error.message,
          `Cannot open database "${alien}": it is not a pedidos database: it holds pedidos but no pedidos schema version (PRAGMA user_version 0), and its table pedidos lacks id, cliente, productos, direccion, estado, fecha_recibido; left as it was: check --db`,
        );
        return true;
      },
    );
    // An empty file (made by `sqlite3 p.db ''` or touch) is a new database.
    const empty = `${dir.path}/empty.db`;
    await Deno.writeFile(empty, new Uint8Array());
    using store = SqliteDatabase.open(empty);
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
  },
);

testWith("read", "write")(
  "SqliteDatabase.open() in a missing directory throws a message naming the path and reason",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/nope/x.db`;
    assert.throws(() => SqliteDatabase.open(path), {
      message: `Cannot open database "${path}": directory does not exist`,
    });
    assert.throws(() => SqliteDatabase.open(`${dir.path}/missing.db`, { readOnly: true }), {
      message: `Cannot open database "${dir.path}/missing.db": file does not exist`,
    });
    assert.throws(() => SqliteDatabase.open(dir.path), {
      message: `Cannot open database "${dir.path}": it is a directory`,
    });
    Deno.writeTextFileSync(`${dir.path}/plain`, "");
    assert.throws(() => SqliteDatabase.open(`${dir.path}/plain/x.db`), {
      message:
        `Cannot open database "${dir.path}/plain/x.db": "${dir.path}/plain" is not a directory`,
    });
    assert.throws(() => SqliteDatabase.open("file:x.db"), TypeError);
  },
);

testWith("read", "write")(
  "SqliteDatabase.open({ readOnly }) reads what the writer committed and cannot write",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/pedidos.db`;
    using writer = SqliteDatabase.open(path, { sync: "normal" });
    using reader = SqliteDatabase.open(path, { readOnly: true });
    writer.begin();
    const { id } = add(writer, order(), T0);
    assert.equal(reader.get(id), null, "uncommitted rows are invisible");
    writer.commit();
    assert.equal(reader.get(id)?.id, id);
    assert.throws(() => reader.insert(order(), T0), /readonly/);
  },
);

testWith("read", "write")(
  "a version 5 file keeps its highest id through the upgrade: after every order is pruned, a new one gets the next id",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/v5.db`;
    const old = fileAtVersion(path, 5);
    for (let i = 0; i < 3; i++) {
      old.prepare(`INSERT INTO pedidos (cliente, productos, direccion, estado, fecha_recibido,
        fecha_fin) VALUES ('Ana', '["pan"]', 'C 1', 'listo', ?, ?)`).run(T0, T0);
    }
    old.close();
    using db = SqliteDatabase.open(path);
    assert.equal(db.prune("2100-01-01T00:00:00.000Z", 100), 3, "all three, the newest too");
    const next = db.insert(order({ cliente: "Eva" }), T0);
    assert.equal(next, 4, "not 1 again");
  },
);

testWith("read", "write")(
  "a version 6 file upgrades with its orders' places: a retry after the upgrade goes after every order, and before the new ones",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/v6.db`;
    const old = fileAtVersion(path, 6);
    const insert = old.prepare(`INSERT INTO pedidos (cliente, productos, direccion, estado,
      fecha_recibido) VALUES (?, '["pan"]', 'C 1', ?, ?)`);
    insert.run("A", "error", T0);
    insert.run("P", "pendiente", T0);
    insert.run("E", "en proceso", T0);
    old.close();
    using db = SqliteDatabase.open(path);
    assert.equal(db.schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(db.unfinished().map((p) => p.cliente), ["P", "E"], "by id, as before");
    assert.equal(db.retry(1).status, "changed");
    const q = db.insert(order({ cliente: "Q" }), T0);
    assert.deepEqual(db.unfinished().map((p) => p.cliente), ["P", "E", "A", "Q"]);
    assert.equal(q, 4, "the next id: a retry takes none");
  },
);

testWith("read", "write")(
  "SqliteDatabase.open() folds into the file the WAL a killed run left, and starts with it empty (a full disk gets its space)",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/p.db`;
    const copy = `${dir.path}/copia.db`;
    const first = SqliteDatabase.open(path);
    try {
      for (let i = 0; i < 200; i++) add(first, order({ cliente: `c${i}`.padEnd(2000, "x") }), T0);
      // What a kill -9 leaves: the file and its WAL as they are while open.
      Deno.copyFileSync(path, copy);
      Deno.copyFileSync(`${path}-wal`, `${copy}-wal`);
    } finally {
      first.close();
    }
    const left = Deno.statSync(`${copy}-wal`).size;
    assert.ok(left > 400_000, `the WAL left holds the orders (${left} bytes)`);
    using again = SqliteDatabase.open(copy);
    assert.equal(Deno.statSync(`${copy}-wal`).size, 0, "the WAL is empty once open");
    assert.equal(again.list({ limit: 1000 }).length, 200, "every order is in the file");
  },
);

testWith("read", "write")(
  "SqliteDatabase folds its WAL into the file every 1 MB or so, so the WAL never takes much more of a nearly full disk",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/p.db`;
    using db = SqliteDatabase.open(path);
    for (let i = 0; i < 400; i++) add(db, order({ cliente: `c${i}`.padEnd(10_000, "x") }), T0);
    const wal = Deno.statSync(`${path}-wal`).size;
    assert.ok(wal < 1_500_000, `4 MB written, the WAL holds ${wal} bytes`);
  },
);

testWith("read", "write")(
  "a WAL grown large behind a long read (sqlite3 left in a transaction) shrinks back once the reader is gone",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/p.db`;
    using db = SqliteDatabase.open(path);
    add(db, order(), T0);
    // Another process's read transaction keeps every checkpoint from folding past it.
    const reader = new DatabaseSync(path, { readOnly: true });
    try {
      reader.exec("BEGIN");
      reader.prepare("SELECT count(*) FROM pedidos").get();
      for (let i = 0; i < 600; i++) add(db, order({ cliente: `c${i}`.padEnd(10_000, "x") }), T0);
      const grown = Deno.statSync(`${path}-wal`).size;
      assert.ok(grown > 5_000_000, `the WAL grew behind the reader (${grown} bytes)`);
      reader.exec("COMMIT");
    } finally {
      reader.close();
    }
    // The next commits fold it all in and start the WAL over.
    for (let i = 0; i < 5; i++) add(db, order(), T0);
    const after = Deno.statSync(`${path}-wal`).size;
    assert.ok(after <= 4 * 1024 * 1024, `the WAL is back to at most 4 MB (${after} bytes)`);
  },
);
