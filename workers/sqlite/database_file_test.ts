import assert from "node:assert/strict";
import { DatabaseFile, DatabaseFileGoneError } from "./database_file.ts";
import { testWith } from "../../tests/permissions.ts";

testWith("write")(
  "DatabaseFile.check() passes while the path names the file, throws when it was deleted or replaced, and says when its WAL is gone",
  () => {
    const dir = Deno.makeTempDirSync();
    try {
      const path = `${dir}/p.db`;
      Deno.writeTextFileSync(path, "db");
      Deno.writeTextFileSync(`${path}-wal`, "wal");
      // Held open, as SQLite holds them: a deleted file's inode is not reused meanwhile.
      using _db = Deno.openSync(path);
      using _wal = Deno.openSync(`${path}-wal`);
      const file = DatabaseFile.watch(path)!;
      assert.equal(file.check(), "ok");
      Deno.writeTextFileSync(path, "written in place: the same file");
      assert.equal(file.check(), "ok");

      Deno.removeSync(`${path}-wal`);
      assert.equal(file.check(), "wal_gone", "the WAL deleted: what it held must be checkpointed");
      Deno.writeTextFileSync(`${path}-wal`, "a new one");
      assert.equal(file.check(), "wal_gone", "another WAL is not the one written to");

      Deno.renameSync(path, `${path}.old`);
      Deno.writeTextFileSync(path, "another file at the path");
      assert.throws(
        () => file.check(),
        (e) => e instanceof DatabaseFileGoneError && /was replaced/.test(e.message),
      );
      Deno.removeSync(path);
      assert.throws(() => file.check(), /was deleted/);
      assert.equal(DatabaseFile.watch(":memory:"), null);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);
