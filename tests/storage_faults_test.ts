/**
 * Storage faults (issue 4, §4): a database in a read-only or missing
 * directory, a database already held by another daemon, and a disk that
 * fills up while orders arrive.
 *
 * The read-only and disk-full cases mount a tiny tmpfs (we run as root in
 * CI). Where mounting is impossible they are skipped with a message saying
 * so, except in CI (`CI=true`), where they fail with mount's reason; nothing
 * else is skipped. The COMMIT-failure case needs no privilege.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { mountTmpfs, readRows, remount, stats, tmpfsPrivilege } from "./fault_util.ts";
import { privilegedTest } from "./privilege_util.ts";
import { Logger } from "../server/log.ts";
import {
  type RawConn,
  rawConnect,
  ROOT,
  runMain,
  startInProcess,
  startSubprocess,
  tempDir,
  waitUntil,
  within,
} from "./test_util.ts";
import { testWith } from "./permissions.ts";

const ORDER = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };
const TMPFS = await tmpfsPrivilege();

privilegedTest("storage_faults_test", TMPFS, {
  name:
    "storage: a database in a read-only directory is refused at start with exit 2 and the reason",
  async fn() {
    await using fs = await mountTmpfs("1m");
    // One database made while the directory was writable, then the directory goes read-only.
    {
      await using daemon = await startSubprocess(fs.path, ["--db", `${fs.path}/old.db`]);
      daemon.kill("SIGTERM");
      assert.equal((await daemon.exited()).code, 0);
    }
    await remount(fs.path, "ro");
    for (const name of ["old.db", "new.db"]) {
      const db = `${fs.path}/${name}`;
      const result = await runMain(fs.path, ["server", "--port", "0", "--db", db]);
      assert.equal(result.code, 2, `${name}: ${result.stderr}`);
      assert.equal(result.stdout, "", "never ready");
      assert.match(result.stderr, /^pedidos server: cannot start: Cannot open database/m);
      assert.ok(result.stderr.includes(db), `${name}: names the file: ${result.stderr}`);
      assert.match(result.stderr, /read-only file system|not writable/, `${name}: says why`);
    }
  },
});

testWith("read", "write", "run", "env")(
  "storage: a database in a missing directory is refused with exit 2, naming the reason",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/no/such/dir/p.db`;
    const result = await runMain(dir.path, ["server", "--port", "0", "--db", db]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      /cannot start: Cannot open database ".*no\/such\/dir\/p\.db": directory does not exist/,
    );
    assert.deepEqual([...Deno.readDirSync(dir.path)], [], "nothing was created");
  },
);

testWith("read", "write", "run", "env")(
  "storage: a second daemon on the same database is refused with exit 2; the first keeps serving",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const first = await startSubprocess(dir.path, ["--db", db]);
    try {
      const second = await runMain(dir.path, ["server", "--port", "0", "--db", db]);
      assert.equal(second.code, 2, second.stderr);
      assert.equal(second.stdout, "", "the second never got ready");
      assert.match(
        second.stderr,
        /cannot start: Cannot open database ".*p\.db": it is in use by another process \(lock file ".*p\.db\.lock" is held/,
      );
      // The same file by another path is the same database.
      const other = await runMain(dir.path, ["server", "--port", "0", "--db", "./p.db"]);
      assert.equal(other.code, 2, other.stderr);
      // And by another name: a symbolic link (its lock file would be
      // alias.db.lock) or a hard link (its WAL would be hard.db-wal: two
      // writers, each with its own log).
      Deno.symlinkSync(db, `${dir.path}/alias.db`);
      Deno.linkSync(db, `${dir.path}/hard.db`);
      for (const name of ["alias.db", "hard.db"]) {
        const aliased = await runMain(dir.path, ["server", "--port", "0", "--db", name]);
        assert.equal(aliased.code, 2, `${name}: ${aliased.stderr}`);
        assert.match(aliased.stderr, /it is in use by another process/, name);
        assert.equal(aliased.stdout, "", `${name}: never ready`);
      }
      assert.ok(
        ![...Deno.readDirSync(dir.path)].some((e) => /^(alias|hard)\.db-wal$/.test(e.name)),
        "the aliases never opened the database",
      );

      await using conn = await rawConnect(first.port);
      await conn.write(JSON.stringify(ORDER) + "\n");
      assert.equal((await conn.readLine())?.ok, true, "the first daemon still takes orders");
    } finally {
      first.kill("SIGKILL");
      await first.exited();
    }
    // A daemon killed with SIGKILL leaves its lock file, but not its lock.
    await using again = await startSubprocess(dir.path, ["--db", db]);
    again.kill("SIGTERM");
    assert.equal((await again.exited()).code, 0);
    assert.equal(readRows(db).length, 1);
  },
);

testWith("read", "write", "run", "env")(
  "storage: Server.start() twice on one file in one process refuses the second",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    await using first = await startInProcess({ db });
    await assert.rejects(startInProcess({ db }), /in use by another process/);
    // By a hard link too, and refused without touching the file: closing a
    // descriptor of it here would drop the first one's SQLite locks, and
    // another program's connection would then take itself for the last and
    // delete the WAL from under it.
    Deno.linkSync(db, `${dir.path}/hard.db`);
    await assert.rejects(
      startInProcess({ db: `${dir.path}/hard.db` }),
      /in use by another process/,
    );
    const other = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { DatabaseSync } from "node:sqlite"; const db = new DatabaseSync(${
          JSON.stringify(db)
        }); db.prepare("SELECT count(*) FROM pedidos").get(); db.close();`,
      ],
    }).output();
    assert.equal(other.code, 0, new TextDecoder().decode(other.stderr));
    assert.ok(Deno.statSync(`${db}-wal`).isFile, "the first's WAL is still there");
    await using conn = await rawConnect(first.port);
    await conn.write('{"op":"PING"}\n');
    assert.equal((await conn.readLine())?.pong, true);
  },
);

/** Fills the file system at `dir` with one file until the disk refuses more. */
async function fill(path: string): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(16 * 1024).fill(0x2a);
  try {
    for (;;) await file.write(chunk);
  } catch {
    // ENOSPC: full
  }
  for (let size = 4096; size >= 1; size = Math.floor(size / 2)) {
    try {
      for (;;) await file.write(chunk.subarray(0, size)); // the last few bytes too
    } catch {
      // full at this size
    }
  }
}

