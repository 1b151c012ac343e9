import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import postgres from "postgres";
import { freshDatabase, PG_SERVER, pgTest } from "../../../tests/postgres_util.ts";
import { TcpProxy } from "../../../tests/tcp_proxy.ts";
import { waitUntil } from "../../../tests/test_util.ts";
import { StoreUnavailableError } from "../store_unavailable_error.ts";
import { orderWrites } from "./order_writes.ts";
import { CAPACITY_LOCK, migrate } from "./postgres_schema.ts";
import { PostgresWriter, type PostgresWriterOptions, type WriteKind } from "./postgres_writer.ts";

/** A write whose transaction takes `seconds` in the database. */
function slow(seconds: number): WriteKind<null, string> {
  return {
    name: "sleep",
    async apply(ctx, args) {
      await ctx.query(`SELECT pg_sleep(${seconds})`, []);
      return args.map(() => "done");
    },
  };
}

/** A write of one short statement, answering with its argument. */
const QUICK: WriteKind<number, number> = {
  name: "quick",
  async apply(ctx, args) {
    await ctx.query("SELECT 1", []);
    return args;
  },
};

/** A writer on `sql` that notes nothing: a lost connection is `unavailable: <what>`. */
function writerOn(
  sql: PostgresWriterOptions["sql"],
  options: Partial<PostgresWriterOptions> = {},
): PostgresWriter {
  return new PostgresWriter({
    sql,
    onCommit: () => {},
    unavailable: (what, error) => new Error(`unavailable: ${what}`, { cause: error }),
    ...options,
  });
}

