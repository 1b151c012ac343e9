/**
 * Whether the database file the writer has open is still the one its path
 * names. Deleted (`rm pedidos.db*`) or replaced while the daemon runs, the
 * open file lives on unseen: commits still succeed, into a file no one will
 * open again, and the orders they acknowledged are gone at the next start
 * (their ids and claves then given to other orders). The writer checks
 * after each commit and answers that commit's writes with an error instead.
 *
 * A deleted WAL alone is mended: the commits in it are still in the open
 * (deleted) WAL file, and a checkpoint copies them into the database file,
 * which is still there. While the WAL stays gone, every commit is followed
 * by a checkpoint (slower, and as durable).
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/** The database's file (or its WAL) is no longer at its path. */
export class DatabaseFileGoneError extends Error {
  constructor(path: string, what: string) {
    super(
      `Cannot write to database "${path}": ${what} while the daemon ran; ` +
        "nothing written since is kept. Restore it (or move it back) and restart the daemon",
    );
    this.name = "DatabaseFileGoneError";
  }
}

/** Which file a path names: its device and inode. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/** The identity of the file at `path`, or null when there is none (or it cannot be told). */
export function fileIdentity(path: string): FileIdentity | null {
  try {
    const { dev, ino } = Deno.statSync(path);
    return ino === null ? null : { dev, ino };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * `path` with every symbolic link resolved: the file's own real path, or,
 * for a file not created yet, its directory's real path and its name.
 */
export function realDatabasePath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    return join(Deno.realPathSync(dirname(path)), basename(path));
  } catch {
    return path; // no such directory: opening it will say so
  }
}

/** The identity of a database file and of its WAL, checked against their paths. */
export class DatabaseFile {
  readonly #path: string;
  readonly #file: FileIdentity;
  #wal: FileIdentity | null;

  /** Where SQLite keeps the WAL: beside the file's real path (a symbolic link resolved). */
  readonly #walPath: string;

  private constructor(path: string, file: FileIdentity) {
    this.#path = path;
    this.#file = file;
    this.#walPath = `${realDatabasePath(path)}-wal`;
    this.#wal = fileIdentity(this.#walPath);
  }

  /** Notes the file at `path` as it is now; null for `:memory:` or where it cannot be told. */
  static watch(path: string): DatabaseFile | null {
    if (path === ":memory:") return null;
    const file = fileIdentity(path);
    return file === null ? null : new DatabaseFile(path, file);
  }

  /**
   * @returns `"wal_gone"` when the WAL seen before is gone or another (the
   * commits since are only in the open, deleted one: checkpoint them), else
   * `"ok"`.
   * @throws {DatabaseFileGoneError} when the path names no file or another one.
   */
  check(): "ok" | "wal_gone" {
    const file = fileIdentity(this.#path);
    if (file === null) throw new DatabaseFileGoneError(this.#path, "its file was deleted");
    if (file.ino !== this.#file.ino || file.dev !== this.#file.dev) {
      throw new DatabaseFileGoneError(this.#path, "its file was replaced by another");
    }
    const wal = fileIdentity(this.#walPath);
    if (this.#wal === null) {
      this.#wal = wal;
      return "ok";
    }
    if (wal === null || wal.ino !== this.#wal.ino || wal.dev !== this.#wal.dev) return "wal_gone";
    return "ok";
  }
}
