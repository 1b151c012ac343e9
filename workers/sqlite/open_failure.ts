/**
 * Why a SQLite database could not be opened, in words: SQLite says only
 * "unable to open database file", so this looks at the path (does the
 * directory exist, is it writable, is it a directory) and names the cause.
 * Runs only when opening failed.
 *
 * @module
 */

/** SQLite primary result codes that mean "the file system said no". */
const OPEN_FAILURES = new Set([8, /* READONLY */ 10, /* IOERR */ 14 /* CANTOPEN */]);

/**
 * Turns SQLite's terse "unable to open database file" into a reason by
 * looking at the path. Runs only when opening failed.
 */
export function explainOpenFailure(path: string, readOnly: boolean, error: unknown): string {
  const message = reasonOf(error);
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  // The constructor's error (and exec's) carries no errcode, only the message.
  const fromFileSystem = typeof errcode === "number"
    ? OPEN_FAILURES.has(errcode & 0xff)
    : /unable to open database file|attempt to write a readonly database/.test(message);
  if (!fromFileSystem) return message;
  if (path === ":memory:" || path === "") return message;
  try {
    const dir = parentDir(path);
    const dirInfo = statOrNull(dir);
    if (dirInfo === null) return "directory does not exist";
    if (!dirInfo.isDirectory) return `"${dir}" is not a directory`;
    const fileInfo = statOrNull(path);
    if (fileInfo === null) {
      return readOnly ? "file does not exist" : notWritable(dir, "directory") ?? message;
    }
    if (fileInfo.isDirectory) return "it is a directory";
    // WAL mode needs the directory too, for the -wal and -shm files.
    if (!readOnly) return notWritable(path, "file") ?? notWritable(dir, "directory") ?? message;
  } catch {
    // Not allowed to look (Deno permissions): SQLite's message will do.
  }
  return message;
}

/**
 * The directory part of a path, like `node:path` `dirname` for the paths a
 * database has (not imported: in the writer worker it would load Node's
 * compatibility layer, about 1 MB, for this one error message).
 */
function parentDir(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const at = trimmed.lastIndexOf("/");
  if (at < 0) return ".";
  return at === 0 ? "/" : trimmed.slice(0, at).replace(/\/+$/, "") || "/";
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Probes by opening for writing (a file) or creating a temp file (a directory). */
function notWritable(target: string, what: "file" | "directory"): string | null {
  try {
    if (what === "file") {
      Deno.openSync(target, { write: true }).close();
    } else {
      Deno.removeSync(Deno.makeTempFileSync({ dir: target, prefix: ".pedidos-probe-" }));
    }
    return null;
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied) return `${what} is not writable`;
    if (error instanceof Error && /read-only file system/i.test(error.message)) {
      return `${what} is on a read-only file system`;
    }
    throw error;
  }
}

/** The reason part of an error: `Cannot x: reason` gives `reason`. */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^Cannot [^:]*: /, "");
}