privilegedTest("storage_faults_test", TMPFS, {
  name:
    "storage: a full disk gets internal, never an ok for an order not committed; reads go on; intake recovers",
  async fn() {
    await using fs = await mountTmpfs("3m");
    const db = `${fs.path}/p.db`;
    const acked = new Map<string, number>();
    const refused: string[] = [];
    const big = { ...ORDER, productos: Array.from({ length: 40 }, (_, i) => `p${i}`.repeat(40)) };
    {
      await using daemon = await startInProcess({
        db,
        maxPedidos: 1000,
        workers: 2,
        processMs: { min: 0, max: 5 },
      });
      await using conn = await rawConnect(daemon.port);
      const send = async (clave: string) => {
        await conn.write(JSON.stringify({ ...big, clave }) + "\n");
        const reply = await conn.readLine(15_000);
        if (reply?.ok === true) acked.set(clave, reply.id as number);
        else {
          assert.equal(reply?.error, "internal", JSON.stringify(reply));
          refused.push(clave);
        }
        return reply;
      };
      for (let i = 0; i < 5; i++) await send(`before-${i}`);
      assert.equal(acked.size, 5);

      await fill(`${fs.path}/filler`);
      // Keep sending until the disk refuses (the WAL may still have room for a few).
      let i = 0;
      while (refused.length < 5) {
        assert.ok(i < 400, "the disk never refused an order");
        await send(`full-${i++}`);
      }
      // Reads and everything that does not write keep working.
      await conn.write(
        `{"op":"ESTADO","id":${acked.get("before-0")}}\n{"op":"LISTAR","limit":3}\n` +
          '{"op":"PING"}\n{"op":"TASK","task":{"name":"sum","args":[1,2]}}\n',
      );
      assert.equal((await conn.readLine())?.ok, true, "ESTADO while full");
      assert.equal(((await conn.readLine())?.pedidos as unknown[]).length, 3, "LISTAR while full");
      assert.equal((await conn.readLine())?.pong, true);
      assert.equal((await conn.readLine())?.result, 3);
      // STATS counts every order holding a slot: those whose end cannot be
      // written wait, pendiente, as the store still has them (§8: current numbers).
      const full = await stats(daemon.port);
      assert.equal(
        full.pendientes! + full.en_proceso!,
        full.capacidad! - full.libres!,
        `every held slot counted while full: ${JSON.stringify(full)}`,
      );
      // A retry of an acked order is still recognised.
      await conn.write(JSON.stringify({ ...big, clave: "before-1" }) + "\n");
      const retry = await conn.readLine();
      assert.equal(retry?.duplicado, true);
      assert.equal(retry?.id, acked.get("before-1"));

      // Space comes back: intake recovers, refused orders can be retried by clave.
      await Deno.remove(`${fs.path}/filler`);
      for (let j = 0; j < 5; j++) {
        const reply = await send(`after-${j}`);
        assert.equal(reply?.ok, true, `after space returns: ${JSON.stringify(reply)}`);
      }
      for (const clave of refused.splice(0)) {
        assert.equal((await send(clave))?.ok, true, `retry of ${clave}`);
      }
      for (const id of acked.values()) {
        await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":10000}\n`);
        const pedido = (await conn.readLine(12_000))?.pedido as Record<string, unknown>;
        assert.equal(pedido.estado, "listo", `order ${id} finished`);
      }
      await waitUntil(async () => {
        const s = await stats(daemon.port);
        return s.libres === s.capacidad && s.pendientes === 0 && s.en_proceso === 0;
      }, { timeoutMs: 10_000, what: "every slot back" });
    }
    // Every acked order is in the file, under its id, listo; nothing else is.
    const rows = readRows(db);
    const byClave = new Map(rows.map((row) => [row.clave, row]));
    for (const [clave, id] of acked) {
      assert.equal(byClave.get(clave)?.id, id, `${clave} stored`);
      assert.equal(byClave.get(clave)?.estado, "listo");
    }
    assert.equal(rows.length, acked.size, "no order stored that was not acked");
  },
});

