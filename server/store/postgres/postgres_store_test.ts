import assert from "node:assert/strict";
import postgres, { type Sql, type TransactionSql } from "postgres";
import {
  freshDatabase,
  PG_SERVER,
  pgSkipReason,
  pgTest,
  storeDriverOptions,
} from "../../../tests/postgres_util.ts";
import { waitUntil } from "../../../tests/test_util.ts";
import { TcpProxy } from "../../../tests/tcp_proxy.ts";
import { idleInTransactionMsFor } from "./driver_options.ts";
import { runStoreConformance } from "../store_conformance.ts";
import { runSharedQueueConformance } from "../shared_queue_conformance.ts";
import { PostgresStore } from "./postgres_store.ts";
import { Logger } from "../../log.ts";
import { CAPACITY_LOCK, MIGRATIONS, SCHEMA_VERSION } from "./postgres_schema.ts";
import { testWith } from "../../../tests/permissions.ts";
import { setAccountRole } from "../../accounts/usuarios_command.ts";

runStoreConformance({
  name: "PostgresStore",
  ignore: pgSkipReason,
  async open() {
    const db = await freshDatabase();
    const store = await PostgresStore.open({ url: db.url, capacity: 6 });
    const close = store.close.bind(store);
    let dropped: Promise<void> | null = null;
    // The suite closes the store (maybe twice): the database goes with it.
    store.close = () => dropped ??= close().finally(() => db[Symbol.asyncDispose]());
    return store;
  },
});

runSharedQueueConformance({
  name: "PostgresStore (shared queue)",
  ignore: pgSkipReason,
  async database() {
    const db = await freshDatabase();
    return {
      open: (options = {}) =>
        PostgresStore.open({ url: db.url, capacity: 6, connectTimeoutS: 5, ...options }),
      [Symbol.asyncDispose]: () => db[Symbol.asyncDispose](),
    };
  },
});

pgTest({
  name: "PostgresStore keeps its count of unfinished orders exact through every kind of change",
  async fn() {
    await using db = await freshDatabase();
    await using store = await PostgresStore.open({ url: db.url, capacity: 100 });
    const check = async (step: string) => {
      const [kept] = await db.sql`SELECT sum(n)::int AS n FROM pedidos_sin_terminar`;
      const [real] = await db.sql`SELECT count(*)::int AS n FROM pedidos
        WHERE estado IN ('pendiente', 'en proceso')`;
      assert.equal(kept?.n, real?.n, `after ${step}`);
    };
    const order = (clave: string | null = null) => ({
      cliente: "Ana",
      productos: ["pan"],
      direccion: "Calle 1",
      clave,
    });
    const at = new Date().toISOString();
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push((await store.insert(order(), at)).pedido.id);
    await Promise.all([1, 2, 3].map((i) => store.insertWithinCapacity(order(`k${i}`), at)));
    await store.insertWithinCapacity(order("k1"), at); // a duplicate changes nothing
    await check("inserts");
    const claimed = await store.claim({ limit: 4, at });
    await check("a claim");
    const end = (estado: "listo" | "error") => ({
      outcome: { estado, at, ...(estado === "error" ? { detalle: "x" } : {}) },
      worker: 1,
      startedAt: at,
    });
    await store.finishAttempt(claimed[0]!, end("listo"));
    await store.finishAttempt(claimed[1]!, end("error"));
    await store.releaseAttempt(claimed[2]!, { started: true });
    await check("attempts ended and released");
    assert.equal((await store.retryWithinCapacity(claimed[1]!.id)).status, "changed");
    await check("a retry");
    const pending = (await store.list({ estado: "pendiente", limit: 10 })).map((p) => p.id);
    assert.equal((await store.cancel(pending[0]!, at)).status, "changed");
    await store.markStarted(pending[1]!, 1, at);
    await store.markPending(pending[1]!);
    await store.markRan(pending[2]!, 1, at, { estado: "listo", at });
    await check("cancel and the plain state changes");
    assert.ok(await store.prune("2100-01-01T00:00:00.000Z", 100) > 0);
    await check("a prune");
  },
});

