/**
 * The SQLite schema of the protocol's §5 (`docs/protocol.md`) and its migrations.
 *
 * The schema version lives in `PRAGMA user_version`. Migration `n` (1-based)
 * takes a file from version `n - 1` to version `n`; {@linkcode migrate}
 * applies the missing ones in one transaction, so an older file is upgraded
 * in place and a failed upgrade leaves the file as it was.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { missingColumns, refusedOrder, setAside, takeIn } from "./unversioned_file.ts";

/**
 * The DDL of each version, in order: `MIGRATIONS[0]` makes version 1.
 * Append new versions; never edit a released one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: orders.
  `CREATE TABLE pedidos (
    id             INTEGER PRIMARY KEY,
    clave          TEXT UNIQUE,
    cliente        TEXT NOT NULL,
    productos      TEXT NOT NULL,
    direccion      TEXT NOT NULL,
    estado         TEXT NOT NULL DEFAULT 'pendiente'
                   CHECK (estado IN ('pendiente', 'en proceso', 'listo', 'error')),
    fecha_recibido TEXT NOT NULL,
    fecha_inicio   TEXT,
    fecha_fin      TEXT,
    worker         INTEGER,
    intentos       INTEGER NOT NULL DEFAULT 0,
    detalle_error  TEXT
  );
  CREATE INDEX pedidos_estado_id ON pedidos (estado, id);
  CREATE INDEX pedidos_cliente_id ON pedidos (cliente, id);`,
  // 2: accounts (REGISTRO / LOGIN, §2.6).
  `CREATE TABLE usuarios (
    id      INTEGER PRIMARY KEY,
    usuario TEXT UNIQUE NOT NULL COLLATE NOCASE,
    hash    TEXT NOT NULL,
    creado  TEXT NOT NULL
  );
  CREATE TABLE sesiones (
    token_hash TEXT PRIMARY KEY,
    usuario_id INTEGER NOT NULL REFERENCES usuarios (id),
    expira     TEXT NOT NULL
  );
  CREATE INDEX sesiones_usuario_id ON sesiones (usuario_id);`,
  // 3: v1.1 — state 'cancelado' (CANCELAR), `resultado` (processor modules),
  // the owning account of orders placed through the web gateway, and roles.
  // SQLite cannot change a CHECK in place, so the table is rebuilt.
  `CREATE TABLE pedidos_v3 (
    id             INTEGER PRIMARY KEY,
    clave          TEXT UNIQUE,
    cliente        TEXT NOT NULL,
    productos      TEXT NOT NULL,
    direccion      TEXT NOT NULL,
    estado         TEXT NOT NULL DEFAULT 'pendiente'
                   CHECK (estado IN ('pendiente', 'en proceso', 'listo', 'error', 'cancelado')),
    fecha_recibido TEXT NOT NULL,
    fecha_inicio   TEXT,
    fecha_fin      TEXT,
    worker         INTEGER,
    intentos       INTEGER NOT NULL DEFAULT 0,
    detalle_error  TEXT,
    resultado      TEXT,
    usuario_id     INTEGER REFERENCES usuarios (id)
  );
  INSERT INTO pedidos_v3 (id, clave, cliente, productos, direccion, estado, fecha_recibido,
                          fecha_inicio, fecha_fin, worker, intentos, detalle_error)
    SELECT id, clave, cliente, productos, direccion, estado, fecha_recibido,
           fecha_inicio, fecha_fin, worker, intentos, detalle_error FROM pedidos;
  DROP TABLE pedidos;
  ALTER TABLE pedidos_v3 RENAME TO pedidos;
  CREATE INDEX pedidos_estado_id ON pedidos (estado, id);
  CREATE INDEX pedidos_cliente_id ON pedidos (cliente, id);
  CREATE INDEX pedidos_usuario_id ON pedidos (usuario_id, id) WHERE usuario_id IS NOT NULL;
  ALTER TABLE usuarios ADD COLUMN rol TEXT NOT NULL DEFAULT 'usuario'
    CHECK (rol IN ('usuario', 'operador'));`,
  // 4: v1.1 retention — finished orders by the time they ended, so that a
  // prune finds the old ones without reading every order kept.
  `CREATE INDEX pedidos_fin ON pedidos (fecha_fin)
    WHERE estado IN ('listo', 'error', 'cancelado');`,
  // 5: fewer pages per commit. A commit used to dirty one leaf of the
  // `(cliente, id)` index per distinct `cliente` in its batch, and one of
  // the `clave` index even for orders without a key. Now `clave` is unique
  // through a partial index (orders without a key add no entry: the rule
  // of §5 is the same), and the client index is deferred: a side table
  // `pedidos_cliente` the writer fills off the acknowledgement path, sorted
  // by `cliente`, for every order up to the watermark `pedidos_cliente_hasta`;
  // LISTAR by `cliente` reads the side table up to the watermark and the
  // short tail above it from `pedidos` by id. A trigger keeps the side table
  // in step with deletions (retention). The table is rebuilt: SQLite cannot
  // drop a column's UNIQUE in place.
  `CREATE TABLE pedidos_v5 (
    id             INTEGER PRIMARY KEY,
    clave          TEXT,
    cliente        TEXT NOT NULL,
    productos      TEXT NOT NULL,
    direccion      TEXT NOT NULL,
    estado         TEXT NOT NULL DEFAULT 'pendiente'
                   CHECK (estado IN ('pendiente', 'en proceso', 'listo', 'error', 'cancelado')),
    fecha_recibido TEXT NOT NULL,
    fecha_inicio   TEXT,
    fecha_fin      TEXT,
    worker         INTEGER,
    intentos       INTEGER NOT NULL DEFAULT 0,
    detalle_error  TEXT,
    resultado      TEXT,
    usuario_id     INTEGER REFERENCES usuarios (id)
  );
  INSERT INTO pedidos_v5 SELECT id, clave, cliente, productos, direccion, estado, fecha_recibido,
    fecha_inicio, fecha_fin, worker, intentos, detalle_error, resultado, usuario_id FROM pedidos;
  DROP TABLE pedidos;
  ALTER TABLE pedidos_v5 RENAME TO pedidos;
  CREATE UNIQUE INDEX pedidos_clave ON pedidos (clave) WHERE clave IS NOT NULL;
  CREATE INDEX pedidos_estado_id ON pedidos (estado, id);
  CREATE INDEX pedidos_usuario_id ON pedidos (usuario_id, id) WHERE usuario_id IS NOT NULL;
  CREATE INDEX pedidos_fin ON pedidos (fecha_fin)
    WHERE estado IN ('listo', 'error', 'cancelado');
  CREATE TABLE pedidos_cliente (
    cliente TEXT NOT NULL,
    id      INTEGER NOT NULL,
    PRIMARY KEY (cliente, id)
  ) WITHOUT ROWID;
  INSERT INTO pedidos_cliente (cliente, id) SELECT cliente, id FROM pedidos ORDER BY cliente, id;
  CREATE TABLE pedidos_cliente_hasta (
    fila  INTEGER PRIMARY KEY CHECK (fila = 1),
    hasta INTEGER NOT NULL
  );
  INSERT INTO pedidos_cliente_hasta (fila, hasta) SELECT 1, coalesce(max(id), 0) FROM pedidos;
  CREATE TRIGGER pedidos_cliente_borrar AFTER DELETE ON pedidos BEGIN
    DELETE FROM pedidos_cliente WHERE cliente = old.cliente AND id = old.id;
  END;`,
  // 6: retention may delete the newest order too (§4: every finished order
  // past --retain-s). An INTEGER PRIMARY KEY would then hand its id out
  // again (max(id) + 1), so the highest id ever given is kept here, raised
  // before each prune, and a new order's id is above both.
  `CREATE TABLE pedidos_id_alto (
    fila INTEGER PRIMARY KEY CHECK (fila = 1),
    alto INTEGER NOT NULL
  );
  INSERT INTO pedidos_id_alto (fila, alto) SELECT 1, coalesce(max(id), 0) FROM pedidos;`,
  // 7: the queue's order apart from the id, so that a restart keeps it: a
  // REINTENTAR puts the order back at the end of the queue (§2.9), not at its
  // id's place. Places are counted PLACES_PER_ID to an id
  // (sqlite_database.ts): a new order has no `cola` (NULL: its place is its
  // id's, and an insert writes nothing more); a retry takes the place after
  // the highest id given and after every place a retry took, so it comes
  // after every order stored before it and before every one stored after,
  // and no id is skipped. Adding a column rewrites no row; the index finds
  // the last place a retry took without reading the table.
  `ALTER TABLE pedidos ADD COLUMN cola INTEGER;
  CREATE INDEX pedidos_cola ON pedidos (cola) WHERE cola IS NOT NULL;`,
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * Reads `PRAGMA user_version`.
 *
 * @param db An open connection.
 * @returns The file's schema version (0 for a new, empty file).
 */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number } | undefined;
  return row?.user_version ?? 0;
}

