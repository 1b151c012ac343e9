import assert from "node:assert/strict";
import postgres from "postgres";
import { freshDatabase, pgTest } from "../../../tests/postgres_util.ts";
import { PostgresWriter, WRITE_AGAIN, type WriteKind } from "./postgres_writer.ts";

pgTest({
  name:
    "PostgresWriter: a write that asks to be written again goes in a later batch, and fails after three tries",
  async fn() {
    await using db = await freshDatabase();
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    const writer = new PostgresWriter({
      sql,
      nodeId: "nodo-a",
      onCommit: () => {},
      unavailable: (_what, error) => error as Error,
    });
    const batches: string[][] = [];
    // "once" asks again the first time it is written; "always" every time.
    const tries = new Map<string, number>();
    const kind: WriteKind<string, string> = {
      name: "test",
      async apply(ctx, args) {
        await ctx.query("SELECT 1", []);
        batches.push([...args]);
        return args.map((arg) => {
          const n = (tries.get(arg) ?? 0) + 1;
          tries.set(arg, n);
          if (arg === "always" || (arg === "once" && n === 1)) return WRITE_AGAIN;
          return `${arg} written`;
        });
      },
    };
    try {
      const [once, plain, always] = [
        writer.write(kind, "once"),
        writer.write(kind, "plain"),
        writer.write(kind, "always").catch((error: Error) => error),
      ];
      assert.equal(await once, "once written");
      assert.equal(await plain, "plain written");
      const failed = await always;
      assert.ok(failed instanceof Error && /tried 3 times/.test(failed.message), String(failed));
      assert.deepEqual(batches[0], ["once", "plain", "always"]);
      assert.deepEqual(batches[1], ["once", "always"], "asked again: in the next batch, in order");
      assert.equal(tries.get("always"), 4, "written once, then three times again");
      await writer.flush();
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});
