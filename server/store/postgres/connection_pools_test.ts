import assert from "node:assert/strict";
import { freshDatabase, pgTest, storeDriverOptions } from "../../../tests/postgres_util.ts";
import { ConnectionPools } from "./connection_pools.ts";
import { isConnectionError } from "./postgres_errors.ts";

/** Pools on the database at `url`, as the store sets them up, and the ids of the main pool's connections closed. */
function openPools(url: string, options: { retireS?: number } = {}) {
  const driver = storeDriverOptions(url);
  const closed: number[] = [];
  const pools = new ConnectionPools({
    main: { ...driver, onclose: (id: number) => closed.push(id) },
    fast: { ...driver, max: 1 },
    ...options,
  });
  return { pools, closed };
}

/** The backend process id of a connection of `sql`. */
async function backendPid(sql: ConnectionPools["main"]): Promise<number> {
  return (await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
}

pgTest({
  name:
    "ConnectionPools.replace(): new work goes to new connections, what ran on the old ones finishes, and their closes are still reported",
  async fn() {
    await using db = await freshDatabase();
    const { pools, closed } = openPools(db.url, { retireS: 5 });
    try {
      const pid = (sql = pools.main) => backendPid(sql);
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
      // Its connection has closed, and says so: what still waited on it would hear it.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(closed.length, 1, "the retired pool's connection");
      const retired = closed[0];
      await pools.end(1);
      assert.ok(closed.length >= 2, "the pool in use reports its closes");
      assert.ok(closed.slice(1).every((id) => id !== retired), "each connection is named once");
    } finally {
      await pools.end(1);
    }
  },
});

pgTest({
  name:
    "ConnectionPools.single(): a client of its own, apart from the pools, whose close the pools' onclose does not hear",
  async fn() {
    await using db = await freshDatabase();
    const { pools, closed } = openPools(db.url);
    try {
      const main = await backendPid(pools.main);
      const single = pools.single();
      assert.notEqual(await backendPid(single), main, "a connection of its own");
      await single.end({ timeout: 0 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(closed, [], "its close is not one of the pools'");
      assert.equal(await backendPid(pools.main), main, "the pool goes on as it was");
    } finally {
      await pools.end(1);
    }
  },
});