pgTest({
  name:
    "PostgresStore: attempts end while new orders wait for the capacity lock (writes in two lanes)",
  async fn() {
    await using db = await freshDatabase();
    await using store = await PostgresStore.open({ url: db.url, capacity: 100 });
    const at = new Date().toISOString();
    const order = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null };
    const taken = await store.insertWithinCapacity(order, at, null, { take: true });
    assert.ok(taken.status === "inserted" && taken.claimed);
    // Another daemon is deciding what fits: it holds the capacity lock in an open transaction.
    const locked = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const holding = db.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${CAPACITY_LOCK})`;
      locked.resolve();
      await release.promise;
    });
    await locked.promise;
    let inserted = false;
    const waiting = store.insertWithinCapacity(order, at).then((r) => {
      inserted = true;
      return r;
    });
    const end = { outcome: { estado: "listo" as const, at }, worker: 1, startedAt: at };
    try {
      assert.equal(await store.finishAttempt(taken.claimed, end), true, "not held up by the lock");
      assert.equal((await store.get(taken.claimed.id))?.estado, "listo");
      assert.equal(inserted, false, "the new order waits for its turn on the lock");
    } finally {
      release.resolve();
      await holding;
    }
    assert.equal((await waiting).status, "inserted");
  },
});

pgTest({
  name:
    "PostgresStore: a daemon paused while it holds the capacity lock holds up another's intake for 5 s, not its lease, and nothing answers unavailable",
  async fn() {
    await using db = await freshDatabase();
    await using store = await PostgresStore.open({ url: db.url, capacity: 100, leaseMs: 30_000 });
    // The paused daemon: a connection set up as a store's with the same lease,
    // in a transaction that took the capacity lock and then sends nothing more.
    const paused = postgres(db.url, {
      ...storeDriverOptions(db.url),
      connection: {
        ...storeDriverOptions(db.url).connection,
        idle_in_transaction_session_timeout: idleInTransactionMsFor(30_000),
      },
    });
    try {
      const holding = paused.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${CAPACITY_LOCK})`;
        await new Promise(() => {}); // paused: never goes on
      }).catch((error) => error);
      await waitUntil(async () => {
        const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND granted`;
        return row!.n > 0;
      }, { what: "the lock held" });
      const order = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null };
      const result = await store.insertWithinCapacity(order, new Date().toISOString());
      assert.equal(result.status, "inserted", "taken once PostgreSQL ended the idle transaction");
      assert.equal(store.unavailableReason, null);
      assert.match(
        String(await holding),
        /idle-in-transaction timeout|terminat|CONNECTION_CLOSED/i,
      );
    } finally {
      await paused.end({ timeout: 1 });
    }
  },
});

/** Makes the schema of `version` in an empty database, as a daemon of that version left it. */
async function schemaAt(sql: TransactionSql, version: number): Promise<void> {
  await sql`CREATE TABLE pedidos_esquema (version integer NOT NULL)`;
  for (const ddl of MIGRATIONS.slice(0, version)) await sql.unsafe(ddl);
  await sql`INSERT INTO pedidos_esquema VALUES (${version})`;
}

/** The type of the column `pedidos.resultado`. */
async function resultadoType(sql: Sql): Promise<string | undefined> {
  const [column] = await sql<{ data_type: string }[]>`SELECT data_type
    FROM information_schema.columns WHERE table_name = 'pedidos' AND column_name = 'resultado'`;
  return column?.data_type;
}

pgTest({
  name:
    "PostgresStore: a database of schema version 2 is migrated, its stored results kept (resultado jsonb, as §9 says)",
  async fn() {
    await using db = await freshDatabase();
    await db.sql.begin(async (tx) => {
      await schemaAt(tx, 2);
      await tx`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido, estado, resultado)
        VALUES ('Ana', '["pan"]', 'C 1', now(), 'listo', '{"total": 3}'::jsonb)`;
    });
    await using store = await PostgresStore.open({ url: db.url, capacity: 6 });
    const [version] = await db.sql`SELECT version FROM pedidos_esquema`;
    assert.equal(version?.version, SCHEMA_VERSION);
    assert.equal(await resultadoType(db.sql), "jsonb");
    assert.deepEqual((await store.get(1))?.resultado, { total: 3 });
  },
});

pgTest({
  name:
    "PostgresStore: a database of schema version 7 emptied with TRUNCATE, whose capacity stayed taken, takes orders again once upgraded",
  async fn() {
    await using db = await freshDatabase();
    await db.sql.begin(async (tx) => {
      await schemaAt(tx, 7);
      await tx`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido)
        SELECT 'Ana', '["pan"]', 'C 1', now() FROM generate_series(1, 3)`;
    });
    await db.sql`TRUNCATE pedidos`;
    await db.sql`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido)
      VALUES ('Ana', '["pan"]', 'C 1', now())`;
    await using store = await PostgresStore.open({ url: db.url, capacity: 3 });
    const [left] = await db.sql<{ n: number }[]>`SELECT sum(n)::int AS n FROM pedidos_sin_terminar`;
    assert.equal(left?.n, 1, "the one order unfinished");
    const pedido = { cliente: "Ana", productos: ["pan"], direccion: "C 1", clave: null };
    const at = new Date().toISOString();
    const results = [];
    for (let i = 0; i < 3; i++) {
      results.push((await store.insertWithinCapacity(pedido, at, null)).status);
    }
    assert.deepEqual(results, ["inserted", "inserted", "full"]);
  },
});

pgTest({
  name:
    "PostgresStore: opening a database of an older schema logs store.migrated with both versions; a new or current one logs none",
  async fn() {
    await using db = await freshDatabase();
    await db.sql.begin((tx) => schemaAt(tx, 2));
    const lines: string[] = [];
    const logger = new Logger({ write: (line) => lines.push(line) });
    const migrated = () => lines.filter((line) => line.split(" ")[2] === "store.migrated");
    {
      await using _store = await PostgresStore.open({ url: db.url, capacity: 6, logger });
    }
    assert.equal(migrated().length, 1, lines.join("\n"));
    assert.match(
      migrated()[0]!,
      new RegExp(` INFO store\\.migrated db=\\S+ from=2 to=${SCHEMA_VERSION}$`),
    );
    assert.doesNotMatch(migrated()[0]!, /password|:[^@/]*@/, "the URL shown without a password");
    {
      await using _store = await PostgresStore.open({ url: db.url, capacity: 6, logger });
    }
    await using fresh = await freshDatabase();
    {
      await using _store = await PostgresStore.open({ url: fresh.url, capacity: 6, logger });
    }
    assert.equal(migrated().length, 1, "no upgrade: at the latest version, or created new");
  },
});

pgTest({
  name:
    "PostgresStore: a database of schema version 3 (resultado json) is migrated to jsonb; a stored result jsonb cannot hold is kept as the string of its text",
  async fn() {
    await using db = await freshDatabase();
    await db.sql.begin(async (tx) => {
      await schemaAt(tx, 3);
      for (const text of ['{"b": 1, "a": [2]}', '{"s": "a\\u0000b"}', '{"t": "\\ud800x"}']) {
        await tx`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido, estado, resultado)
          VALUES ('Ana', '["pan"]', 'C 1', now(), 'listo', ${text}::text::json)`;
      }
    });
    await using store = await PostgresStore.open({ url: db.url, capacity: 6 });
    assert.equal(await resultadoType(db.sql), "jsonb");
    assert.deepEqual((await store.get(1))?.resultado, { b: 1, a: [2] });
    assert.equal((await store.get(2))?.resultado, '{"s": "a\\u0000b"}');
    assert.equal((await store.get(3))?.resultado, '{"t": "\\ud800x"}');
    const [typed] = await db.sql`SELECT jsonb_typeof(resultado) AS t FROM pedidos WHERE id = 1`;
    assert.equal(typed?.t, "object", "jsonb's functions work on it");
  },
});

testWith("env")(
  "PostgresStore.open() on a port that answers as no PostgreSQL does, then closes, opens unavailable instead of hanging",
  async () => {
    // An HTTP server where the database was expected: a 400, then the connection closes.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const handlers: Promise<void>[] = [];
    const serving = (async () => {
      for await (const conn of listener) {
        handlers.push((async () => {
          try {
            await conn.read(new Uint8Array(1024));
            await conn.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
          } catch {
            // the store gave up first
          } finally {
            conn.close();
          }
        })());
      }
    })();
    const { port } = listener.addr as Deno.NetAddr;
    try {
      const store = await PostgresStore.open({
        url: `postgres://postgres@127.0.0.1:${port}/nada`,
        capacity: 6,
        deadlineMs: 300,
      });
      try {
        assert.notEqual(store.unavailableReason, null, "down, with a reason");
        await assert.rejects(() => store.get(1), { name: "StoreUnavailableError" });
      } finally {
        await store.close();
      }
    } finally {
      listener.close();
      await serving;
      // A connection the store closed ends its read only now and then (a loaded machine).
      await Promise.allSettled(handlers);
    }
  },
);

