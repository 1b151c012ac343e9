import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { PedidoNuevo } from "../protocol/messages.ts";
import { SqliteStore } from "./sqlite_store.ts";
import { runStoreConformance } from "./store_conformance.ts";
import { lackingReason, testWith } from "../../tests/permissions.ts";
import { FrameWriter, SharedPipe } from "../../workers/shared_pipe.ts";
import type { InitMessage } from "../../workers/writer_messages.ts";

runStoreConformance({
  name: "SqliteStore (:memory:)",
  open: () => SqliteStore.open({ path: ":memory:" }),
  ignore: lackingReason("read"),
});

runStoreConformance({
  name: "SqliteStore (file)",
  ignore: lackingReason("read", "write"),
  async open() {
    const dir = await Deno.makeTempDir({ prefix: "pedidos_store_" });
    const store = await SqliteStore.open({ path: `${dir}/pedidos.db` });
    const close = store.close.bind(store);
    let removed: Promise<void> | null = null;
    // The suite closes the store (maybe twice): the temp dir goes with it.
    store.close = () =>
      removed ??= close().finally(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
    return store;
  },
});

function order(fields: Partial<PedidoNuevo> = {}): PedidoNuevo {
  return { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null, ...fields };
}

function now(): string {
  return new Date().toISOString();
}

/** A temp dir with a database path in it, removed on dispose. */
function tempDb(): { dir: string; path: string } & Disposable {
  const dir = Deno.makeTempDirSync({ prefix: "pedidos_order_store_" });
  return {
    dir,
    path: `${dir}/pedidos.db`,
    [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }),
  };
}

/** Runs `fn` with a read-only connection of its own on `path`. */
function withConnection<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Records every Worker made while it is in scope (tests in a file run one at a time). */
function spyOnWorkers(): {
  created: Worker[];
  terminated: Set<Worker>;
  posted: unknown[];
} & Disposable {
  const Original = globalThis.Worker;
  const created: Worker[] = [];
  const terminated = new Set<Worker>();
  const posted: unknown[] = [];
  globalThis.Worker = class extends Original {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      created.push(this);
      const post = this.postMessage.bind(this) as (message: unknown) => void;
      this.postMessage = (message: unknown) => {
        posted.push(message);
        post(message);
      };
    }
    override terminate(): void {
      terminated.add(this);
      super.terminate();
    }
  };
  return {
    created,
    terminated,
    posted,
    [Symbol.dispose]: () => globalThis.Worker = Original,
  };
}

testWith("read", "write")(
  "SqliteStore.insert() resolves 500 concurrent inserts with distinct ids in far fewer batches",
  async () => {
    using db = tempDb();
    const store = await SqliteStore.open({ path: db.path });
    let results;
    try {
      results = await Promise.all(
        Array.from({ length: 500 }, (_, i) => store.insert(order({ cliente: `c${i}` }), now())),
      );
    } finally {
      await store.close();
    }
    assert.equal(new Set(results.map((r) => r.pedido.id)).size, 500);
    assert.ok(results.every((r) => r.status === "inserted" && r.pedido.estado === "pendiente"));
    const stats = store.writerStats!;
    assert.equal(stats.ops, 500);
    assert.ok(stats.batches <= 10, `expected group commit, got ${stats.batches} batches`);
    withConnection(db.path, (conn) => {
      assert.equal(conn.prepare("SELECT count(*) AS n FROM pedidos").get()?.n, 500);
    });
  },
);

testWith("read", "write")(
  "SqliteStore groups inserts that arrive while a transaction commits",
  async () => {
    using db = tempDb();
    const store = await SqliteStore.open({ path: db.path });
    try {
      // 50 clients, each sending 10 orders one after another with some jitter,
      // so ops reach the writer in many separate messages.
      await Promise.all(Array.from({ length: 50 }, async (_, client) => {
        for (let i = 0; i < 10; i++) {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
          await store.insert(order({ cliente: `c${client}` }), now());
        }
      }));
    } finally {
      await store.close();
    }
    const stats = store.writerStats!;
    assert.equal(stats.ops, 500);
    assert.ok(stats.largestBatch > 1, `no batch held more than one op: ${JSON.stringify(stats)}`);
    assert.ok(stats.batches < 250, `expected group commit, got ${JSON.stringify(stats)}`);
  },
);

