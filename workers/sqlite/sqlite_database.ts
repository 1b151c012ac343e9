/**
 * The orders database over one synchronous `node:sqlite` connection: the
 * statements of every order and account operation, prepared once, bound
 * parameters only.
 *
 * The writer worker owns the only writable instance; the main thread's
 * SQLite store holds a read-only one on the same file (WAL mode lets it
 * read while the writer writes).
 *
 * Longer than one sitting on purpose: it is one class because every
 * statement shares one connection and one statement cache; each method is
 * a few lines of SQL and binding, documented, in the order of the store
 * interface (orders, then accounts). Opening failures are explained in
 * `open_failure.ts`.
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type {
  Estado,
  ListFilter,
  Pedido,
  PedidoNuevo,
  Producto,
} from "../../server/protocol/messages.ts";
import type { ChangeResult, Outcome, Rol, Sesion, Usuario } from "../../server/store/store.ts";
import { storableText } from "../storable_text.ts";
import { DatabaseFile, DatabaseFileGoneError } from "./database_file.ts";
import { explainOpenFailure } from "./open_failure.ts";
import {
  checkMigratable,
  hasOrdersTable,
  migrate,
  SCHEMA_VERSION,
  schemaVersion,
} from "./schema.ts";

/** How long a connection waits for a lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;
/**
 * Pages the WAL grows by before it is copied into the file and starts over
 * (SQLite's default is 1000, 4 MB): 1 MB, so a disk with a little room
 * left is not filled by old versions of pages before they are folded in —
 * once full, folding them in may need room the file cannot get.
 */
const WAL_CHECKPOINT_PAGES = 256;
/**
 * Bytes the WAL is cut back to when it starts over (`journal_size_limit`).
 * A reader that holds a transaction (`sqlite3` left open, a backup) keeps
 * checkpoints from folding past it, so the WAL grows while it reads; without
 * a limit the file keeps that size, hundreds of MB, until the next start.
 */
const WAL_SIZE_LIMIT = 4 * 1024 * 1024;

/** Options of {@linkcode SqliteDatabase.open}. */
export interface SqliteDatabaseOptions {
  /**
   * Open read-only: no pragmas that write, no migration. The file must
   * already exist with a schema this code knows.
   *
   * @default {false}
   */
  readOnly?: boolean;
  /**
   * `full` syncs the WAL at every commit (survives power loss); `normal`
   * survives a crash of the process but may lose the last commits on power
   * loss. Ignored when `readOnly`.
   *
   * @default {"full"}
   */
  sync?: "full" | "normal";
}

/** A row of `pedidos` as SQLite returns it. */
interface Row {
  id: number;
  clave: string | null;
  cliente: string;
  productos: string;
  direccion: string;
  estado: Estado;
  fecha_recibido: string;
  fecha_inicio: string | null;
  fecha_fin: string | null;
  worker: number | null;
  intentos: number;
  detalle_error: string | null;
  resultado: string | null;
}

const COLUMNS = "id, clave, cliente, productos, direccion, estado, fecha_recibido, " +
  "fecha_inicio, fecha_fin, worker, intentos, detalle_error, resultado";

/** {@linkcode COLUMNS} of the table aliased `p`. */
// The id comes from the side table's key, so SQLite sees that arm in id order.
const P_COLUMNS = COLUMNS.split(", ").map((column) =>
  column === "id" ? "k.id AS id" : `p.${column}`
).join(", ");

/** The finished states (§4); their orders may be pruned. */
const FINISHED = "('listo', 'error', 'cancelado')";

/**
 * Places in the queue per order id (schema v7): order `id`'s place is
 * `id * PLACES_PER_ID`, and the retries made while `id` is the highest id
 * take the places after it, one each. (More than 2^20 retries with no new
 * order between would reach the next id's place; ids stay far below
 * 2^63 / 2^20.)
 */
const PLACES_PER_ID = 1 << 20;