privilegedTest("storage_faults_test", TMPFS, {
  name:
    "storage: killed on a full disk, restarted once space is freed, the daemon finishes every order: its WAL does not take the space back",
  async fn() {
    await using fs = await mountTmpfs("3m");
    const db = `${fs.path}/p.db`;
    const acked = new Map<string, number>();
    const big = (clave: string) => ({
      ...ORDER,
      clave,
      productos: Array.from({ length: 30 }, (_, i) => `${clave}-${i}-`.padEnd(150, "y")),
    });
    const args = ["--db", db, "--max-pedidos", "1000", "--process-ms", "20-80"];
    const first = await startSubprocess(fs.path, args);
    try {
      // 700 KB left: orders of 5 KB from 4 clients, 8 in flight each, fill it
      // as they are stored and processed.
      await fillBut(`${fs.path}/filler`, fs.path, 700 * 1024);
      await Promise.all([0, 1, 2, 3].map(async (client) => {
        await using conn = await rawConnect(first.port);
        let refused = 0;
        for (let i = 0; refused < 20 && i < 1000; i += 8) {
          const claves = Array.from({ length: 8 }, (_, j) => `c${client}-${i + j}`);
          await conn.write(claves.map((clave) => JSON.stringify(big(clave)) + "\n").join(""));
          for (const clave of claves) {
            const reply = await conn.readLine(15_000);
            if (reply?.ok === true) acked.set(clave, reply.id as number);
            else refused++;
          }
        }
      }));
      assert.ok(acked.size > 20, `${acked.size} orders stored before the disk filled`);
    } finally {
      first.kill("SIGKILL");
      await first.exited();
    }
    await Deno.remove(`${fs.path}/filler`);
    await using again = await startSubprocess(fs.path, args);
    await waitUntil(async () => {
      const s = await stats(again.port);
      return s.pendientes === 0 && s.en_proceso === 0 && s.libres === s.capacidad;
    }, { timeoutMs: 20_000, what: "every order left by the killed run finished" });
    await using conn = await rawConnect(again.port);
    for (const [clave, id] of acked) {
      await conn.write(`{"op":"ESTADO","id":${id}}\n`);
      const pedido = (await conn.readLine())?.pedido as Record<string, unknown>;
      assert.equal(pedido?.clave, clave);
      assert.equal(pedido?.estado, "listo", `order ${id}`);
    }
  },
});

/** Fills the file system of `dir` with a file at `path`, leaving `leave` bytes free. */
async function fillBut(path: string, dir: string, leave: number): Promise<void> {
  const free = Number(
    new TextDecoder().decode(
      (await new Deno.Command("df", { args: ["-B1", "--output=avail", dir] }).output()).stdout,
    ).trim().split("\n")[1],
  );
  using file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(64 * 1024).fill(0x2a);
  for (let left = free - leave; left > 0; left -= chunk.length) {
    await file.write(chunk.subarray(0, Math.min(chunk.length, left)));
  }
}

/**
 * Makes every `COMMIT` that stored a new order fail, as a disk that fills up
 * at the commit would, with no privilege: each new row of `pedidos` adds a
 * row whose deferred foreign key is checked, and refused, at `COMMIT` (the
 * writer runs with `foreign_keys = ON`). The insert itself succeeds, so only
 * a writer that checks its `COMMIT` notices. Returns the undo.
 */
function failCommitsOfNewOrders(db: string): () => void {
  const conn = new DatabaseSync(db);
  try {
    conn.exec("PRAGMA busy_timeout = 5000");
    conn.exec(`
      CREATE TABLE fallo_padre (id INTEGER PRIMARY KEY);
      CREATE TABLE fallo_hijo (
        padre INTEGER REFERENCES fallo_padre (id) DEFERRABLE INITIALLY DEFERRED);
      CREATE TRIGGER fallo_al_confirmar AFTER INSERT ON pedidos
        BEGIN INSERT INTO fallo_hijo (padre) VALUES (NEW.id); END;`);
  } finally {
    conn.close();
  }
  return () => {
    const undo = new DatabaseSync(db);
    try {
      undo.exec("PRAGMA busy_timeout = 5000");
      undo.exec("DROP TRIGGER fallo_al_confirmar; DROP TABLE fallo_hijo; DROP TABLE fallo_padre");
    } finally {
      undo.close();
    }
  };
}

