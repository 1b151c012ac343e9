/**
 * The lock that keeps a second daemon off a SQLite file: an exclusive
 * advisory lock on `<path>.lock` beside it (created if needed, never
 * removed). The lock goes with the process, even on SIGKILL.
 *
 * @module
 */

/** Another process (or another store in this one) holds the database's lock file. */
export class DatabaseInUseError extends Error {
  constructor(path: string) {
    super(
      `Cannot open database "${path}": it is in use by another process ` +
        `(lock file "${path}.lock" is held; is another pedidos daemon running on it?)`,
    );
    this.name = "DatabaseInUseError";
  }
}

/**
 * Takes the exclusive lock on `<path>.lock` without waiting.
 *
 * @throws {DatabaseInUseError} when it is held elsewhere; the file system's
 * error when the lock file cannot be opened.
 */
export function lockDatabase(path: string): Deno.FsFile {
  const file = Deno.openSync(`${path}.lock`, { read: true, write: true, create: true });
  let locked = false;
  try {
    locked = file.tryLockSync(true);
  } finally {
    if (!locked) file.close();
  }
  if (!locked) throw new DatabaseInUseError(path);
  return file;
}