const SQL = {
  // No RETURNING: the caller knows every column of a new row but its id.
  // The id above every id given, pruned or not (schema v6). No `cola`: the
  // order's place in the queue is its id's (v7).
  insert: `INSERT INTO pedidos
      (id, clave, cliente, productos, direccion, estado, fecha_recibido, usuario_id)
    VALUES (max((SELECT coalesce(max(id), 0) FROM pedidos),
                (SELECT alto FROM pedidos_id_alto)) + 1,
            ?, ?, ?, ?, 'pendiente', ?, ?)
    ON CONFLICT (clave) WHERE clave IS NOT NULL DO NOTHING`,
  markStarted: `UPDATE pedidos
    SET estado = 'en proceso', fecha_inicio = ?, worker = ?, intentos = intentos + 1,
        fecha_fin = NULL, detalle_error = NULL
    WHERE id = ?`,
  markFinished: `UPDATE pedidos SET estado = ?, fecha_fin = ?, detalle_error = ?, resultado = ?
    WHERE id = ?`,
  markRan: `UPDATE pedidos
    SET estado = ?, fecha_inicio = ?, fecha_fin = ?, worker = ?, intentos = intentos + 1,
        detalle_error = ?, resultado = ?
    WHERE id = ?`,
  cancel: `UPDATE pedidos SET estado = 'cancelado', fecha_fin = ?
    WHERE id = ? AND estado = 'pendiente'`,
  // Back at the end of the queue (schema v7): the place after every stored
  // order's and after the last place a retry took; the next new order's id
  // (above every id stored) has a place past it.
  retry: `UPDATE pedidos
    SET estado = 'pendiente', fecha_inicio = NULL, fecha_fin = NULL, worker = NULL,
        detalle_error = NULL, resultado = NULL,
        cola = max((SELECT coalesce(max(id), 0) FROM pedidos) * ${PLACES_PER_ID},
                   (SELECT coalesce(max(cola), 0) FROM pedidos WHERE cola IS NOT NULL)) + 1
    WHERE id = ? AND estado = 'error'`,
  // Oldest first by `fecha_fin`, through the partial index `pedidos_fin`
  // (schema v4; named, as the planner without statistics prefers another):
  // a prune that finds nothing reads no order. The newest order may go too:
  // `raiseIdAlto` runs first, in the same transaction, so its id is never
  // handed out again.
  raiseIdAlto: `UPDATE pedidos_id_alto
    SET alto = max(alto, (SELECT coalesce(max(id), 0) FROM pedidos))`,
  prune: `DELETE FROM pedidos WHERE id IN (
    SELECT id FROM pedidos INDEXED BY pedidos_fin
    WHERE estado IN ${FINISHED} AND fecha_fin < ?
    ORDER BY fecha_fin LIMIT ?)`,
  markPending: `UPDATE pedidos
    SET estado = 'pendiente', fecha_inicio = NULL, fecha_fin = NULL, worker = NULL,
        detalle_error = NULL, resultado = NULL
    WHERE id = ?`,
  get: `SELECT ${COLUMNS} FROM pedidos WHERE id = ?`,
  getOwned: `SELECT ${COLUMNS} FROM pedidos WHERE id = ? AND usuario_id = ?`,
  findByClave: `SELECT ${COLUMNS} FROM pedidos WHERE clave = ?`,
  // In queue order (schema v7): a new order's place is its id's, a retried one's its `cola`.
  unfinished: `SELECT ${COLUMNS} FROM pedidos
    WHERE estado IN ('pendiente', 'en proceso') ORDER BY coalesce(cola, id * ${PLACES_PER_ID})`,
  // Accounts (§2.6). `usuario` is COLLATE NOCASE: "Ana" and "ana" are one account.
  createUser: `INSERT INTO usuarios (usuario, hash, creado) VALUES (?, ?, ?)
    ON CONFLICT (usuario) DO NOTHING
    RETURNING id`,
  findUser: `SELECT id, usuario, hash, creado, rol FROM usuarios WHERE usuario = ?`,
  setRole: `UPDATE usuarios SET rol = ? WHERE usuario = ?`,
  createSession: `INSERT INTO sesiones (token_hash, usuario_id, expira) VALUES (?, ?, ?)`,
  findSession: `SELECT s.usuario_id AS usuarioId, u.usuario AS usuario, s.expira AS expira,
      u.rol AS rol
    FROM sesiones s JOIN usuarios u ON u.id = s.usuario_id
    WHERE s.token_hash = ? AND s.expira > ?`,
  deleteExpiredSessions: `DELETE FROM sesiones WHERE expira <= ?`,
  // The deferred client index (schema v5): orders above the watermark, sorted
  // by `cliente` so that each leaf of the side table is written once per fold.
  foldClients: `INSERT INTO pedidos_cliente (cliente, id)
    SELECT cliente, id FROM pedidos WHERE id > (SELECT hasta FROM pedidos_cliente_hasta)
    ORDER BY cliente, id`,
  raiseWatermark: `UPDATE pedidos_cliente_hasta
    SET hasta = max(hasta, (SELECT coalesce(max(id), 0) FROM pedidos))`,
  clientLag: `SELECT (SELECT coalesce(max(id), 0) FROM pedidos) - hasta AS lag
    FROM pedidos_cliente_hasta`,
} as const;