pgTest({
  name:
    "a pool connection closed while idle does not cut short a slow commit on another connection",
  async fn() {
    await using db = await freshDatabase();
    let closes = 0;
    let writer: PostgresWriter | null = null;
    // Connections idle for a second are closed, as the store's are after ten.
    const sql = postgres(db.url, {
      max: 3,
      idle_timeout: 1,
      onnotice: () => {},
      onclose: (id: number) => {
        closes++;
        writer?.connectionClosed(id);
      },
    });
    try {
      writer = writerOn(() => sql);
      // Two connections open, then idle: one carries the write, the other closes meanwhile.
      await Promise.all([sql`SELECT pg_sleep(0.05)`, sql`SELECT pg_sleep(0.05)`]);
      const result = await writer.write(slow(3), null);
      assert.equal(result, "done", "committed, not failed as if the database were gone");
      assert.ok(closes >= 1, "an idle connection closed during the commit");
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});

pgTest({
  name: "writes queued together are split into batches no larger than maxBatchBytes",
  async fn() {
    await using db = await freshDatabase();
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    try {
      const sizes: number[] = [];
      const sized: WriteKind<number, number> = {
        name: "sized",
        size: (bytes) => bytes,
        async apply(ctx, args) {
          sizes.push(args.reduce((sum, bytes) => sum + bytes, 0));
          await ctx.query("SELECT 1", []);
          return args;
        },
      };
      const writer = writerOn(() => sql, { maxBatchBytes: 250 });
      // Queued in one tick: without the bound, one transaction would carry them all.
      const writes = [100, 100, 100, 100, 1000, 100, 50, 100].map((bytes) =>
        writer.write(sized, bytes)
      );
      assert.deepEqual(await Promise.all(writes), [100, 100, 100, 100, 1000, 100, 50, 100]);
      assert.deepEqual(
        sizes,
        [200, 200, 1000, 250],
        "each batch within the bound; a larger write alone",
      );
      assert.equal(writer.stats.writes, 8);
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});

pgTest({
  name: "the writer gives its connection back once nothing waits: a pool of one serves reads again",
  async fn() {
    await using db = await freshDatabase();
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const writer = writerOn(() => sql, { deadlineMs: 5_000 });
      // Several transactions in a row (each queued while the last one runs),
      // then a read on the pool's only connection.
      const first = writer.write(QUICK, 1);
      await new Promise((resolve) => setTimeout(resolve, 0));
      const rest = [2, 3, 4].map((n) => writer.write(QUICK, n));
      assert.deepEqual(await Promise.all([first, ...rest]), [1, 2, 3, 4]);
      assert.ok(writer.stats.batches >= 2, `one batch only: ${JSON.stringify(writer.stats)}`);
      const read = sql`SELECT 42 AS answer`;
      const timeout = new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve("no connection"), 3_000);
        read.finally(() => clearTimeout(timer));
      });
      const answer = await Promise.race([read.then((rows) => rows[0]!.answer), timeout]);
      assert.equal(answer, 42);
      // And the writer goes on afterwards, reserving again.
      assert.equal(await writer.write(QUICK, 5), 5);
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});

pgTest({
  name:
    "a write that asks for a connection as the pool closes an idle one is not lost (a pause, then resume)",
  async fn() {
    await using db = await freshDatabase();
    // One connection, closed after a second idle: after a pause, every idle
    // timer is overdue, and fires just before the writes that were waiting.
    const sql = postgres(db.url, { max: 1, idle_timeout: 1, onnotice: () => {} });
    try {
      const writer = writerOn(() => sql, { deadlineMs: 6_000 });
      assert.equal(await writer.write(QUICK, 1), 1);
      // The connection is idle now, its idle timer started: this timer, due at
      // the same time and made after it, runs right after it closes the connection.
      const second = await new Promise<Promise<number>>((resolve) =>
        setTimeout(() => resolve(writer.write(QUICK, 2)), 1000)
      );
      assert.equal(await second, 2, "committed, not failed at the deadline");
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});

pgTest({
  name: "a write lost on a pool retired meanwhile fails as unavailable without noting a new outage",
  async fn() {
    await using db = await freshDatabase();
    const old = postgres(db.url, { max: 1, onnotice: () => {} });
    const fresh = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      let pool = old;
      const noted: { what: string; stale: boolean }[] = [];
      const writer = writerOn(() => pool, {
        unavailable: (what, error, stale) => {
          noted.push({ what, stale });
          return new Error(`unavailable: ${what}`, { cause: error });
        },
        deadlineMs: 1_000,
      });
      const stuck = writer.write(slow(5), null);
      stuck.catch(() => {});
      // Meanwhile the store finds the database down and moves to new connections.
      await new Promise((resolve) => setTimeout(resolve, 200));
      pool = fresh;
      await assert.rejects(stuck, /unavailable: sleep/);
      assert.deepEqual(noted, [{ what: "sleep", stale: true }]);
      // A write on the pool in use that goes unanswered is an outage to note.
      noted.length = 0;
      await assert.rejects(writer.write(slow(5), null), /unavailable: sleep/);
      assert.deepEqual(noted, [{ what: "sleep", stale: false }]);
    } finally {
      await old.end({ timeout: 0 });
      await fresh.end({ timeout: 0 });
    }
  },
});

pgTest({
  name:
    "a transaction whose connection goes silent before its COMMIT arrives is ended before its writes are answered, its capacity lock let go (not left to a server timeout)",
  async fn() {
    await using db = await freshDatabase();
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    // (Without the store's idle_in_transaction_session_timeout: the writer ends it itself.)
    const sql = postgres(proxy.through(db.url), { max: 2, onnotice: () => {} });
    const writer = writerOn(() => sql, { deadlineMs: 500 });
    try {
      await db.sql`CREATE TABLE t (n integer)`;
      const add: WriteKind<number, number> = {
        name: "add",
        checked: true,
        async apply(ctx, args) {
          await ctx.query("INSERT INTO t SELECT unnest($1::int[])", [args]);
          return args;
        },
      };
      const silent = proxy.breakAt("COMMIT -- ---", { deliver: false, freeze: true });
      await assert.rejects(writer.write(add, 1), /unavailable: add/);
      await silent;
      // Another daemon's batch takes the capacity lock at once: the silent one's is gone.
      const [row] = await db.sql.begin((tx) =>
        tx`SELECT pg_try_advisory_xact_lock(${CAPACITY_LOCK}) AS got`
      );
      assert.equal(row?.got, true, "the capacity lock is free");
      assert.deepEqual([...await db.sql`SELECT n FROM t`], [], "rolled back");
    } finally {
      await writer.close();
      await sql.end({ timeout: 1 });
    }
  },
});

pgTest({
  name:
    "a transaction answered just past its deadline gives its connection back, and the recovery never ends the other work that connection carries next",
  async fn() {
    await using db = await freshDatabase();
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    const writer = writerOn(() => sql, { deadlineMs: 500, recoverMs: 3000 });
    try {
      await Promise.all([sql`SELECT 1`, sql`SELECT 1`]); // both connections open
      // Committed at 0.8 s, past its 0.5 s deadline: its connection then goes back.
      const write = writer.write(slow(0.8), null).then(() => "answered", (e) => String(e));
      await new Promise((resolve) => setTimeout(resolve, 100));
      // The pool's other connection is busy past the deadline, so the recovery's
      // look and the next work both wait for the one given back.
      // (The driver sends a query once it is executed or awaited.)
      const busy = sql`SELECT pg_sleep(1.0)`.execute();
      await new Promise((resolve) => setTimeout(resolve, 750));
      const next = sql`SELECT pg_sleep(0.8), 'done' AS done`.execute();
      const [settled, rows] = await Promise.all([write, next, busy]);
      assert.equal(rows[0]?.done, "done", "the next work on that connection was not ended");
      assert.match(settled, /unavailable: sleep/, "the write, past its deadline, failed");
    } finally {
      await writer.close();
      await sql.end({ timeout: 1 });
    }
  },
});

/** A new order for the writer's insert kinds. */
function newOrder(cliente: string, clave: string | null = null) {
  return {
    pedido: { cliente, productos: ["pan"], direccion: "C 1", clave },
    receivedAt: new Date().toISOString(),
    owner: null,
  };
}

/** Holds the capacity lock for `seconds`, as another daemon's batch waiting for its disk would. */
function holdCapacity(sql: postgres.Sql, seconds: number): Promise<unknown> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${CAPACITY_LOCK})`;
    await tx`SELECT pg_sleep(${seconds})`;
  });
}

pgTest({
  name:
    "a new order waiting for the capacity lock on a fresh connection is not cut short when an idle connection of its pool closes",
  async fn() {
    await using db = await freshDatabase();
    await migrate(db.sql);
    await db.sql`INSERT INTO pedidos_cluster VALUES (1, 100)`;
    let writer: PostgresWriter | null = null;
    // Connections idle for a second are closed, as the store's are after ten.
    const sql = postgres(db.url, {
      max: 3,
      idle_timeout: 1,
      onnotice: () => {},
      onclose: (id: number) => writer?.connectionClosed(id),
    });
    const other = postgres(db.url, { max: 1, onnotice: () => {} });
    writer = writerOn(() => sql);
    try {
      // Two connections, then idle: one carries the order, the other closes meanwhile.
      await Promise.all([sql`SELECT pg_sleep(0.05)`, sql`SELECT pg_sleep(0.05)`]);
      const holding = holdCapacity(other, 2.5);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const result = await writer.write(
        orderWrites("nodo-a", 30_000).insertChecked,
        newOrder("Ana"),
      );
      await holding;
      assert.equal(result.status, "inserted");
    } finally {
      await writer.close();
      await sql.end({ timeout: 1 });
      await other.end({ timeout: 1 });
    }
  },
});

pgTest({
  name:
    "a new order whose connection breaks while it waits for the capacity lock, the driver reconnecting meanwhile, is never stored once answered 'nothing accepted'",
  async fn() {
    await using db = await freshDatabase();
    await migrate(db.sql);
    await db.sql`INSERT INTO pedidos_cluster VALUES (1, 100)`;
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    let writer: PostgresWriter | null = null;
    const sql = postgres(proxy.through(db.url), {
      max: 1,
      onnotice: () => {},
      onclose: (id: number) => writer?.connectionClosed(id),
    });
    const other = postgres(db.url, { max: 1, onnotice: () => {} });
    writer = writerOn(() => sql, {
      unavailable: (what, error) => new StoreUnavailableError(what, String(error)),
    });
    try {
      const holding = holdCapacity(other, 4);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const writing = writer.write(
        orderWrites("nodo-a", 30_000).insertChecked,
        newOrder("Perdida", "k-1"),
      ).then(() => null, (error) => error);
      await new Promise((resolve) => setTimeout(resolve, 400));
      // A read waits for the pool's only connection (the writer's): once that
      // one breaks, the driver opens a new one for it.
      const read = sql`SELECT 1`.execute().catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 100));
      await proxy.cut();
      proxy.open();
      const failure = await writing;
      await Promise.all([read, holding]);
      assert.ok(failure instanceof StoreUnavailableError, String(failure));
      // The database answers all along: whether it committed is known.
      assert.equal(failure.outcomeUnknown, false);
      // Its backend, had it been left, would commit once the lock is free: let it finish.
      await waitUntil(async () => {
        const [busy] = await db.sql`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'`;
        return busy?.n === 0;
      }, { timeoutMs: 5000, what: "the database's other backends idle" });
      const stored = await db.sql`SELECT id FROM pedidos`;
      assert.equal(stored.length, 0, "answered 'nothing accepted', yet stored");
    } finally {
      await writer.close();
      await sql.end({ timeout: 1 });
      await other.end({ timeout: 1 });
    }
  },
});