testWith("read", "write", "run", "env")(
  "storage: an order whose COMMIT fails gets internal, never ok, and is not stored; intake recovers",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const lines: string[] = [];
    await using daemon = await startInProcess({ db, maxPedidos: 10 }, {
      logger: new Logger({ level: "error", write: (line) => lines.push(line) }),
    });
    await using conn = await rawConnect(daemon.port);
    await conn.write(JSON.stringify({ ...ORDER, clave: "antes" }) + "\n");
    const before = await conn.readLine();
    assert.equal(before?.ok, true);

    const undo = failCommitsOfNewOrders(db);
    // Alone, and several at once (one group commit, then one commit each).
    const claves = ["solo", "junto-1", "junto-2", "junto-3"];
    await conn.write(JSON.stringify({ ...ORDER, clave: "solo" }) + "\n");
    const replies = [await conn.readLine()];
    await conn.write(
      claves.slice(1).map((clave) => JSON.stringify({ ...ORDER, clave })).join("\n") + "\n",
    );
    for (let i = 1; i < claves.length; i++) replies.push(await conn.readLine());
    for (const [i, reply] of replies.entries()) {
      assert.deepEqual(
        [reply?.ok, reply?.error],
        [false, "internal"],
        `${claves[i]}: ${JSON.stringify(reply)}`,
      );
    }
    // The failure is logged, once: a full disk refuses every order, and a
    // line for each (1,400 a second) buried everything else.
    const failures = lines.filter((line) => line.includes("order.insert_failed"));
    assert.equal(failures.length, 1, failures.join("\n"));
    // Reads go on, and show nothing of the refused orders.
    await conn.write('{"op":"LISTAR"}\n{"op":"STATS"}\n');
    const listed = (await conn.readLine())?.pedidos as { id: number }[];
    assert.deepEqual(listed.map((p) => p.id), [before?.id]);
    const s = (await conn.readLine())?.stats as Record<string, number>;
    assert.deepEqual([s.aceptados, s.pendientes! + s.en_proceso!], [1, 0], "none accepted or held");
    assert.deepEqual(readRows(db).map((row) => row.clave), ["antes"], "nothing else in the file");

    // Once commits work again the same claves are taken as new orders.
    undo();
    await conn.write(claves.map((clave) => JSON.stringify({ ...ORDER, clave })).join("\n") + "\n");
    for (const clave of claves) {
      const reply = await conn.readLine();
      assert.equal(reply?.ok, true, `${clave}: ${JSON.stringify(reply)}`);
      assert.equal(reply?.duplicado, undefined, `${clave} had not been stored`);
    }
    await waitUntil(async () => {
      const after = await stats(daemon.port);
      return after.listos === 5 && after.libres === after.capacidad;
    }, { what: "every order listo and every slot back" });
    assert.deepEqual(readRows(db).map((row) => row.clave), ["antes", ...claves]);
  },
);

testWith("read", "write", "run", "env")(
  "storage: a database file deleted while the daemon runs: orders get internal, never an ok that a restart would lose",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const lines: string[] = [];
    await using daemon = await startInProcess({ db, maxPedidos: 10 }, {
      logger: new Logger({ level: "error", write: (line) => lines.push(line) }),
    });
    await using conn = await rawConnect(daemon.port);
    await conn.write(JSON.stringify({ ...ORDER, clave: "antes" }) + "\n");
    assert.equal((await conn.readLine())?.ok, true);
    for (const suffix of ["", "-wal", "-shm"]) Deno.removeSync(`${db}${suffix}`);
    // Its commits would go to a file no one opens again: at the next start
    // the order would be gone and its id and clave given to another.
    for (const clave of ["despues-1", "despues-2"]) {
      await conn.write(JSON.stringify({ ...ORDER, clave }) + "\n");
      const reply = await conn.readLine();
      assert.deepEqual([reply?.ok, reply?.error], [false, "internal"], JSON.stringify(reply));
    }
    assert.match(lines.join("\n"), /its file was deleted while the daemon ran/);
    await conn.write('{"op":"PING"}\n');
    assert.equal((await conn.readLine())?.pong, true, "the daemon still answers");
  },
);