/** The watermark of the deferred client index, as a scalar subquery. */
const WATERMARK = "(SELECT hasta FROM pedidos_cliente_hasta)";

/**
 * One connection to the orders database, with prepared statements.
 *
 * @example Usage
 * ```ts
 * import { SqliteDatabase } from "./sqlite_database.ts";
 * using db = SqliteDatabase.open(":memory:");
 * const id = db.insert(
 *   { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null },
 *   new Date().toISOString(),
 * );
 * console.log(typeof id === "number" && db.get(id)?.estado); // "pendiente"
 * ```
 */
export class SqliteDatabase implements Disposable {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  /** The writer's file, checked after each commit; null for a reader or `:memory:`. */
  readonly #file: DatabaseFile | null;
  readonly #path: string;

  private constructor(db: DatabaseSync, path: string, file: DatabaseFile | null) {
    this.#db = db;
    this.#path = path;
    this.#file = file;
  }

  /**
   * Opens (and for a writer, creates and migrates) a database.
   *
   * @param path A file path, or `:memory:`. `file:` URIs are not supported.
   * @param options See {@linkcode SqliteDatabaseOptions}.
   * @returns The open database.
   * @throws {Error} `Cannot open database "PATH": REASON`, e.g. when the
   * directory does not exist or is not writable, or the file's schema is
   * newer than this code.
   */
  static open(path: string, options: SqliteDatabaseOptions = {}): SqliteDatabase {
    const { readOnly = false, sync = "full" } = options;
    if (path.startsWith("file:")) {
      throw new TypeError(`Cannot open database "${path}": file: URIs are not supported`);
    }
    if (readOnly && path === ":memory:") {
      throw new TypeError(`Cannot open database "${path}": a read-only :memory: is always empty`);
    }
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path, { readOnly });
      // A constant of this module: PRAGMA takes no bound parameters.
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      if (readOnly) {
        checkReadableVersion(db);
      } else {
        // Before any change to the file, WAL mode included.
        checkMigratable(db);
        db.exec("PRAGMA journal_mode = WAL");
        db.exec(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
        db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
        db.exec(sync === "normal" ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL");
        db.exec("PRAGMA foreign_keys = ON");
        migrate(db);
        checkWritable(db);
        // What a previous run left in the WAL (a kill -9 leaves it whole) goes
        // into the file now, and the WAL starts empty: on a nearly full disk
        // its old pages would otherwise hold the space new writes need.
        reclaimWal(db);
      }
    } catch (error) {
      if (db?.isOpen) db.close();
      const reason = explainOpenFailure(path, readOnly, error);
      throw new Error(`Cannot open database "${path}": ${reason}`, { cause: error });
    }
    return new SqliteDatabase(db, path, readOnly ? null : DatabaseFile.watch(path));
  }