pgTest({
  name:
    "PostgresStore: a database of schema version 4 gets the queue place of schema 5: old orders first, and an insert that names no place (a daemon of version 4 still running) gets the next",
  async fn() {
    await using db = await freshDatabase();
    const insertAsVersion4 = (sql: Sql | TransactionSql) =>
      sql`INSERT INTO pedidos (cliente, productos, direccion, fecha_recibido)
        VALUES ('Ana', '["pan"]', 'C 1', now())`;
    await db.sql.begin(async (tx) => {
      await schemaAt(tx, 4);
      await insertAsVersion4(tx);
      await insertAsVersion4(tx);
    });
    await using store = await PostgresStore.open({ url: db.url, capacity: 10 });
    await insertAsVersion4(db.sql);
    const order = { cliente: "Eva", productos: ["pan"], direccion: "C 2", clave: null };
    assert.equal(
      (await store.insertWithinCapacity(order, new Date().toISOString())).status,
      "inserted",
    );
    const rows = await db.sql<{ id: number; cola: number | null }[]>`
      SELECT id::int, cola::int FROM pedidos ORDER BY coalesce(cola, id)`;
    assert.deepEqual(
      rows.map((row) => row.id),
      [1, 2, 3, 4],
      "the queue keeps the order they came in",
    );
    assert.deepEqual(rows.map((row) => row.cola === null), [true, true, false, false]);
  },
});