testWith("read", "write", "run", "env")(
  "storage: a WAL deleted while the daemon runs loses no acked order, not even to SIGKILL",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const acked: number[] = [];
    {
      const daemon = await startSubprocess(dir.path, ["--db", db, "--process-ms", "60000"]);
      try {
        await using conn = await rawConnect(daemon.port);
        const send = async (clave: string) => {
          await conn.write(JSON.stringify({ ...ORDER, clave }) + "\n");
          const reply = await conn.readLine();
          assert.equal(reply?.ok, true, JSON.stringify(reply));
          acked.push(reply?.id as number);
        };
        await send("antes");
        Deno.removeSync(`${db}-wal`);
        // Committed into the deleted WAL, then checkpointed into the file before each ok.
        for (const clave of ["despues-1", "despues-2", "despues-3"]) await send(clave);
      } finally {
        daemon.kill("SIGKILL");
        await daemon.exited();
      }
    }
    const rows = readRows(db);
    assert.deepEqual(rows.map((row) => row.id), acked, "every acked order is in the file");
  },
);

/** Folds the WAL of `db` into its file and empties it, from a connection of this process. */
function emptyWal(db: string): void {
  const conn = new DatabaseSync(db);
  try {
    conn.exec("PRAGMA busy_timeout = 5000");
    const done = conn.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number };
    assert.equal(done.busy, 0, "the WAL emptied");
  } finally {
    conn.close();
  }
}

/** Holds a write transaction on `db` from this process, like a foreign writer. */
function holdWriteLock(db: string): DatabaseSync {
  const other = new DatabaseSync(db);
  other.exec("PRAGMA busy_timeout = 5000"); // the daemon may be mid-commit
  other.exec("BEGIN IMMEDIATE");
  return other;
}

testWith("read", "write", "run", "env")(
  "storage: while a foreign writer holds the database, orders get internal (never ok) and intake recovers",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    await using daemon = await startInProcess({ db, maxPedidos: 100 });
    await using conn: RawConn = await rawConnect(daemon.port);
    const foreign = holdWriteLock(db);
    let released = false;
    try {
      await conn.write(JSON.stringify({ ...ORDER, clave: "locked" }) + "\n");
      const reply = await conn.readLine(15_000);
      assert.equal(reply?.error, "internal", "refused once the busy timeout passes");
      // Several at once: a batch is refused as a whole after one busy timeout
      // (5 s), not retried one order at a time (5 s each, the writer blocked
      // meanwhile: 8 orders would take 40 s).
      await using others = await rawConnect(daemon.port);
      const claves = Array.from({ length: 8 }, (_, i) => `locked-${i}`);
      await others.write(
        claves.map((clave) => JSON.stringify({ ...ORDER, clave })).join("\n") + "\n",
      );
      for (const clave of claves) {
        const refused = await others.readLine(12_000);
        assert.equal(refused?.error, "internal", `${clave}: ${JSON.stringify(refused)}`);
      }
      await conn.write('{"op":"LISTAR"}\n');
      assert.equal((await conn.readLine())?.ok, true, "reads go on");
      foreign.exec("ROLLBACK");
      foreign.close();
      released = true;
      await conn.write(JSON.stringify({ ...ORDER, clave: "locked" }) + "\n");
      const again = await conn.readLine();
      assert.equal(again?.ok, true);
      assert.equal(again?.duplicado, undefined, "the refused order had not been stored");
    } finally {
      if (!released) foreign.close();
    }
  },
);

privilegedTest("storage_faults_test", TMPFS, {
  name:
    "storage: a stop while the disk is full ends in time; orders whose end was not written run again",
  async fn() {
    await using fs = await mountTmpfs("3m");
    const db = `${fs.path}/p.db`;
    const ids: number[] = [];
    {
      const lines: string[] = [];
      const daemon = await startInProcess({
        db,
        workers: 2,
        processMs: { min: 2000, max: 2000 },
        drainTimeoutMs: 500,
      }, { logger: new Logger({ level: "error", write: (line) => lines.push(line) }) });
      try {
        await using conn = await rawConnect(daemon.port);
        await conn.write(`${JSON.stringify(ORDER)}\n`.repeat(4));
        for (let i = 0; i < 4; i++) ids.push((await conn.readLine())?.id as number);
        await waitUntil(
          () => readRows(db).filter((row) => row.estado === "en proceso").length === 2,
          {
            what: "the first two orders to start",
          },
        );
        // The WAL emptied into the file first: on a full disk the daemon empties
        // it itself to make room, and here it must find none.
        emptyWal(db);
        await fill(`${fs.path}/filler`); // while the first two are being processed
        // They end, and `listo` cannot be written.
        const refused = (id: number) =>
          lines.some((line) => new RegExp(`order\\.mark_finished_failed id=${id} `).test(line));
        await waitUntil(() => refused(ids[0]!) && refused(ids[1]!), {
          timeoutMs: 20_000,
          what: "the ends of both orders refused by the full disk",
        });
      } finally {
        // A stop that keeps retrying the writes would never end: bounded
        // generously (the drain is 0.5 s plus at most 1 s of grace).
        const summary = await within(daemon.server.shutdown(), 15_000, "the stop");
        assert.equal(summary.listos, 0, "no order counted listo without its commit");
        assert.equal(
          summary.pendientes,
          4,
          "the summary counts every order the next start processes, those whose end was not written too",
        );
        await daemon[Symbol.asyncDispose]();
      }
    }
    await Deno.remove(`${fs.path}/filler`);
    assert.deepEqual(
      readRows(db).map((row) => row.estado === "listo"),
      [false, false, false, false],
      "nothing is listo in the file",
    );
    await using again = await startInProcess({ db, processMs: { min: 0, max: 0 } });
    await using conn = await rawConnect(again.port);
    for (const id of ids) {
      await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":10000}\n`);
      const pedido = (await conn.readLine(12_000))?.pedido as Record<string, unknown>;
      assert.equal(pedido.estado, "listo", `order ${id} processed at the next start`);
    }
  },
});