pgTest({
  name:
    "clients in a closed loop, one of them quicker than the rest, share one transaction per round, not a small one and then the rest",
  async fn() {
    await using db = await freshDatabase();
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    // An order's kind of write: it goes in the lane that takes the capacity lock.
    const checked: WriteKind<number, number> = { ...QUICK, name: "checked", checked: true };
    /** Writes per transaction when 8 clients each send 20 writes, client i
     * sending its next one i turns of the event loop after its last was answered. */
    const rounds = async (gatherMs: number) => {
      const writer = writerOn(() => sql, { gatherMs });
      const sizes: number[] = [];
      writer.onBatch = (batch) => sizes.push(batch.size);
      await Promise.all(Array.from({ length: 8 }, async (_, client) => {
        for (let n = 0; n < 20; n++) {
          assert.equal(await writer.write(checked, n), n);
          for (let turn = 0; turn < client; turn++) {
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      }));
      await writer.flush();
      await writer.close();
      assert.equal(sizes.reduce((sum, n) => sum + n, 0), 160);
      return sizes;
    };
    try {
      // A window much wider than the default 1 ms: the test's machine may be busy, and a wait
      // that ran out would make the next commits go without one.
      const gathered = await rounds(20);
      // The quickest client's write came during the commit: sent at once, it
      // went alone, and the other seven waited for it (batches of 1 and 7).
      const atOnce = await rounds(0);
      assert.ok(
        atOnce.length >= 35,
        `at once: two transactions a round expected, got ${JSON.stringify(atOnce)}`,
      );
      assert.ok(
        gathered.length <= 30,
        `gathered: about one transaction a round expected, got ${JSON.stringify(gathered)}`,
      );
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});

pgTest({
  name:
    "writers on their own pace do not keep paying the gather's wait: after one that ran out of time the next commit goes without it, and a closed loop gathers again",
  async fn() {
    await using db = await freshDatabase();
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    const checked: WriteKind<string, string> = {
      name: "checked",
      checked: true,
      async apply(ctx, args) {
        await ctx.query("SELECT 1", []);
        return args;
      },
    };
    // A wait long enough to tell apart from a machine's hiccup.
    const writer = writerOn(() => sql, { gatherMs: 600 });
    const batches: string[][] = [];
    const apply = checked.apply;
    checked.apply = (ctx, args) => {
      batches.push([...args]);
      return apply(ctx, args);
    };
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      // Two together, then nothing for a while: the gather after them waits
      // for writes that do not come, and runs out of time.
      await Promise.all([writer.write(checked, "a"), writer.write(checked, "b")]);
      await pause(700);
      await writer.write(checked, "c");
      // Two together again; then one at once and one 200 ms later. Had the
      // commit of the two waited for two more, f and g would share a batch.
      await Promise.all([writer.write(checked, "d"), writer.write(checked, "e")]);
      const f = writer.write(checked, "f");
      await pause(200);
      await Promise.all([f, writer.write(checked, "g")]);
      // A closed loop again: two clients, one quicker than the other.
      await Promise.all([writer.write(checked, "h"), writer.write(checked, "i")]);
      await Promise.all([
        writer.write(checked, "j"),
        pause(0).then(() => writer.write(checked, "k")),
      ]);
      await writer.flush();
      assert.deepEqual(batches, [
        ["a", "b"],
        ["c"],
        ["d", "e"],
        ["f"],
        ["g"],
        ["h", "i"],
        ["j", "k"],
      ]);
    } finally {
      await writer.close();
      await sql.end({ timeout: 1 });
    }
  },
});

pgTest({
  name:
    "a connection kept between transactions that the server ends meanwhile is dropped: the next batch goes on a new one, and the process does not crash",
  async fn() {
    await using db = await freshDatabase();
    let writer: PostgresWriter | null = null;
    let closes = 0;
    const sql = postgres(db.url, {
      max: 2,
      onnotice: () => {},
      onclose: (id: number) => {
        closes++;
        writer?.connectionClosed(id);
      },
    });
    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    const checked: WriteKind<number, number> = { ...QUICK, name: "checked", checked: true };
    try {
      // A long gather: after its first commit the lane keeps its connection, waiting.
      writer = writerOn(() => sql, { gatherMs: 10_000 });
      assert.deepEqual(
        await Promise.all([writer.write(checked, 1), writer.write(checked, 2)]),
        [1, 2],
      );
      // Its backend ended by the server while the lane keeps it.
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()`;
      await waitUntil(() => closes >= 1, { timeoutMs: 5_000 });
      // Two more writes end the gather: they are committed on a new connection.
      assert.deepEqual(
        await Promise.all([writer.write(checked, 3), writer.write(checked, 4)]),
        [3, 4],
      );
      await writer.flush();
    } finally {
      await writer?.close();
      await admin.end({ timeout: 1 });
      await sql.end({ timeout: 1 });
    }
  },
});