testWith("read", "write")(
  "SqliteStore.insert() resolves only after the row is committed",
  async () => {
    using db = tempDb();
    await using store = await SqliteStore.open({ path: db.path });
    for (let i = 0; i < 5; i++) {
      const { pedido } = await store.insert(order({ cliente: `visible ${i}` }), now());
      // A connection opened after the promise resolved sees the row at once.
      const row = withConnection(
        db.path,
        (conn) => conn.prepare("SELECT cliente, estado FROM pedidos WHERE id = ?").get(pedido.id),
      );
      assert.deepEqual({ ...row }, { cliente: `visible ${i}`, estado: "pendiente" });
    }
    const { pedido } = await store.insert(order(), now());
    await store.markStarted(pedido.id, 1, now());
    const estado = withConnection(
      db.path,
      (conn) => conn.prepare("SELECT estado FROM pedidos WHERE id = ?").get(pedido.id)?.estado,
    );
    assert.equal(estado, "en proceso");
  },
);

testWith("read", "write")(
  "SqliteStore.insert() with the same clave concurrently makes one row",
  async () => {
    using db = tempDb();
    await using store = await SqliteStore.open({ path: db.path, sync: "normal" });
    const [a, b] = await Promise.all([
      store.insert(order({ clave: "k-1", cliente: "primero" }), now()),
      store.insert(order({ clave: "k-1", cliente: "segundo" }), now()),
    ]);
    assert.deepEqual([a.status, b.status], ["inserted", "duplicate"]);
    assert.equal(b.pedido.id, a.pedido.id);
    assert.equal(b.pedido.cliente, "primero");
    const later = await store.insert(order({ clave: "k-1" }), now());
    assert.equal(later.status, "duplicate");
    assert.equal(later.pedido.id, a.pedido.id);
    const n = withConnection(
      db.path,
      (conn) => conn.prepare("SELECT count(*) AS n FROM pedidos WHERE clave = ?").get("k-1")?.n,
    );
    assert.equal(n, 1);
  },
);

testWith("read")(
  "SqliteStore reads a :memory: database through the writer, after earlier writes",
  async () => {
    await using store = await SqliteStore.open({ path: ":memory:" });
    const a = (await store.insert(order({ clave: "a", cliente: "Ana" }), now())).pedido;
    const b = (await store.insert(order({ cliente: "Beto" }), now())).pedido;
    await store.markStarted(a.id, 2, now());
    // Not awaited: the read waits behind the write queued before it.
    const c = store.insert(order({ cliente: "Carla" }), now());
    const listed = await store.list({ limit: 50 });
    assert.deepEqual(listed.map((p) => p.cliente), ["Carla", "Beto", "Ana"]);
    assert.equal((await c).pedido.id, listed[0]!.id);

    assert.deepEqual((await store.get(a.id))?.worker, 2);
    assert.equal(await store.get(12345), null);
    assert.equal((await store.findByClave("a"))?.id, a.id);
    assert.equal(await store.findByClave("zzz"), null);
    assert.deepEqual((await store.list({ cliente: "Beto", limit: 5 })).map((p) => p.id), [b.id]);
    assert.deepEqual((await store.list({ estado: "en proceso", limit: 5 })).map((p) => p.id), [
      a.id,
    ]);
    assert.deepEqual((await store.unfinished()).map((p) => p.id), [a.id, b.id, listed[0]!.id]);
  },
);

testWith("read", "write")("SqliteStore reads a file database on the main thread", async () => {
  using db = tempDb();
  await using store = await SqliteStore.open({ path: db.path });
  const a = (await store.insert(order({ clave: "a" }), now())).pedido;
  const b = (await store.insert(order({ cliente: "Beto" }), now())).pedido;
  await store.markStarted(a.id, 1, now());
  await store.markFinished(a.id, { estado: "listo", at: new Date(Date.now() + 5).toISOString() });
  const got = await store.get(a.id);
  assert.equal(got?.estado, "listo");
  assert.ok(got.duracion_ms !== null && got.duracion_ms >= 0);
  assert.equal((await store.findByClave("a"))?.id, a.id);
  assert.deepEqual((await store.list({ limit: 10 })).map((p) => p.id), [b.id, a.id]);
  assert.deepEqual((await store.unfinished()).map((p) => p.id), [b.id]);
  await store.markPending(b.id);
  assert.equal((await store.get(b.id))?.estado, "pendiente");
});