testWith("read", "write", "run", "env")(
  "storage: a file at the process's size limit (ulimit -f) fails writes like a full disk: internal, the daemon stays up, nothing acknowledged is lost",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const args = ["--db", db, "--max-pedidos", "1000", "--process-ms", "100000"];
    const acked: number[] = [];
    {
      await using daemon = await startSubprocess(dir.path, [...args, "--drain-timeout-ms", "300"], {
        fileSizeLimit: 1_000_000,
      });
      await using conn = await rawConnect(daemon.port);
      // About 20 KB each: the WAL reaches the limit within a hundred orders.
      const big = JSON.stringify({
        cliente: "A",
        productos: Array(100).fill("x".repeat(200)),
        direccion: "d",
      });
      let refused: Record<string, unknown> | null = null;
      for (let i = 0; i < 200 && refused === null; i++) {
        await conn.write(`${big}\n`);
        const reply = await conn.readLine();
        if (reply?.ok === true) acked.push(reply.id as number);
        else refused = reply;
      }
      assert.equal(refused?.error, "internal", JSON.stringify(refused));
      assert.match(String(refused?.mensaje), /Nada fue aceptado/);
      await conn.write('{"op":"PING"}\n');
      assert.equal((await conn.readLine())?.pong, true, "the daemon is still up");
      daemon.kill("SIGTERM");
      const { code, stderr } = await daemon.exited();
      assert.equal(code, 0, stderr);
      assert.match(stderr, /ERROR storage\.file_size_limit/);
    }
    assert.ok(acked.length > 0, "some orders were taken before the limit");
    const rows = readRows(db);
    assert.deepEqual(
      acked.filter((id) => !rows.some((row) => row.id === id)),
      [],
      "every acknowledged order is there",
    );
  },
);

/**
 * Leaves four orders in `db` (on a tmpfs at `dir`), two `en proceso` (a
 * daemon run with `args`, killed with SIGKILL while they run) and two
 * `pendiente`; then empties the WAL (kept, with its index, by the
 * connection returned, to be held open) and fills the disk, so that every
 * write of the next start needs space that is not there.
 */
async function leftRunningOnAFullDisk(
  dir: string,
  db: string,
  args: string[],
  cliente: string,
  /** Changes the file before the disk is filled. */
  change?: (db: DatabaseSync) => void,
): Promise<{ ids: number[]; held: DatabaseSync }> {
  const ids: number[] = [];
  {
    await using daemon = await startSubprocess(dir, ["--db", db, "--workers", "2", ...args]);
    await using conn = await rawConnect(daemon.port);
    for (let i = 0; i < 4; i++) {
      await conn.write(JSON.stringify({ ...ORDER, cliente, clave: `k${i}` }) + "\n");
      ids.push((await conn.readLine())?.id as number);
    }
    await waitUntil(async () => (await stats(daemon.port)).en_proceso === 2, {
      timeoutMs: 10_000,
      what: "two orders running",
    });
    daemon.kill("SIGKILL");
    await daemon.exited();
  }
  assert.deepEqual(readRows(db).map((row) => row.estado).sort(), [
    "en proceso",
    "en proceso",
    "pendiente",
    "pendiente",
  ]);
  const held = new DatabaseSync(db);
  change?.(held);
  held.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  assert.equal(Deno.statSync(`${db}-wal`).size, 0);
  await fill(`${dir}/filler`);
  return { ids, held };
}

