/**
 * `pedidos usuarios`: gives an account the `operador` role, or takes it
 * back, in the store that `--db` names (the daemon's setting, read the same
 * way: flag > `PEDIDOS_DB` > env file > default).
 *
 * A SQLite database is written directly, with one short `UPDATE` in its own
 * transaction, whether or not a daemon runs on it: the daemon's lock file
 * (`<db>.lock`) is left alone, SQLite's own locking serialises the write
 * with the daemon's writer (each waits at most 5 s for the other), and WAL
 * mode lets the daemon's reads go on meanwhile. The daemon reads roles at
 * every request, so the change applies to live sessions at once. Any other
 * store (a `postgres://` URL) is opened through the store seam.
 *
 * @module
 */

import {
  ConfigError,
  type ConfigSources,
  formatUsage,
  resolveConfig,
  withoutPositionalAdvice,
} from "../config/settings.ts";
import { SERVER_SETTINGS } from "../config/server_config.ts";
import { openStore } from "../store/open_store.ts";
import type { Rol } from "../store/store.ts";
import { SqliteDatabase } from "../../workers/sqlite/sqlite_database.ts";
import { refuseOtherName } from "../store/database_lock.ts";
import { DatabaseSync } from "node:sqlite";
import { explainOpenFailure } from "../../workers/sqlite/open_failure.ts";

/** The usage text of `pedidos usuarios`. */
export const USUARIOS_USAGE: string = formatUsage(
  "Usage: pedidos usuarios operador NOMBRE   give NOMBRE the operador role (sees every order, the Panel)\n" +
    "       pedidos usuarios usuario NOMBRE    take it back (NOMBRE sees only its own orders)\n\n" +
    "Writes to the store of --db; safe while a daemon runs on it.\n" +
    "Exit status: 0 done, 1 no account has that name, 2 bad usage or the store cannot be opened.",
  {
    db: {
      ...SERVER_SETTINGS.db,
      // `:memory:` lives only inside a running daemon: nothing here to write.
      help: "the daemon's SQLite file or postgres://USER[:PASS]@HOST[:PORT]/DB",
    },
  },
);

/** The outside world of {@linkcode runUsuariosCommand}; tests replace it. */
export interface UsuariosIo {
  /** Writes one line for people. @default {console.log} */
  out?: (line: string) => void;
  /** Writes one line about a problem. @default {console.error} */
  err?: (line: string) => void;
  /** Where the environment and env file are read. @default {the real ones} */
  sources?: ConfigSources;
}

const ROLES: Record<string, Rol> = { operador: "operador", usuario: "usuario" };

/**
 * Sets the role of account `usuario` (name compared ignoring ASCII case).
 *
 * @param db `--db`: a SQLite file, or a URL of another store.
 * @param usuario The account's name.
 * @param rol The new role.
 * @returns false when no account has that name.
 * @throws {Error} When the store cannot be opened or written (a SQLite file
 * that does not exist, `:memory:`, a write lock held for more than 5 s).
 */
export async function setAccountRole(db: string, usuario: string, rol: Rol): Promise<boolean> {
  // Names are stored composed (NFC), as the daemon does: "josé" typed with a
  // combining accent (a macOS file name, a paste) is the same account.
  usuario = usuario.normalize("NFC");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(db)) {
    await using store = await openStore({ db });
    return await changing(usuario, () => store.setRole(usuario, rol));
  }
  if (db === ":memory:") {
    throw new Error('Cannot open database ":memory:": it lives only inside a running daemon');
  }
  try {
    Deno.statSync(db);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot open database "${db}": file does not exist`);
    }
    throw error;
  }
  refuseOtherName(db);
  refuseForeignDatabase(db);
  using database = SqliteDatabase.open(db);
  return await changing(usuario, () => database.setRole(usuario, rol));
}

/**
 * `change()`, whose failure says what could not be done in the user's terms:
 * a store names its own method ("Cannot setRole: the database is
 * unavailable"), SQLite only the cause ("database is locked").
 */
async function changing<T>(usuario: string, change: () => T | Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const reason = message.replace(/^Cannot setRole: /, "");
    throw new Error(`Cannot change the role of "${usuario}": ${reason}`, { cause: error });
  }
}

/**
 * Refuses a file that is not a pedidos database (a mistyped `--db`: another
 * program's SQLite file, an empty file), which opening it as the store would
 * fill with pedidos' tables. Reads only: a pedidos database has a schema
 * version (`PRAGMA user_version` ≥ 1) and a `pedidos` table.
 *
 * @throws {Error} Naming the file, when it is not one (or not SQLite at all).
 */
function refuseForeignDatabase(db: string): void {
  let version: unknown;
  let table: unknown;
  let probe: DatabaseSync | undefined;
  try {
    probe = new DatabaseSync(db);
    version = probe.prepare("PRAGMA user_version").get()?.user_version;
    table = probe
      .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'pedidos'")
      .get();
  } catch (error) {
    // As the daemon says it: the file, and why (a directory, not SQLite, …).
    throw new Error(`Cannot open database "${db}": ${explainOpenFailure(db, false, error)}`, {
      cause: error,
    });
  } finally {
    if (probe?.isOpen) probe.close();
  }
  if (typeof version !== "number" || version < 1 || table === undefined) {
    throw new Error(
      `"${db}" is not a pedidos database (no pedidos tables in it): left as it was; check --db`,
    );
  }
}

/**
 * Runs `pedidos usuarios ACCION NOMBRE [--db PATH] [--env-file FILE]`.
 *
 * @param args The arguments after `usuarios`.
 * @param io Where lines go, and the configuration sources.
 * @returns The exit status: 0 done, 1 unknown account, 2 bad usage or store.
 */
export async function runUsuariosCommand(args: string[], io: UsuariosIo = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  let resolved;
  try {
    resolved = resolveConfig(args, { db: SERVER_SETTINGS.db }, {
      ...io.sources,
      allowPositionals: true,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(`pedidos usuarios: ${withoutPositionalAdvice(error.message)}\n\n${USUARIOS_USAGE}`);
    return 2;
  }
  if (resolved.help) {
    out(USUARIOS_USAGE);
    return 0;
  }
  const [accion = "", usuario = "", ...extra] = resolved.positionals;
  const rol = Object.hasOwn(ROLES, accion) ? ROLES[accion] : undefined;
  if (rol === undefined || usuario === "" || extra.length > 0) {
    err(`pedidos usuarios: expected "operador NOMBRE" or "usuario NOMBRE"\n\n${USUARIOS_USAGE}`);
    return 2;
  }
  const { db } = resolved.config;
  let found: boolean;
  try {
    found = await setAccountRole(db, usuario, rol);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    err(`pedidos usuarios: ${message.replaceAll(db, shown(db))}`);
    return 2;
  }
  if (!found) {
    err(`pedidos usuarios: no account named "${usuario}" in ${shown(db)}`);
    return 1;
  }
  out(
    rol === "operador"
      ? `✅ ${usuario} es operador: ve todos los pedidos y el Panel.`
      : `✅ ${usuario} es usuario: ve solo sus pedidos.`,
  );
  return 0;
}

/** `db` for people: a URL without its password. */
function shown(db: string): string {
  return db.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, "$1@");
}