testWith("read", "write")(
  "SqliteStore.open() on a bad path rejects with a clear message and ends the worker",
  async () => {
    using db = tempDb();
    using spy = spyOnWorkers();
    const path = `${db.dir}/nope/x.db`;
    await assert.rejects(SqliteStore.open({ path }), {
      message: `Cannot open database "${path}": directory does not exist`,
    });
    assert.equal(spy.created.length, 1);
    assert.ok(spy.terminated.has(spy.created[0]!), "the writer worker was terminated");
  },
);

testWith("read", "write")(
  "SqliteStore.open() that cannot open the database leaves no lock file it made, and keeps one it found",
  async () => {
    using db = tempDb();
    const garbage = `${db.dir}/garbage.db`;
    Deno.writeTextFileSync(garbage, "this is not a database, and longer than a header\n".repeat(4));
    const dir = `${db.dir}/adir`;
    Deno.mkdirSync(dir);
    for (const path of [garbage, dir]) {
      await assert.rejects(SqliteStore.open({ path }), /Cannot open database|not a database/);
      assert.throws(() => Deno.statSync(`${path}.lock`), Deno.errors.NotFound, path);
    }
    // A lock file that was there before the start is another's: left alone.
    Deno.writeTextFileSync(`${garbage}.lock`, "");
    await assert.rejects(SqliteStore.open({ path: garbage }));
    assert.ok(Deno.statSync(`${garbage}.lock`).isFile);
    // And a start that opens the database keeps its lock file, as before.
    await using _store = await SqliteStore.open({ path: db.path });
    assert.ok(Deno.statSync(`${db.path}.lock`).isFile);
  },
);

testWith("read", "write")(
  "SqliteStore answers errors for a failing batch and keeps working",
  async () => {
    using db = tempDb();
    await using store = await SqliteStore.open({ path: db.path });
    const target = (await store.insert(order(), now())).pedido;

    // One bad op (a CHECK violation) among good ones: only it fails.
    const [good1, bad, good2] = await Promise.allSettled([
      store.insert(order({ cliente: "bueno 1" }), now()),
      store.markFinished(target.id, { estado: "roto" as "listo", at: now() }),
      store.insert(order({ cliente: "bueno 2" }), now()),
    ]);
    assert.equal(good1.status, "fulfilled");
    assert.equal(good2.status, "fulfilled");
    assert.equal(bad.status, "rejected");
    assert.match((bad as PromiseRejectedResult).reason.message, /CHECK constraint failed/);
    assert.equal((await store.get(target.id))?.estado, "pendiente");

    // Every write fails (as when the disk is full): nothing resolves, nothing is stored.
    withWriteConnection(db.path, (conn) =>
      conn.exec(`CREATE TRIGGER lleno BEFORE INSERT ON pedidos
      BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`));
    const failing = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.insert(order({ cliente: `perdido ${i}` }), now())),
    );
    assert.ok(failing.every((r) => r.status === "rejected"));
    for (const r of failing) {
      assert.match(
        (r as PromiseRejectedResult).reason.message,
        /^Cannot insert: database or disk is full$/,
      );
    }
    assert.deepEqual(await store.list({ cliente: "perdido 0", limit: 5 }), []);
    withConnection(db.path, (conn) => {
      assert.equal(
        conn.prepare("SELECT count(*) AS n FROM pedidos WHERE cliente LIKE 'perdido %'").get()?.n,
        0,
      );
    });

    // The cause goes away: the store works again.
    withWriteConnection(db.path, (conn) => conn.exec("DROP TRIGGER lleno"));
    const after = await store.insert(order({ cliente: "después" }), now());
    assert.equal((await store.get(after.pedido.id))?.cliente, "después");
    await store.close();
    assert.ok(store.writerStats!.failedBatches >= 2, JSON.stringify(store.writerStats));
  },
);

