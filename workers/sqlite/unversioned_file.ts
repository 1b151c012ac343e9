/**
 * A file with a `pedidos` table but no schema version (`PRAGMA user_version`
 * 0), taken in: one made by hand or by another program from §5's columns,
 * the file of an earlier product with that table, or a copy of a pedidos
 * database made with sqlite3's `.dump`, `.clone` or `.recover`, which copy
 * the tables but not the version. Its version cannot be told, so it is not
 * migrated: its rows are, into the tables of this version.
 *
 * Inside the migration's transaction, {@linkcode setAside} renames its
 * tables of orders, accounts and sessions out of the way and drops every
 * other object named as one of pedidos' own (indexes, side tables, the
 * trigger a copy carries); the migrations then make every table anew, and
 * {@linkcode takeIn} copies the rows of the columns the old tables have, and
 * drops them. The rows must meet this version's rules (an `estado` of §5,
 * `productos` JSON, no two orders with one `clave`): when one does not, the
 * transaction fails and the file is left as it was.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

/** The columns an orders table must have to be taken in (§5's, but for the optional ones). */
const REQUIRED_COLUMNS = [
  "id",
  "cliente",
  "productos",
  "direccion",
  "estado",
  "fecha_recibido",
] as const;

/** The columns of each table copied, when the old table has them. */
const COPIED: Record<string, readonly string[]> = {
  usuarios: ["id", "usuario", "hash", "creado", "rol"],
  sesiones: ["token_hash", "usuario_id", "expira"],
  pedidos: [
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
  ],
};

/** The columns an accounts table must have for its accounts to be taken in. */
const ACCOUNT_COLUMNS = ["id", "usuario", "hash", "creado"];

/** Where {@linkcode setAside} put the old tables, and what they held. */
export interface SetAside {
  /** Table name → the name it was set aside as, and its columns. */
  readonly tables: ReadonlyMap<string, { aside: string; columns: readonly string[] }>;
  /** The highest id the file had given (`pedidos_id_alto`), when it kept one. */
  readonly highestId: number;
}

/** The names of the tables, indexes and triggers `migrations` make. */
function ownNames(migrations: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const ddl of migrations) {
    for (const [, name] of ddl.matchAll(/CREATE (?:UNIQUE )?(?:TABLE|INDEX|TRIGGER) (\w+)/g)) {
      names.add(name!);
    }
  }
  return names;
}

/** The columns of `table`, in lower case (SQLite's names ignore ASCII case). */
function columnsOf(db: DatabaseSync, table: string): string[] {
  // A name of this module's, quoted: PRAGMA takes no bound parameters.
  const rows = db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[];
  return rows.map((row) => row.name.toLowerCase());
}

/**
 * Whether the file's orders table can be taken in: it has every column of
 * {@linkcode REQUIRED_COLUMNS}. Returns the ones it lacks.
 */
export function missingColumns(db: DatabaseSync): string[] {
  const columns = new Set(columnsOf(db, "pedidos"));
  return REQUIRED_COLUMNS.filter((name) => !columns.has(name));
}

/** §5's states. */
const STATES = "('pendiente', 'en proceso', 'listo', 'error', 'cancelado')";

/**
 * What keeps the file's orders from being taken in, read only (before the
 * file is touched, WAL mode included): the first order that breaks one of
 * this version's rules, or null when none does.
 */
export function refusedOrder(db: DatabaseSync): string | null {
  const columns = new Set(columnsOf(db, "pedidos"));
  const probes: [string, string][] = [
    ["id IS NULL OR typeof(id) <> 'integer'", "has no whole-number id"],
    [
      "cliente IS NULL OR direccion IS NULL OR productos IS NULL OR fecha_recibido IS NULL",
      "lacks a cliente, productos, direccion or fecha_recibido",
    ],
    [`estado IS NULL OR estado NOT IN ${STATES}`, "has a state that is none of §5's"],
    ["NOT json_valid(productos)", "has productos that are not JSON"],
  ];
  if (columns.has("resultado")) {
    probes.push([
      "resultado IS NOT NULL AND NOT json_valid(resultado)",
      "has a resultado that is not JSON",
    ]);
  }
  if (columns.has("intentos")) probes.push(["intentos IS NULL", "has no intentos"]);
  if (columns.has("clave")) {
    probes.push([
      "clave IS NOT NULL AND clave IN (SELECT clave FROM pedidos GROUP BY clave HAVING count(*) > 1)",
      "shares its clave with another order",
    ]);
  }
  for (const [where, what] of probes) {
    const row = db.prepare(`SELECT id FROM pedidos WHERE ${where} ORDER BY id LIMIT 1`).get() as
      | { id: unknown }
      | undefined;
    if (row !== undefined) return `its order ${String(row.id)} ${what}`;
  }
  const ids = db.prepare("SELECT count(*) AS n, count(DISTINCT id) AS d FROM pedidos").get() as {
    n: number;
    d: number;
  };
  if (ids.n !== ids.d) return "two of its orders share an id";
  return null;
}

