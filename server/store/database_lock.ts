/**
 * The lock that keeps a second daemon off a SQLite file, under any name it
 * is given: an exclusive advisory lock (`flock`) on `<path>.lock` beside
 * the file's real path (created if needed, and removed only by a start that
 * created it and then could not open the database), and, when the
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
 * A database file not there yet is created here, empty, readable and
 * writable by its owner only (0600, before the umask), and so is the lock
 * file: SQLite gives the WAL and shared-memory files the mode of the
 * database file, and these files hold the orders and the accounts' password
 * hashes, which other users of the machine have no business reading (with
 * the usual umask 022 SQLite would have made them readable by all). A lock
 * file readable by others could also be locked by them, keeping the daemon
 * from starting. Files already there keep their mode: the operator's.
 *
 * @module
 */

import { fileIdentity, realDatabasePath } from "../../workers/sqlite/database_file.ts";

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

/**
 * The database files this process holds, by device and inode. Another store
 * of this process asking for one of them (by another name) is refused
 * without opening it: opening and closing a descriptor of the file would
 * drop every POSIX lock SQLite holds on it here.
 */
const heldHere = new Set<string>();

/** The device and inode of the file at `path`, as a key, or null when there is none. */
function fileKey(path: string): string | null {
  const identity = fileIdentity(path);
  return identity === null ? null : `${identity.dev}:${identity.ino}`;
}

/** The locks of one database, held until {@linkcode DatabaseLock.close}. */
export class DatabaseLock {
  readonly #path: string;
  readonly #real: string;
  readonly #files: Deno.FsFile[];
  #key: string | null;
  /** The files this lock created (the lock file, the empty database file). */
  readonly #created: string[];

  constructor(
    path: string,
    real: string,
    files: Deno.FsFile[],
    key: string | null,
    created: string[] = [],
  ) {
    this.#path = path;
    this.#real = real;
    this.#files = files;
    this.#key = key;
    this.#created = created;
  }

  /**
   * Locks the database file itself, once it exists: call it after creating
   * the database (a hard link to it can be made only from then on).
   *
   * @throws {DatabaseInUseError} when another process, or another store of
   * this one, holds it.
   */
  holdFile(): void {
    if (this.#key !== null) return;
    const key = fileKey(this.#real);
    if (key === null) return; // still not there (`:memory:` aside, not expected)
    if (heldHere.has(key)) throw inUseUnderAnotherName(this.#path, this.#real);
    const own = tryLock(this.#real, { read: true });
    if (own === null) throw inUseUnderAnotherName(this.#path, this.#real);
    this.#files.unshift(own);
    this.#key = key;
    heldHere.add(key);
  }

  /**
   * Lets the database go after it could not be opened: as {@linkcode close},
   * and the lock file and empty database file this lock created are removed
   * first, while still held, so that a failed start (a directory, a file
   * that is not a database) leaves nothing behind. Another start that opened the same lock file meanwhile
   * would still meet the lock on the database file itself.
   */
  discard(): void {
    for (const file of this.#created) {
      try {
        Deno.removeSync(file);
      } catch {
        // Gone already, or not ours to remove: an empty file is harmless.
      }
    }
    this.close();
  }

  /** Lets the database go (after its SQLite connections have closed). */
  close(): void {
    if (this.#key !== null) heldHere.delete(this.#key);
    this.#key = null;
    for (const file of this.#files.splice(0)) {
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

/** Readable and writable by the owner only. */
const PRIVATE = 0o600;

/**
 * Creates an empty database file with mode {@linkcode PRIVATE} (SQLite
 * takes a file of no bytes for a new database).
 *
 * @returns false when a file is there already (made meanwhile by another
 * start, which the locks then sort out).
 */
function createEmpty(path: string): boolean {
  try {
    Deno.openSync(path, { write: true, createNew: true, mode: PRIVATE }).close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
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
 * @throws {DatabaseInUseError} when one is held elsewhere;
 * {@linkcode SpecialFileError} for a FIFO, a device or a socket; the file
 * system's error when the lock file cannot be opened.
 */
export function lockDatabase(path: string): DatabaseLock {
  const real = realDatabasePath(path);
  refuseSpecialFile(path, real);
  const lockFile = `${real}.lock`;
  const created = fileIdentity(lockFile) === null ? [lockFile] : [];
  const lock = tryLock(lockFile, { read: true, write: true, create: true, mode: PRIVATE });
  if (lock === null) throw new DatabaseInUseError(path, `lock file "${lockFile}" is held`);
  let key: string | null;
  let own: Deno.FsFile | null;
  try {
    key = fileKey(real);
    if (key === null && createEmpty(real)) {
      created.push(real);
      key = fileKey(real);
    }
    // Still not there: SQLite creates it, then DatabaseLock.holdFile().
    if (key === null) return new DatabaseLock(path, real, [lock], null, created);
    own = heldHere.has(key) ? null : tryLock(real, { read: true });
  } catch (error) {
    lock.close();
    throw error;
  }
  if (own === null) {
    lock.close();
    throw inUseUnderAnotherName(path, real);
  }
  heldHere.add(key);
  return new DatabaseLock(path, real, [own, lock], key, created);
}

/**
 * Refuses a path that names a FIFO, a device or a socket: opening a FIFO to
 * lock it would block the start for good (signals unheard), and a device
 * such as /dev/null would swallow what SQLite writes. Directories and
 * missing files are left to SQLite, whose failure is explained.
 *
 * @throws {SpecialFileError} `Cannot open database "PATH": it is not a regular file (a FIFO)`.
 */
function refuseSpecialFile(path: string, real: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(real);
  } catch {
    return; // not there (or not to be looked at): opening it will say why
  }
  if (info.isFile || info.isDirectory) return;
  const kind = info.isFifo
    ? "a FIFO"
    : info.isCharDevice || info.isBlockDevice
    ? "a device"
    : info.isSocket
    ? "a socket"
    : "not a file";
  throw new SpecialFileError(`Cannot open database "${path}": it is not a regular file (${kind})`);
}

/** The database's path names a FIFO, a device or a socket (see lockDatabase). */
export class SpecialFileError extends Error {
  override name = "SpecialFileError";
}

/**
 * For a program that writes the database beside a running daemon without
 * taking its lock (`pedidos usuarios`): refuses a file a daemon holds under
 * another name (a hard link), whose WAL would not be the daemon's. A daemon
 * on this very name is fine: SQLite shares its WAL. Call it before opening
 * the database (it opens and closes a descriptor of the file).
 *
 * @throws {Error} naming the file, when a daemon holds it under another name.
 */
export function refuseOtherName(path: string): void {
  const real = realDatabasePath(path);
  refuseSpecialFile(path, real);
  const own = tryLock(real, { read: true });
  if (own !== null) {
    own.close(); // no daemon holds the file
    return;
  }
  const lockFile = `${real}.lock`;
  let lock: Deno.FsFile | null = null;
  try {
    lock = tryLock(lockFile, { read: true, write: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (lock === null && fileKey(lockFile) !== null) return; // held: a daemon on this name
  lock?.close();
  throw new Error(
    `Cannot open database "${path}": a pedidos daemon holds this file under another name ` +
      "(a hard link); use the name the daemon was given",
  );
}