pgTest({
  name:
    "PostgresStore refuses a database whose encoding cannot hold every order (LATIN1), naming it; a SQL_ASCII one stores any text",
  async fn() {
    {
      await using db = await freshDatabase("LATIN1");
      await assert.rejects(
        () => PostgresStore.open({ url: db.url, capacity: 6, connectTimeoutS: 5 }),
        /the database's encoding is LATIN1, which cannot hold every order .*pedidos needs UTF8/,
      );
      const [tables] = await db
        .sql`SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 'pedidos%'`;
      assert.equal(tables?.n, 0, "nothing created in it");
    }
    await using db = await freshDatabase("SQL_ASCII");
    await using store = await PostgresStore.open({ url: db.url, capacity: 6 });
    const order = { cliente: "Ελένη 😀", productos: ["漢字"], direccion: "C 1", clave: "κλειδί" };
    const placed = await store.insertWithinCapacity(order, new Date().toISOString());
    assert.equal(placed.status, "inserted");
    const stored = await store.get(placed.status === "inserted" ? placed.pedido.id : 0);
    assert.deepEqual([stored?.cliente, stored?.productos, stored?.clave], [
      "Ελένη 😀",
      ["漢字"],
      "κλειδί",
    ]);
  },
});

pgTest({
  name:
    "pedidos usuarios on a cluster's database changes a role without joining the cluster: no capacity checked or reset, no node left behind",
  async fn() {
    await using db = await freshDatabase();
    // A daemon with --max-pedidos 10 runs on it, and has an account.
    const daemon = await PostgresStore.open({ url: db.url, capacity: 10 });
    try {
      assert.notEqual(await daemon.createUser("ana", "x", new Date().toISOString()), null);
      assert.equal(await setAccountRole(db.url, "ana", "operador"), true, "while it runs");
      assert.equal((await daemon.findUser("ana"))?.rol, "operador");
    } finally {
      await daemon.close();
    }
    // With no daemon running, the command leaves the capacity in force as it was.
    assert.equal(await setAccountRole(db.url, "ana", "usuario"), true);
    const [cluster] = await db.sql`SELECT capacidad FROM pedidos_cluster WHERE id = 1`;
    assert.equal(cluster?.capacidad, 10);
    const [nodes] = await db.sql`SELECT count(*)::int AS n FROM pedidos_nodos`;
    assert.equal(nodes?.n, 0, "the command registered no node");
    // The next daemon with the same capacity starts at once.
    const next = await PostgresStore.open({ url: db.url, capacity: 10 });
    await next.close();
  },
});