privilegedTest("storage_faults_test", TMPFS, {
  name:
    "storage: a restart on a full disk with orders left en proceso starts, serves reads, and finishes them once space returns",
  async fn() {
    await using fs = await mountTmpfs("3m");
    const db = `${fs.path}/p.db`;
    const { ids, held } = await leftRunningOnAFullDisk(
      fs.path,
      db,
      ["--process-ms", "60000"],
      "Ana",
    );
    using _held = held;
    // The restart cannot put them back `pendiente`: it starts all the same.
    await using daemon = await startSubprocess(fs.path, ["--db", db, "--workers", "2"], {
      env: { PEDIDOS_PROCESS_MS: "0" },
    });
    await using conn = await rawConnect(daemon.port);
    await conn.write(`{"op":"ESTADO","id":${ids[0]}}\n{"op":"LISTAR","limit":10}\n`);
    assert.equal((await conn.readLine())?.ok, true, "ESTADO on a full disk");
    assert.equal(((await conn.readLine())?.pedidos as unknown[]).length, 4, "LISTAR");
    // New orders: taken while the WAL has room, then refused.
    for (let i = 0;; i++) {
      assert.ok(i < 400, "the disk never refused an order");
      await conn.write(JSON.stringify({ ...ORDER, clave: `full-${i}` }) + "\n");
      const reply = await conn.readLine(15_000);
      if (reply?.ok !== true) {
        assert.equal(reply?.error, "internal", JSON.stringify(reply));
        break;
      }
      ids.push(reply.id as number);
    }
    // Space comes back: every order ends `listo`, and the daemon says it writes again.
    await Deno.remove(`${fs.path}/filler`);
    for (const id of ids) {
      await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":15000}\n`);
      const pedido = (await conn.readLine(17_000))?.pedido as Record<string, unknown>;
      assert.equal(pedido?.estado, "listo", `order ${id}: ${JSON.stringify(pedido)}`);
    }
    daemon.kill("SIGTERM");
    const { code, stderr } = await daemon.exited();
    assert.equal(code, 0, stderr);
    assert.match(stderr, /order\.mark_pending_failed/);
    assert.match(stderr, /storage\.recovered/);
    const rows = readRows(db);
    assert.deepEqual(rows.map((row) => row.id), ids, "every order acknowledged, none other");
    assert.ok(rows.every((row) => row.estado === "listo"), JSON.stringify(rows));
  },
});

privilegedTest("storage_faults_test", TMPFS, {
  name:
    "storage: a restart on a full disk that must end orders error (processor module, the attempt past the last allowed cut short) starts, and ends them once space returns",
  async fn() {
    await using fs = await mountTmpfs("3m");
    const db = `${fs.path}/p.db`;
    const processor = `${ROOT}tests/fixtures/processors/scripted.ts`;
    const args = ["--processor", processor, "--max-intentos", "1"];
    // Their attempt cut short is the one more given past --max-intentos
    // (the attempt before it was cut short too): they end error, not run again.
    const { ids, held } = await leftRunningOnAFullDisk(
      fs.path,
      db,
      args,
      "wait-60000",
      (file) => file.exec("UPDATE pedidos SET intentos = 2 WHERE estado = 'en proceso'"),
    );
    using _held = held;
    // (The two waiting then run for a minute: the stop cuts them short.)
    await using daemon = await startSubprocess(fs.path, [
      "--db",
      db,
      "--workers",
      "2",
      "--drain-timeout-ms",
      "100",
      ...args,
    ]);
    await using conn = await rawConnect(daemon.port);
    await conn.write(`{"op":"ESTADO","id":${ids[0]}}\n`);
    assert.equal((await conn.readLine())?.ok, true, "ESTADO on a full disk");
    await Deno.remove(`${fs.path}/filler`);
    // The two cut short end `error`, not run again; the two waiting run.
    const ended = [];
    for (const id of ids.slice(0, 2)) {
      await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":15000}\n`);
      ended.push((await conn.readLine(17_000))?.pedido as Record<string, unknown>);
    }
    assert.deepEqual(ended.map((pedido) => pedido?.estado), ["error", "error"]);
    assert.match(
      String(ended[0]?.detalle_error),
      /then attempt 2, the one more given, ended before each did/,
    );
    daemon.kill("SIGTERM");
    const { code, stderr } = await daemon.exited();
    assert.equal(code, 0, stderr);
    assert.match(stderr, /order\.mark_finished_failed/);
    assert.match(stderr, /storage\.recovered/);
  },
});