/**
 * Refuses, reading only, a file {@linkcode migrate} must not touch: one of a
 * newer schema, or one with tables but no schema version — another program's
 * file (a mistyped `--db`), which migrating would fill with pedidos' tables.
 * Every pedidos file has a version of 1 or more from its first table on; one
 * without a version whose table `pedidos` has §5's columns (made by hand, or
 * copied with sqlite3's `.dump`) is taken in (`unversioned_file.ts`).
 *
 * @param db An open connection.
 * @throws {Error} Saying why, when the file is one of those.
 */
export function checkMigratable(db: DatabaseSync): void {
  const current = schemaVersion(db);
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `its schema version ${current} is newer than version ${SCHEMA_VERSION} known to this program`,
    );
  }
  if (current > 0) return;
  const objects = db.prepare(
    "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name LIMIT 4",
  ).all() as { name: string }[];
  if (objects.length === 0) return;
  const names = objects.slice(0, 3).map((object) => object.name).join(", ");
  const held = `${names}${objects.length > 3 ? ", …" : ""}`;
  if (hasOrdersTable(db)) {
    // Taken in by migrate() (unversioned_file.ts) when it has §5's columns.
    const missing = missingColumns(db);
    if (missing.length === 0) {
      const refused = refusedOrder(db);
      if (refused === null) return;
      throw notTakenIn(refused);
    }
    throw new Error(
      `it is not a pedidos database: it holds ${held} but no pedidos schema version (PRAGMA user_version 0), and its table pedidos lacks ${
        missing.join(", ")
      }; left as it was: check --db`,
    );
  }
  throw new Error(
    `it is not a pedidos database: it holds ${held} but no pedidos schema version (PRAGMA user_version 0); left as it was: check --db`,
  );
}

