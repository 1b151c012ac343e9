import assert from "node:assert/strict";
import { DatabaseFile, DatabaseFileGoneError } from "./database_file.ts";

Deno.test("DatabaseFile.check() passes while the path names the file, and says when it was deleted, replaced or lost its WAL", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/p.db`;
    Deno.writeTextFileSync(path, "db");
    Deno.writeTextFileSync(`${path}-wal`, "wal");
    // Held open, as SQLite holds them: a deleted file's inode is not reused meanwhile.
    using _db = Deno.openSync(path);
    using _wal = Deno.openSync(`${path}-wal`);
    const file = DatabaseFile.watch(path)!;
    file.check();
    Deno.writeTextFileSync(path, "written in place: the same file");
    file.check();

    Deno.removeSync(`${path}-wal`);
    assert.throws(
      () => file.check(),
      (e) => e instanceof DatabaseFileGoneError && /-wal/.test(e.message),
    );
    Deno.writeTextFileSync(`${path}-wal`, "a new one");
    assert.throws(() => file.check(), DatabaseFileGoneError, "another WAL is not ours either");

    Deno.renameSync(path, `${path}.old`);
    Deno.writeTextFileSync(path, "another file at the path");
    assert.throws(() => file.check(), /was replaced/);
    Deno.removeSync(path);
    assert.throws(() => file.check(), /was deleted/);
    assert.equal(DatabaseFile.watch(":memory:"), null);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