pgTest({
  name:
    "PostgresStore keeps the capacity exact across stores and reads dates right whatever the database's session defaults (repeatable read, DateStyle SQL DMY, another time zone)",
  async fn() {
    await using db = await freshDatabase();
    for (
      const setting of [
        "default_transaction_isolation = 'repeatable read'",
        "datestyle = 'SQL, DMY'",
        "timezone = 'Asia/Kolkata'",
      ]
    ) {
      await db.sql.unsafe(`ALTER DATABASE ${db.name} SET ${setting}`);
    }
    const stores = await Promise.all(
      [0, 1, 2].map(() => PostgresStore.open({ url: db.url, capacity: 5 })),
    );
    try {
      const at = "2026-12-06T04:05:06.789Z";
      const order = (i: number) => ({
        cliente: `c${i}`,
        productos: ["pan"],
        direccion: "Calle 1",
        clave: null,
      });
      // Three daemons' writers, each with a batch, taking turns on the capacity lock.
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => stores[i % 3]!.insertWithinCapacity(order(i), at)),
      );
      const inserted = results.flatMap((r) => r.status === "inserted" ? [r.pedido] : []);
      assert.equal(inserted.length, 5, "as many accepted as the capacity");
      const [stored] = await db.sql`SELECT count(*)::int AS n FROM pedidos`;
      assert.equal(stored?.n, 5, "as many stored");
      // 6 December, not 12 June; and readable at all with the zone's abbreviation.
      const read = await stores[1]!.get(inserted[0]!.id);
      assert.equal(read?.fecha_recibido, at);
      const listed = await stores[2]!.list({ limit: 10 });
      assert.deepEqual(listed.map((p) => p.fecha_recibido), inserted.map(() => at));
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  },
});

pgTest({
  name: "PostgresStore reaches a server at an IPv6 address in brackets (postgres://…@[::1]:PORT/…)",
  async fn() {
    await using db = await freshDatabase();
    await using proxy = new TcpProxy(PG_SERVER, "::1");
    proxy.open();
    const url = proxy.through(db.url);
    assert.match(url, /@\[::1\]:\d+\//);
    await using store = await PostgresStore.open({ url, capacity: 6, connectTimeoutS: 2 });
    const at = new Date().toISOString();
    const { pedido } = await store.insert(
      { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null },
      at,
    );
    assert.equal((await store.get(pedido.id))?.cliente, "Ana");
  },
});
