/**
 * The lock that keeps a second daemon off a SQLite file, under any name it
 * is given: an exclusive advisory lock (`flock`) on `<path>.lock` beside
 * the file's real path (created if needed, never removed), and, when the
 * database exists, on the database file itself. The first catches a second
 * daemon given the file by a symbolic link or another relative path; the
 * second, one given it by a hard link (another name of the same file, whose
 * lock file and WAL would be others: two writers, each with its own log, and
 * acknowledged orders lost). Locks go with the process, even on SIGKILL.
 *
 * `flock` locks do not touch SQLite's own (POSIX `fcntl`) locks. But
 * closing any descriptor of the database file drops every `fcntl` lock this
 * process holds on it, so the lock is closed only after SQLite's
 * connections are.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/** Another process (or another store in this one) holds the database's lock. */
export class DatabaseInUseError extends Error {
  /**
   * @param path The database as given.
   * @param held What is locked: its lock file, or (a second name of the
   * same file) the database file itself.
   */
  constructor(path: string, held = `lock file "${path}.lock" is held`) {
    super(
      `Cannot open database "${path}": it is in use by another process ` +
        `(${held}; is another pedidos daemon running on it?)`,
    );
    this.name = "DatabaseInUseError";
  }
}

/** The locks of one database, held until {@linkcode DatabaseLock.close}. */
export class DatabaseLock {
  readonly #path: string;
  readonly #real: string;
  readonly #files: Deno.FsFile[];
  #holdsFile: boolean;

  constructor(path: string, real: string, files: Deno.FsFile[], holdsFile: boolean) {
    this.#path = path;
    this.#real = real;
    this.#files = files;
    this.#holdsFile = holdsFile;
  }

  /**
   * Locks the database file itself, once it exists: call it after creating
   * the database (a hard link to it can be made only from then on).
   *
   * @throws {DatabaseInUseError} when another process holds it.
   */
  holdFile(): void {
    if (this.#holdsFile) return;
    const own = tryLock(this.#real, { read: true });
    if (own === null) throw inUseUnderAnotherName(this.#path, this.#real);
    this.#files.unshift(own);
    this.#holdsFile = true;
  }

  /** Lets the database go (after its SQLite connections have closed). */
  close(): void {
    for (const file of this.#files) {
      try {
        file.close();
      } catch {
        // already closed
      }
    }
  }
}

function inUseUnderAnotherName(path: string, real: string): DatabaseInUseError {
  return new DatabaseInUseError(path, `the file "${real}" is locked, under another name`);
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

function tryLock(path: string, options: Deno.OpenOptions): Deno.FsFile | null {
  const file = Deno.openSync(path, options);
  let locked = false;
  try {
    locked = file.tryLockSync(true);
  } finally {
    if (!locked) file.close();
  }
  return locked ? file : null;
}

/**
 * Takes the database's locks without waiting.
 *
 * @throws {DatabaseInUseError} when one is held elsewhere; the file system's
 * error when the lock file cannot be opened.
 */
export function lockDatabase(path: string): DatabaseLock {
  const real = realDatabasePath(path);
  const lockFile = `${real}.lock`;
  const lock = tryLock(lockFile, { read: true, write: true, create: true });
  if (lock === null) throw new DatabaseInUseError(path, `lock file "${lockFile}" is held`);
  let own: Deno.FsFile | null;
  try {
    own = tryLock(real, { read: true });
  } catch (error) {
    // Not created yet: SQLite creates it, then DatabaseLock.holdFile().
    if (error instanceof Deno.errors.NotFound) return new DatabaseLock(path, real, [lock], false);
    lock.close();
    throw error;
  }
  if (own === null) {
    lock.close();
    throw inUseUnderAnotherName(path, real);
  }
  return new DatabaseLock(path, real, [own, lock], true);
}
