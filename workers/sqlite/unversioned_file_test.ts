import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SCHEMA_VERSION } from "./schema.ts";
import { SqliteDatabase } from "./sqlite_database.ts";
import { testWith } from "../../tests/permissions.ts";

const T0 = "2026-11-23T13:16:00.123Z";
const T1 = "2026-11-23T13:16:01.000Z";

/** A temp dir removed on dispose. */
function tempDir(): { path: string } & Disposable {
  const path = Deno.makeTempDirSync({ prefix: "pedidos_unversioned_" });
  return { path, [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }) };
}

/** §5's table, as someone writes it from the spec, with no schema version. */
const SPEC_TABLE = `CREATE TABLE pedidos (
  id INTEGER PRIMARY KEY, clave TEXT UNIQUE, cliente TEXT NOT NULL, productos TEXT NOT NULL,
  direccion TEXT NOT NULL, estado TEXT NOT NULL, fecha_recibido TEXT NOT NULL,
  fecha_inicio TEXT, fecha_fin TEXT, worker INTEGER, intentos INTEGER NOT NULL DEFAULT 0,
  detalle_error TEXT, resultado TEXT)`;

function handMade(path: string, rows: string): void {
  const db = new DatabaseSync(path);
  db.exec(SPEC_TABLE);
  db.exec(rows);
  db.close();
}

testWith("read", "write")(
  "SqliteDatabase.open() takes in a file made from §5's columns without a schema version: its orders keep their ids, states and claves, and new ids come after them",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/viejo.db`;
    handMade(
      path,
      `INSERT INTO pedidos (id, clave, cliente, productos, direccion, estado, fecha_recibido)
         VALUES (3, 'k-3', 'Ana', '["pan"]', 'Calle 1', 'pendiente', '${T0}');
       INSERT INTO pedidos (id, cliente, productos, direccion, estado, fecha_recibido,
           fecha_inicio, fecha_fin, worker, intentos, resultado)
         VALUES (7, 'Luis', '[{"nombre":"agua","cantidad":2}]', 'Calle 2', 'listo', '${T0}',
           '${T0}', '${T1}', 1, 1, '{"total":2}');`,
    );
    using db = SqliteDatabase.open(path);
    assert.equal(db.schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(
      db.unfinished().map((p) => [p.id, p.clave, p.estado, p.intentos]),
      [[3, "k-3", "pendiente", 0]],
    );
    const done = db.get(7)!;
    assert.deepEqual(
      [done.estado, done.productos, done.worker, done.resultado, done.duracion_ms],
      ["listo", [{ nombre: "agua", cantidad: 2 }], 1, { total: 2 }, 1000 - 123],
    );
    // Its clave still names its order; a new order's id comes after every old one.
    const again = db.insert(
      { cliente: "Ana", productos: ["pan"], direccion: "C", clave: "k-3" },
      T1,
    );
    assert.equal(typeof again === "object" && again.id, 3, "duplicado");
    assert.equal(
      db.insert({ cliente: "Eva", productos: ["sal"], direccion: "C", clave: null }, T1),
      8,
    );
    assert.deepEqual(db.list({ cliente: "Luis", limit: 10 }).map((p) => p.id), [7]);
  },
);

testWith("read", "write")(
  "SqliteDatabase.open() takes in a copy without its version (as sqlite3's .dump makes): orders, accounts, sessions, and ids never given again",
  () => {
    using dir = tempDir();
    const path = `${dir.path}/pedidos.db`;
    {
      using db = SqliteDatabase.open(path);
      for (const cliente of ["Ana", "Luis", "Eva"]) {
        db.insert({ cliente, productos: ["pan"], direccion: "C", clave: `k-${cliente}` }, T0);
      }
      db.markRan(3, 1, T0, { estado: "listo", at: T1 });
      const user = db.createUser("ana", "hash-de-ana", T0)!;
      db.createSession("token-hash", user, "2099-01-01T00:00:00.000Z");
      assert.equal(db.prune("2099-01-01T00:00:00.000Z", 10), 1, "the newest order, 3, pruned");
    }
    const copy = `${dir.path}/copia.db`;
    // The whole database in its one file (the WAL folded in), copied.
    const source = new DatabaseSync(path);
    source.exec("PRAGMA journal_mode = DELETE");
    source.close();
    Deno.copyFileSync(path, copy);
    const copied = new DatabaseSync(copy);
    copied.exec("PRAGMA user_version = 0"); // what .dump, .clone and .recover leave
    copied.close();

    using db = SqliteDatabase.open(copy);
    assert.equal(db.schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(db.unfinished().map((p) => [p.id, p.cliente]), [[1, "Ana"], [2, "Luis"]]);
    assert.equal(db.findUser("ANA")?.hash, "hash-de-ana");
    assert.equal(db.findSession("token-hash", T1)?.usuario, "ana");
    assert.equal(db.get(3), null);
    assert.equal(
      db.insert({ cliente: "Olga", productos: ["sal"], direccion: "C", clave: null }, T1),
      4,
      "3 was given once: not again",
    );
    assert.deepEqual(db.list({ cliente: "Luis", limit: 10 }).map((p) => p.id), [2]);
  },
);

testWith("read", "write")(
  "SqliteDatabase.open() refuses a file without a version whose orders break this version's rules, saying which, and leaves it as it was",
  async () => {
    using dir = tempDir();
    const cases: [string, RegExp][] = [
      [
        `INSERT INTO pedidos (id, cliente, productos, direccion, estado, fecha_recibido)
           VALUES (1, 'Ana', '["pan"]', 'C', 'perdido', '${T0}')`,
        /its orders could not be taken in: its order 1 has a state that is none of §5's; left as it was$/,
      ],
      [
        `INSERT INTO pedidos (id, cliente, productos, direccion, estado, fecha_recibido)
           VALUES (1, 'Ana', '["pan"]', 'C', 'listo', '${T0}'),
                  (2, 'Ana', 'pan, agua', 'C', 'pendiente', '${T0}')`,
        /its orders could not be taken in: its order 2 has productos that are not JSON; left as it was$/,
      ],
      [
        `INSERT INTO pedidos (id, cliente, productos, direccion, estado, fecha_recibido, resultado)
           VALUES (4, 'Ana', '["pan"]', 'C', 'listo', '${T0}', 'hecho')`,
        /its order 4 has a resultado that is not JSON; left as it was$/,
      ],
    ];
    for (const [n, [rows, message]] of cases.entries()) {
      const path = `${dir.path}/malo-${n}.db`;
      handMade(path, rows);
      const before = await Deno.readFile(path);
      assert.throws(() => SqliteDatabase.open(path), (error: Error) => {
        assert.match(
          error.message,
          new RegExp(
            `^Cannot open database "${path}": it holds pedidos but no pedidos schema version`,
          ),
        );
        assert.match(error.message, message);
        return true;
      });
      assert.deepEqual(await Deno.readFile(path), before, "not a byte changed");
    }
  },
);