testWith("read", "write")(
  "SqliteStore rejects pending and later calls when the writer worker dies",
  async () => {
    using spy = spyOnWorkers();
    await using store = await SqliteStore.open({ path: ":memory:" });
    const worker = spy.created[0]!;
    const died = new Promise((resolve) =>
      worker.addEventListener("error", resolve, { once: true })
    );
    const pending = store.insert(order(), now());
    // Reaches the writer before the insert (whose message goes out in a microtask)
    // and makes it throw `Unexpected message "bogus"`, which ends the worker.
    const init = spy.posted[0] as InitMessage;
    new FrameWriter(new SharedPipe(init.toWriter)).send({ type: "bogus" });
    await assert.rejects(
      pending,
      /Cannot insert: the writer worker failed: .*Unexpected message "bogus"/,
    );
    await died;
    await assert.rejects(store.get(1), /the writer worker failed/);
    await store.close();
    assert.ok(spy.terminated.has(worker));
  },
);

testWith("read", "write")(
  "SqliteStore whose writer worker dies while open reports it once through onFatal, so the daemon stops instead of answering internal for good",
  async () => {
    using db = tempDb();
    using spy = spyOnWorkers();
    const fatal: Error[] = [];
    const store = await SqliteStore.open({ path: db.path, onFatal: (error) => fatal.push(error) });
    await store.insert(order(), now());
    const init = spy.posted[0] as InitMessage;
    const died = new Promise((resolve) =>
      spy.created[0]!.addEventListener("error", resolve, { once: true })
    );
    new FrameWriter(new SharedPipe(init.toWriter)).send({ type: "bogus" });
    await died;
    await assert.rejects(store.insert(order(), now()), /the writer worker failed/);
    await store.close();
    assert.equal(fatal.length, 1, "reported once");
    assert.match(
      fatal[0]!.message,
      /^Cannot write to database ".*pedidos\.db": the writer worker failed: .*Unexpected message "bogus"/,
    );

    // A store closed in the ordinary way reports nothing.
    const calm: Error[] = [];
    const again = await SqliteStore.open({ path: db.path, onFatal: (error) => calm.push(error) });
    await again.insert(order(), now());
    await again.close();
    assert.deepEqual(calm, []);
  },
);

function withWriteConnection(path: string, fn: (db: DatabaseSync) => void): void {
  const db = new DatabaseSync(path, { timeout: 5000 });
  try {
    fn(db);
  } finally {
    db.close();
  }
}

const T0 = "2026-11-23T12:00:00.000Z";
const LATER = "2026-11-24T12:00:00.000Z";