  /**
   * The schema of the database file at `path` as it is now, read without
   * changing it (nor creating it): the version {@linkcode SqliteDatabase.open}
   * will migrate from, and whether it holds orders without a version, which
   * opening it takes in (`unversioned_file.ts`), for the log line of an
   * upgrade.
   *
   * @param path A file path; `:memory:` is never there before it is opened.
   * @returns The version (0 for an empty file) and whether its orders have
   * none, or null when the file does not exist or cannot be read (opening it
   * will say why).
   */
  static peekSchema(path: string): { version: number; unversionedOrders: boolean } | null {
    if (path === ":memory:" || path.startsWith("file:")) return null;
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path, { readOnly: true });
      const version = schemaVersion(db);
      return { version, unversionedOrders: version === 0 && hasOrdersTable(db) };
    } catch {
      return null;
    } finally {
      if (db?.isOpen) db.close();
    }
  }

  /** The file's schema version (`PRAGMA user_version`). */
  get schemaVersion(): number {
    return schemaVersion(this.#db);
  }

  /** Whether a transaction is open on this connection. */
  get inTransaction(): boolean {
    return this.#db.isTransaction;
  }

  /**
   * Stores a new order (`pendiente`, `intentos` 0) and returns only what the
   * caller cannot know: its id. When its `clave` is already stored, nothing
   * is stored and the existing order is returned instead.
   *
   * @param order The validated order.
   * @param receivedAt ISO 8601 UTC with milliseconds.
   * @param owner The account that placed it, if any.
   * @returns The new id, or the existing order.
   */
  insert(order: PedidoNuevo, receivedAt: string, owner: number | null = null): number | Pedido {
    const { changes, lastInsertRowid } = this.#stmt(SQL.insert).run(
      order.clave,
      order.cliente,
      JSON.stringify(order.productos),
      order.direccion,
      receivedAt,
      owner,
    );
    if (changes === 1 || changes === 1n) return Number(lastInsertRowid);
    // Only a conflict on `clave` makes DO NOTHING skip the row.
    const existing = order.clave === null ? null : this.findByClave(order.clave);
    if (existing === null) throw new Error("Cannot insert order: no row was stored");
    return existing;
  }

  /**
   * Starts an attempt: `en proceso`, `fecha_inicio`, `worker`, `intentos + 1`.
   *
   * @throws {Error} When no order has this id.
   */
  markStarted(id: number, worker: number, at: string): void {
    this.#update("start", id, SQL.markStarted, at, worker, id);
  }

  /**
   * Ends an attempt: `listo` or `error`, `fecha_fin`, `detalle_error`.
   *
   * @throws {Error} When no order has this id, or `outcome.estado` is not a
   * final state (the table's CHECK refuses it).
   */
  markFinished(id: number, outcome: Outcome): void {
    const detalle = storableText(outcome.estado === "error" ? outcome.detalle ?? null : null);
    const resultado = outcome.resultado ?? null;
    this.#update(
      "finish",
      id,
      SQL.markFinished,
      outcome.estado,
      outcome.at,
      detalle,
      resultado,
      id,
    );
  }

  /**
   * Records a whole attempt at once, start and end (an order whose
   * processing took no time): `listo` or `error`, `fecha_inicio`,
   * `fecha_fin`, `worker`, `intentos + 1`, `detalle_error`.
   *
   * @throws {Error} When no order has this id, or `outcome.estado` is not a
   * final state.
   */
  markRan(id: number, worker: number, startedAt: string, outcome: Outcome): void {
    const detalle = storableText(outcome.estado === "error" ? outcome.detalle ?? null : null);
    this.#update(
      "finish",
      id,
      SQL.markRan,
      outcome.estado,
      startedAt,
      outcome.at,
      worker,
      detalle,
      outcome.resultado ?? null,
      id,
    );
  }

  /**
   * CANCELAR: a `pendiente` order becomes `cancelado`, `fecha_fin` = `at`.
   *
   * @returns `changed`, `refused` (another state) or `not_found`, with the order as it is now.
   */
  cancel(id: number, at: string, owner?: number): ChangeResult {
    if (owner !== undefined && this.get(id, owner) === null) return { status: "not_found" };
    return this.#change(id, SQL.cancel, at, id);
  }

  /**
   * REINTENTAR: an `error` order goes back to `pendiente`, at the end of the
   * queue: after every order stored now, before every order stored later
   * (its place is kept across restarts, see {@linkcode SqliteDatabase.unfinished});
   * `intentos` is kept.
   *
   * @returns `changed`, `refused` (another state) or `not_found`, with the order as it is now.
   */
  retry(id: number, owner?: number): ChangeResult {
    if (owner !== undefined && this.get(id, owner) === null) return { status: "not_found" };
    return this.#change(id, SQL.retry, id);
  }

  /**
   * Deletes up to `limit` finished orders whose `fecha_fin` is before
   * `before`, oldest first (the newest too: its id is remembered first, so
   * no new order gets it).
   *
   * @returns How many were deleted.
   */
  prune(before: string, limit: number): number {
    this.#stmt(SQL.raiseIdAlto).run();
    return Number(this.#stmt(SQL.prune).run(before, limit).changes);
  }

  /**
   * Puts an order back to `pendiente` and clears the fields of the attempt
   * (`intentos` is kept). It keeps its place in the queue (a failed attempt
   * waiting out its backoff, an attempt cut short by a stop).
   *
   * @throws {Error} When no order has this id.
   */
  markPending(id: number): void {
    this.#update("reset", id, SQL.markPending, id);
  }

  /** One order by id, or null; with `owner`, null unless that account placed it. */
  get(id: number, owner?: number): Pedido | null {
    const row =
      (owner === undefined
        ? this.#stmt(SQL.get).get(id)
        : this.#stmt(SQL.getOwned).get(id, owner)) as Row | undefined;
    return row === undefined ? null : toPedido(row);
  }

  /** The order with this idempotency key, or null. */
  findByClave(clave: string): Pedido | null {
    const row = this.#stmt(SQL.findByClave).get(clave) as Row | undefined;
    return row === undefined ? null : toPedido(row);
  }

  /**
   * Orders newest first. `estado` and `cliente` match exactly, `antesDe` is
   * exclusive, at most `limit` rows.
   */
  list(filter: ListFilter): Pedido[] {
    if (filter.cliente !== undefined) return this.#listByClient(filter.cliente, filter);
    const { where, params } = filterClauses(filter);
    // Only constant fragments are joined; every value is a bound parameter.
    const sql = `SELECT ${COLUMNS} FROM pedidos` +
      (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
      " ORDER BY id DESC LIMIT ?";
    return (this.#stmt(sql).all(...params, filter.limit) as unknown as Row[]).map(toPedido);
  }

  /**
   * Orders of one `cliente`, newest first, in one statement (one snapshot):
   * the tail above the watermark of the deferred client index, read from
   * `pedidos` by id (at most a few thousand rows), then the side table
   * `pedidos_cliente` below it. Both arms come in id order, so SQLite merges
   * them and stops at the limit.
   */
  #listByClient(cliente: string, filter: ListFilter): Pedido[] {
    const { where, params } = filterClauses(filter);
    const tail = where.map((w) => ` AND ${w}`).join("");
    const indexed = where.map((w) => ` AND p.${w}`).join("").replace("p.id < ?", "k.id < ?");
    // Only constant fragments are joined; every value is a bound parameter.
    const sql = `SELECT ${COLUMNS} FROM pedidos
      WHERE id > ${WATERMARK} AND cliente = ?${tail}
      UNION ALL
      SELECT ${P_COLUMNS} FROM pedidos_cliente k JOIN pedidos p ON p.id = k.id
      WHERE k.cliente = ? AND k.id <= ${WATERMARK}${indexed}
      ORDER BY id DESC LIMIT ?`;
    return (this.#stmt(sql).all(
      cliente,
      ...params,
      cliente,
      ...params,
      filter.limit,
    ) as unknown as Row[])
      .map(toPedido);
  }

  /**
   * Folds the orders above the watermark into the deferred client index, in
   * one transaction of its own, and raises the watermark. The writer calls
   * it off the acknowledgement path.
   *
   * @returns How many orders were folded.
   */
  foldClients(): number {
    this.begin();
    try {
      const { changes } = this.#stmt(SQL.foldClients).run();
      this.#stmt(SQL.raiseWatermark).run();
      this.commit();
      return Number(changes);
    } catch (error) {
      this.rollback();
      throw error;
    }
  }

  /** How many ids lie above the watermark of the deferred client index (an upper bound). */
  clientLag(): number {
    const row = this.#stmt(SQL.clientLag).get() as { lag: number } | undefined;
    return row?.lag ?? 0;
  }

  /**
   * Orders left `pendiente` or `en proceso`, in queue order: oldest first,
   * an order sent back by REINTENTAR where the retry put it (after the
   * orders stored before the retry, before those stored after).
   */
  unfinished(): Pedido[] {
    return (this.#stmt(SQL.unfinished).all() as unknown as Row[]).map(toPedido);
  }

  /**
   * Stores an account, unless the name (ignoring ASCII case) is taken.
   *
   * @returns The new id, or null when the name was taken.
   */
  createUser(usuario: string, hash: string, at: string): number | null {
    const row = this.#stmt(SQL.createUser).get(usuario, hash, at) as { id: number } | undefined;
    return row?.id ?? null;
  }

  /** The account with this name (ignoring ASCII case), or null. */
  findUser(usuario: string): Usuario | null {
    const row = this.#stmt(SQL.findUser).get(usuario) as Usuario | undefined;
    return row === undefined
      ? null
      : { id: row.id, usuario: row.usuario, hash: row.hash, creado: row.creado, rol: row.rol };
  }

  /** Gives an account a role; false when no account has this name. */
  setRole(usuario: string, rol: Rol): boolean {
    return Number(this.#stmt(SQL.setRole).run(rol, usuario).changes) > 0;
  }

  /** Stores a session by the hash of its token. */
  createSession(tokenHash: string, usuarioId: number, expira: string): void {
    this.#stmt(SQL.createSession).run(tokenHash, usuarioId, expira);
  }

  /** The session with this token hash that ends after `now`, or null. */
  findSession(tokenHash: string, now: string): Sesion | null {
    const row = this.#stmt(SQL.findSession).get(tokenHash, now) as Sesion | undefined;
    return row === undefined
      ? null
      : { usuarioId: row.usuarioId, usuario: row.usuario, expira: row.expira, rol: row.rol };
  }

  /** Deletes the sessions that ended at or before `now`; returns how many. */
  deleteExpiredSessions(now: string): number {
    return Number(this.#stmt(SQL.deleteExpiredSessions).run(now).changes);
  }

  /** Starts a write transaction (`BEGIN IMMEDIATE`). */
  begin(): void {
    this.#db.exec("BEGIN IMMEDIATE");
  }

  /**
   * Commits the open transaction.
   *
   * @throws {DatabaseFileGoneError} when the file was deleted or replaced
   * meanwhile: the commit went to a file that will not be opened again.
   */
  commit(): void {
    this.#db.exec("COMMIT");
    if (this.#file?.check() !== "wal_gone") return;
    // The WAL was deleted: what was just committed is only in the open,
    // deleted one. Into the database file with it, now.
    const done = this.#db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number };
    if (done.busy !== 0) {
      throw new DatabaseFileGoneError(
        this.#path,
        "its write-ahead log (-wal) was deleted, and a checkpoint to save what it held could not finish",
      );
    }
  }

  /**
   * Copies the WAL into the database file and empties it (`PRAGMA
   * wal_checkpoint(TRUNCATE)`), giving its space back to a full disk: the
   * WAL holds every version of every page written since the last
   * checkpoint, the file only the last. Never throws.
   *
   * @returns whether it finished (not when a reader holds the WAL, or the
   * file cannot grow by the pages it must take).
   */
  reclaimWal(): boolean {
    return reclaimWal(this.#db);
  }

  /** Rolls back the open transaction, if any (SQLite may already have). */
  rollback(): void {
    if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
  }

  /** Closes the connection. Idempotent. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** Closes the connection. */
  [Symbol.dispose](): void {
    this.close();
  }

  #stmt(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #update(verb: string, id: number, sql: string, ...params: SQLInputValue[]): void {
    const { changes } = this.#stmt(sql).run(...params);
    if (changes === 0) throw new Error(`Cannot ${verb} order ${id}: not found`);
  }

  #change(id: number, sql: string, ...params: SQLInputValue[]): ChangeResult {
    const { changes } = this.#stmt(sql).run(...params);
    const pedido = this.get(id);
    if (pedido === null) return { status: "not_found" };
    return { status: changes === 0 ? "refused" : "changed", pedido };
  }
}

/**
 * The `WHERE` clauses of LISTAR's filters other than `cliente`, and their
 * bound values in order. Only constant fragments: every value is bound.
 */
function filterClauses(filter: ListFilter): { where: string[]; params: SQLInputValue[] } {
  const where: string[] = [];
  const params: SQLInputValue[] = [];
  if (filter.estado !== undefined) {
    where.push("estado = ?");
    params.push(filter.estado);
  }
  if (filter.antesDe !== undefined) {
    where.push("id < ?");
    params.push(filter.antesDe);
  }
  if (filter.usuarioId !== undefined) {
    where.push("usuario_id = ?");
    params.push(filter.usuarioId);
  }
  return { where, params };
}

function toPedido(row: Row): Pedido {
  const { fecha_inicio, fecha_fin } = row;
  return {
    id: row.id,
    clave: row.clave,
    cliente: row.cliente,
    productos: JSON.parse(row.productos) as Producto[],
    direccion: row.direccion,
    estado: row.estado,
    fecha_recibido: row.fecha_recibido,
    fecha_inicio,
    fecha_fin,
    worker: row.worker,
    intentos: row.intentos,
    detalle_error: row.detalle_error,
    resultado: row.resultado === null ? null : JSON.parse(row.resultado),
    duracion_ms: fecha_inicio !== null && fecha_fin !== null
      ? Date.parse(fecha_fin) - Date.parse(fecha_inicio)
      : null,
  };
}

function checkReadableVersion(db: DatabaseSync): void {
  const version = schemaVersion(db);
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `its schema version ${version} is newer than version ${SCHEMA_VERSION} known to this program`,
    );
  }
  if (version < 1) throw new Error("it has no orders table (schema version 0)");
}

/**
 * Refuses a file this process may not write (mode 444, another owner,
 * `chattr +i`): SQLite then opens it read-only without a word (and lets
 * `BEGIN IMMEDIATE` pass), so a daemon would start and answer every order
 * `internal`. A write that is rolled back meets the refusal; nothing is
 * written. Skipped while another process holds the write lock (the writes
 * wait their turn then, as documented).
 */
function checkWritable(db: DatabaseSync): void {
  try {
    db.exec("BEGIN IMMEDIATE");
  } catch (error) {
    if (error instanceof Error && /^database (table )?is locked\b/.test(error.message)) return;
    throw error;
  }
  try {
    // Prepared, not exec'd: its error then carries SQLite's code, which
    // explainOpenFailure turns into "file is not writable".
    db.prepare(`PRAGMA user_version = ${SCHEMA_VERSION}`).run();
  } finally {
    db.exec("ROLLBACK");
  }
}

/** {@linkcode SqliteDatabase.reclaimWal} on a connection. */
function reclaimWal(db: DatabaseSync): boolean {
  try {
    const done = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as
      | { busy: number }
      | undefined;
    return done?.busy === 0;
  } catch {
    return false; // the disk is still full, or the database is not in WAL mode
  }
}
