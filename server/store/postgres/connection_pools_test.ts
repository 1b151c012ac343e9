import assert from "node:assert/strict";
import { freshDatabase, pgTest, storeDriverOptions } from "../../../tests/postgres_util.ts";
import { ConnectionPools } from "./connection_pools.ts";
import { isConnectionError } from "./postgres_errors.ts";

pgTest({
  name:
    "ConnectionPools.replace(): new work goes to new connections, what ran on the old ones finishes, and their closes are not reported",
  async fn() {
    await using db = await freshDatabase();
    const driver = storeDriverOptions(db.url);
    let closes = 0;
    const pools = new ConnectionPools({
      main: { ...driver, onclose: () => closes++ },
      fast: { ...driver, max: 1 },
      retireS: 5,
    });
    try {
      const pid = async (sql = pools.main) =>
        (await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
      const before = await pid();
      const old = pools.main;
      const running = old`SELECT pg_sleep(0.3), 'done' AS status`.execute();
      // Sent before the pools are replaced: it is on its way to the old connection.
      await new Promise((resolve) => setTimeout(resolve, 50));
      pools.replace();
      assert.equal(pools.replaced, 1);
      assert.notEqual(pools.main, old);
      const after = await pid();
      assert.notEqual(after, before, "a new connection");
      assert.equal((await running)[0]!.status, "done", "what ran on the old pool finished");
      // The retired pool takes no more work, and says so as a lost connection.
      await assert.rejects(
        old`SELECT 1`.execute(),
        (error) => isConnectionError(error),
      );
      assert.equal(await pid(pools.fast) > 0, true);
      // Its connections have closed: none of that reaches onclose.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(closes, 0);
    } finally {
      await pools.end(1);
    }
    assert.ok(closes >= 1, "the pool in use reports its closes");
  },
});