/** Why a file with orders but no version was not taken in; it is left as it was. */
function notTakenIn(reason: string, cause?: unknown): Error {
  return new Error(
    `it holds pedidos but no pedidos schema version (PRAGMA user_version 0), and its orders could not be taken in: ${reason}; left as it was`,
    cause === undefined ? undefined : { cause },
  );
}

/** Whether the file has a table named `pedidos` (in any case). */
export function hasOrdersTable(db: DatabaseSync): boolean {
  return db.prepare(
    "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND lower(name) = 'pedidos'",
  ).get() !== undefined;
}

/**
 * Brings the file up to {@linkcode SCHEMA_VERSION}, applying the missing
 * migrations inside one `BEGIN IMMEDIATE` transaction. Idempotent.
 *
 * @param db A writable connection, not inside a transaction.
 * @returns The schema version after migrating.
 * @throws {Error} When {@linkcode checkMigratable} refuses the file, or a
 * migration fails (the file is then left unchanged).
 *
 * @example Usage
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { migrate, SCHEMA_VERSION } from "./schema.ts";
 * const db = new DatabaseSync(":memory:");
 * console.log(migrate(db) === SCHEMA_VERSION); // true
 * db.close();
 * ```
 */
export function migrate(db: DatabaseSync): number {
  if (schemaVersion(db) === SCHEMA_VERSION) return SCHEMA_VERSION;
  db.exec("BEGIN IMMEDIATE");
  try {
    // Read again under the write lock: another process may have migrated.
    checkMigratable(db);
    const current = schemaVersion(db);
    // A file with orders but no version: its rows are taken into new tables.
    const aside = current === 0 && hasOrdersTable(db) ? setAside(db, MIGRATIONS) : null;
    for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
      db.exec(MIGRATIONS[version - 1]!);
    }
    // PRAGMA takes no bound parameters; the value is a constant of this module.
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    if (aside === null) {
      db.exec("COMMIT");
    } else {
      try {
        takeIn(db, aside);
        db.exec("COMMIT"); // where the accounts its orders name are checked
      } catch (error) {
        throw notTakenIn((error as Error).message, error);
      }
    }
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
  return SCHEMA_VERSION;
}