/**
 * Renames the old tables of orders, accounts and sessions to `…_sin_version`
 * and drops every other object named as one `migrations` make. Inside a
 * write transaction.
 */
export function setAside(db: DatabaseSync, migrations: readonly string[]): SetAside {
  const present = new Map(
    (db.prepare(
      "SELECT name, type FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    ).all() as { name: string; type: string }[]).map((row) => [row.name.toLowerCase(), row]),
  );
  let highestId = 0;
  if (present.get("pedidos_id_alto")?.type === "table") {
    const row = db.prepare("SELECT max(alto) AS alto FROM pedidos_id_alto").get() as {
      alto: number | null;
    };
    highestId = Number(row.alto ?? 0);
  }
  const tables = new Map<string, { aside: string; columns: readonly string[] }>();
  for (const table of Object.keys(COPIED)) {
    if (present.get(table)?.type !== "table") continue;
    const columns = columnsOf(db, table);
    if (table === "usuarios" && !ACCOUNT_COLUMNS.every((name) => columns.includes(name))) continue;
    tables.set(table, { aside: `${table}_sin_version`, columns });
  }
  // Triggers first (one may name a table dropped below), then indexes, then tables.
  const order = ["trigger", "index", "view", "table"];
  const own = ownNames(migrations);
  const dropped = [...present.values()]
    .filter((object) => own.has(object.name.toLowerCase()) && !COPIED[object.name.toLowerCase()])
    .sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
  for (const { name, type } of dropped) {
    db.exec(`DROP ${type.toUpperCase()} IF EXISTS "${name}"`);
  }
  for (const [table, { aside }] of tables) db.exec(`ALTER TABLE "${table}" RENAME TO "${aside}"`);
  // A table of another shape under one of pedidos' names (an accounts table
  // without a hash) is left beside the new one, renamed, its rows not copied.
  for (const table of Object.keys(COPIED)) {
    if (present.get(table)?.type === "table" && !tables.has(table)) {
      db.exec(`ALTER TABLE "${table}" RENAME TO "${table}_sin_version"`);
    }
  }
  return { tables, highestId };
}

/**
 * Copies the rows set aside into the tables the migrations made, and drops
 * the old tables. Inside the same write transaction, after the migrations.
 *
 * @throws {Error} What SQLite refused ({@linkcode refusedOrder} found the
 * orders that break a rule before).
 */
export function takeIn(db: DatabaseSync, aside: SetAside): void {
  // The accounts an order names may come after it: checked at the commit.
  db.exec("PRAGMA defer_foreign_keys = ON");
  for (const table of ["usuarios", "sesiones", "pedidos"]) {
    const old = aside.tables.get(table);
    if (old === undefined) continue;
    const columns = COPIED[table]!.filter((name) => old.columns.includes(name));
    const list = columns.map((name) => `"${name}"`).join(", ");
    db.exec(`INSERT INTO "${table}" (${list}) SELECT ${list} FROM "${old.aside}"`);
  }
  // What the migrations filled from the (then empty) orders table.
  db.exec(`INSERT INTO pedidos_cliente (cliente, id)
    SELECT cliente, id FROM pedidos ORDER BY cliente, id`);
  db.exec(`UPDATE pedidos_cliente_hasta SET hasta = (SELECT coalesce(max(id), 0) FROM pedidos)`);
  db.prepare(
    `UPDATE pedidos_id_alto SET alto = max(?, (SELECT coalesce(max(id), 0) FROM pedidos))`,
  ).run(aside.highestId);
  for (const table of ["sesiones", "pedidos", "usuarios"]) {
    const old = aside.tables.get(table);
    if (old !== undefined) db.exec(`DROP TABLE "${old.aside}"`);
  }
}