testWith("read", "write")(
  "SqliteStore keeps accounts in usuarios and sesiones, readable by any SQLite tool",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "pedidos_accounts_" });
    try {
      const store = await SqliteStore.open({ path: `${dir}/pedidos.db` });
      const id = (await store.createUser("ana", "$scrypt$x", T0))!;
      await store.createSession("ab".repeat(32), id, LATER);
      await store.close();
      const db = new DatabaseSync(`${dir}/pedidos.db`, { readOnly: true });
      try {
        const users = db.prepare("SELECT usuario, hash FROM usuarios").all();
        assert.deepEqual(users.map((u) => ({ ...u })), [{ usuario: "ana", hash: "$scrypt$x" }]);
        const sessions = db.prepare("SELECT token_hash, usuario_id FROM sesiones").all();
        assert.deepEqual(sessions.map((s) => ({ ...s })), [{
          token_hash: "ab".repeat(32),
          usuario_id: id,
        }]);
      } finally {
        db.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWith("read")(
  "SqliteStore (:memory:) answers a read larger than the pipe from the writer, whole",
  async () => {
    await using store = await SqliteStore.open({ path: ":memory:" });
    const direccion = "Calle ".repeat(150); // about 900 bytes an order
    const inserted = await Promise.all(
      Array.from(
        { length: 2000 },
        (_, i) => store.insert(order({ cliente: `c${i}`, direccion }), now()),
      ),
    );
    // About 2 MB of JSON each way: twice the pipe, so each side waits for room while the other reads.
    const listed = await store.list({ limit: 2000 });
    assert.equal(listed.length, 2000);
    assert.deepEqual(listed.map((p) => p.id), inserted.map((r) => r.pedido.id).reverse());
    assert.ok(listed.every((p) => p.direccion === direccion));
  },
);

testWith("read", "write")(
  "SqliteStore creates the database, its WAL, shared memory and lock files readable by their owner only",
  async () => {
    using db = tempDb();
    const store = await SqliteStore.open({ path: db.path });
    try {
      await store.insert(order(), now());
      for (const file of [db.path, `${db.path}-wal`, `${db.path}-shm`, `${db.path}.lock`]) {
        const mode = Deno.statSync(file).mode! & 0o777;
        assert.equal(mode & 0o077, 0, `${file}: mode ${mode.toString(8)} lets others read it`);
      }
    } finally {
      await store.close();
    }
  },
);

testWith("read", "write")(
  "SqliteStore leaves the mode of a database file that was there before as it was",
  async () => {
    using db = tempDb();
    Deno.writeFileSync(db.path, new Uint8Array());
    Deno.chmodSync(db.path, 0o640);
    const store = await SqliteStore.open({ path: db.path });
    try {
      await store.insert(order(), now());
    } finally {
      await store.close();
    }
    assert.equal(Deno.statSync(db.path).mode! & 0o777, 0o640);
  },
);

testWith("read", "write")(
  "SqliteStore.close() with the pipe to the writer full still reaches the writer, which checkpoints the WAL",
  async () => {
    using db = tempDb();
    const store = await SqliteStore.open({ path: db.path, closeTimeoutMs: 3000 });
    const foreign = new DatabaseSync(db.path);
    foreign.exec("BEGIN IMMEDIATE"); // the writer blocks on its next BEGIN, reading nothing
    let released = false;
    try {
      const at = now();
      const first = store.createUser("primera", "h", at);
      // Let the writer take the first op and block on the lock, so the pipe is empty.
      await new Promise((resolve) => setTimeout(resolve, 300));
      // One frame that leaves 10 bytes of the 1 MiB pipe free: the close frame
      // (20 bytes) goes in only in part, and nothing else is waiting to be sent.
      const frame = (hash: string) =>
        4 + JSON.stringify({
          type: "ops",
          ops: [{ op: "createUser", usuario: "segunda", hash, at, seq: 2 }],
        }).length;
      const hash = "x".repeat((1 << 20) - 10 - frame(""));
      const second = store.createUser("segunda", hash, at);
      await Promise.resolve(); // the outbox is flushed in a microtask
      const closed = store.close();
      foreign.exec("ROLLBACK");
      foreign.close();
      released = true;
      assert.ok(typeof (await first) === "number");
      assert.ok(typeof (await second) === "number");
      await closed;
    } finally {
      if (!released) foreign.close();
    }
    // The writer got the close frame, so it was the last connection and
    // folded the WAL into the file as it closed (terminated, it would not).
    const wal = walBytes(db.path);
    assert.equal(wal, 0, `the WAL still holds ${wal} bytes after close()`);
    withConnection(db.path, (conn) => {
      assert.equal(conn.prepare("SELECT count(*) AS n FROM usuarios").get()?.n, 2);
    });
  },
);

/** The size of the WAL beside `path`, 0 when there is none. */
function walBytes(path: string): number {
  try {
    return Deno.statSync(`${path}-wal`).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

testWith("read", "write")(
  "SqliteStore opened again on its file lists a retried order in unfinished() where REINTENTAR put it: after the orders stored before, before those stored after (§2.9)",
  async () => {
    using db = tempDb();
    let ids: Record<string, number>;
    {
      await using store = await SqliteStore.open({ path: db.path });
      const a = (await store.insert(order({ cliente: "A" }), now())).pedido.id;
      await store.markRan(a, 1, now(), { estado: "error", at: now(), detalle: "roto" });
      const p = (await store.insert(order({ cliente: "P" }), now())).pedido.id;
      // The retry and a new order in one group commit, the retry first.
      const [retried, q] = await Promise.all([
        store.retry(a),
        store.insert(order({ cliente: "Q" }), now()),
      ]);
      assert.equal(retried.status, "changed");
      ids = { a, p, q: q.pedido.id };
      assert.deepEqual((await store.unfinished()).map((o) => o.cliente), ["P", "A", "Q"]);
    }
    await using again = await SqliteStore.open({ path: db.path });
    assert.deepEqual((await again.unfinished()).map((o) => o.cliente), ["P", "A", "Q"]);
    const r = (await again.insert(order({ cliente: "R" }), now())).pedido.id;
    assert.ok(r > ids.q!, JSON.stringify({ ...ids, r }));
    assert.deepEqual((await again.unfinished()).map((o) => o.cliente), ["P", "A", "Q", "R"]);
  },
);