testWith("read", "write", "run", "env")(
  "storage: a database whose unfinished orders cannot be read (a corrupt page) is refused at start with exit 2, naming the file",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    {
      await using daemon = await startSubprocess(dir.path, ["--db", db, "--process-ms", "60000"]);
      await using conn = await rawConnect(daemon.port);
      for (let i = 0; i < 3; i++) {
        await conn.write(JSON.stringify(ORDER) + "\n");
        assert.equal((await conn.readLine())?.ok, true);
      }
      daemon.kill("SIGKILL");
      await daemon.exited();
    }
    // The index the unfinished orders are read by, overwritten with junk.
    emptyWal(db);
    let offset: number;
    {
      using file = new DatabaseSync(db, { readOnly: true });
      const { rootpage } = file.prepare(
        "SELECT rootpage FROM sqlite_master WHERE name = 'pedidos_estado_id'",
      ).get() as { rootpage: number };
      const { page_size } = file.prepare("PRAGMA page_size").get() as { page_size: number };
      offset = (rootpage - 1) * page_size;
    }
    using handle = await Deno.open(db, { write: true });
    await handle.seek(offset, Deno.SeekMode.Start);
    await handle.write(new Uint8Array(512).fill(0x55));
    const result = await runMain(dir.path, ["server", "--port", "0", "--db", db]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, "", "never ready");
    assert.match(result.stderr, /^pedidos server: cannot start: Cannot open database/m);
    assert.ok(result.stderr.includes(db), `names the file: ${result.stderr}`);
    assert.match(result.stderr, /malformed/);
  },
);

/**
 * Makes `path` a file this process cannot open for writing: mode 444 does it
 * for any user but root; as root, the immutable attribute (`chattr +i`) does.
 *
 * @returns how to undo it, or null when neither stops this process.
 */
async function makeUnwritable(path: string): Promise<(() => Promise<void>) | null> {
  const writable = () => {
    try {
      Deno.openSync(path, { write: true }).close();
      return true;
    } catch {
      return false;
    }
  };
  const mode = Deno.statSync(path).mode! & 0o777;
  Deno.chmodSync(path, 0o444);
  if (!writable()) return () => Promise.resolve(Deno.chmodSync(path, mode));
  Deno.chmodSync(path, mode);
  const chattr = (flag: string) =>
    new Deno.Command("chattr", { args: [flag, path], stdout: "null", stderr: "null" }).output()
      .then((out) => out.success, () => false);
  if (!await chattr("+i")) return null;
  if (!writable()) return async () => void await chattr("-i");
  await chattr("-i");
  return null;
}

/** Whether a file can be made unwritable to this process here (see makeUnwritable). */
const UNWRITABLE_FILE = await (async () => {
  const name = "a file this process cannot write (chmod 444, or chattr +i as root)";
  try {
    const dir = await Deno.makeTempDir({ prefix: "pedidos-unwritable-" });
    try {
      Deno.writeFileSync(`${dir}/probe`, new Uint8Array());
      const undo = await makeUnwritable(`${dir}/probe`);
      await undo?.();
      return { name, missing: undo === null ? "chattr +i is not available or not obeyed" : null };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } catch (error) {
    return { name, missing: error instanceof Error ? error.message : String(error) };
  }
})();

privilegedTest("storage_faults_test", UNWRITABLE_FILE, {
  name:
    "storage: a database file the daemon may not write (chmod 444) is refused at start with exit 2, not served with internal to every order",
  async fn() {
    await using dir = await tempDir();
    const db = `${dir.path}/solo_lectura.db`;
    {
      await using daemon = await startSubprocess(dir.path, ["--db", db]);
      await using conn = await rawConnect(daemon.port);
      await conn.write(JSON.stringify(ORDER) + "\n");
      assert.equal((await conn.readLine())?.ok, true);
      daemon.kill("SIGTERM");
      assert.equal((await daemon.exited()).code, 0);
    }
    // SQLite opens a file it may not write read-only, without a word: the
    // daemon used to start, print its ready line and answer every order internal.
    const undo = await makeUnwritable(db);
    assert.ok(undo !== null, "the probe said it could be made unwritable");
    try {
      // A daemon that starts anyway is killed after 20 s: the test then fails.
      const result = await runMain(dir.path, ["server", "--port", "0", "--db", db], {
        timeoutMs: 20_000,
      });
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, "", "never ready");
      assert.match(
        result.stderr,
        /^pedidos server: cannot start: Cannot open database ".*solo_lectura\.db": file is not writable/m,
      );
    } finally {
      await undo();
    }
    assert.equal(readRows(db).length, 1, "the file is as it was");
  },
});

testWith("read", "write", "run", "env")(
  "storage: a --db that names a FIFO is refused at start with exit 2, not a start that hangs for good, deaf to SIGTERM",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/tuberia.db`;
    const made = await new Deno.Command("mkfifo", { args: [db] }).output();
    assert.ok(made.success, "mkfifo");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${ROOT}main.ts`, "server", "--port", "0", "--db", db],
      cwd: dir.path,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    // Opening the FIFO to lock it blocked the start for good, signals unheard:
    // only SIGKILL ended it. Killed after 20 s, the test fails instead of hanging.
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const out = await child.output();
    clearTimeout(timer);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, stderr);
    assert.equal(new TextDecoder().decode(out.stdout), "", "never ready");
    assert.match(
      stderr,
      /cannot start: Cannot open database ".*tuberia\.db": it is not a regular file \(a FIFO\)/,
    );
  },
);
