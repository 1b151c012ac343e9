/**
 * Several daemons on one PostgreSQL database (§9), each a real subprocess:
 * one capacity, one queue, waits and accounts across daemons, and a
 * daemon with another capacity refused.
 */

import assert from "node:assert/strict";
import { ask, order, readPgRows, startCluster } from "./cluster_util.ts";
import { freshDatabase, pgTest } from "./postgres_util.ts";
import { rawConnect, ROOT, startInProcess, waitUntil } from "./test_util.ts";
import { SCHEMA_VERSION } from "../server/store/postgres/postgres_schema.ts";

pgTest({
  name: "three daemons on one database: a concurrent burst to all three never exceeds the capacity",
  async fn() {
    // Nothing finishes during the burst (each order takes a minute), so exactly
    // the capacity is accepted, whichever daemons took them.
    await using cluster = await startCluster(3, [
      "--max-pedidos",
      "10",
      "--process-ms",
      "60000",
      "--drain-timeout-ms",
      "100",
    ]);
    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) => ask(cluster.daemons[i % 3]!.port, order(`b${i}`))),
    );
    const accepted = replies.filter((r) => r.ok === true);
    assert.equal(accepted.length, 10, JSON.stringify(replies.filter((r) => r.ok !== true)[0]));
    assert.ok(replies.every((r) => r.ok === true || r.error === "queue_full"));
    const rows = await readPgRows(cluster.db);
    assert.equal(rows.length, 10, "nothing refused was stored");
    assert.deepEqual(
      rows.map((r) => r.id).sort((a, b) => a - b),
      accepted.map((r) => r.id).sort((a, b) => a - b),
    );
    // Every daemon reports the cluster's counts; a PEDIDO to any is refused.
    for (const daemon of cluster.daemons) {
      const { stats } = await ask(daemon.port, { op: "STATS" });
      assert.equal(stats.capacidad, 10);
      assert.equal(stats.libres, 0);
      assert.equal(stats.pendientes + stats.en_proceso, 10);
      assert.equal((await ask(daemon.port, order())).error, "queue_full");
    }
    const rechazados = await Promise.all(
      cluster.daemons.map(async (d) => (await ask(d.port, { op: "STATS" })).stats.rechazados),
    );
    assert.equal(rechazados.reduce((a: number, b: number) => a + b, 0), 50 + 3);
  },
});

pgTest({
  name:
    "an order accepted by A is processed by the cluster and waited on from B; a LOGIN on A works on C",
  async fn() {
    await using cluster = await startCluster(3, ["--process-ms", "200", "--max-pedidos", "20"]);
    const [a, b, c] = cluster.daemons as [
      typeof cluster.daemons[0],
      typeof cluster.daemons[0],
      typeof cluster.daemons[0],
    ];
    const placed = await ask(a.port, order("espera-1"));
    assert.equal(placed.ok, true);
    const waited = await ask(b.port, { op: "ESTADO", id: placed.id, esperar: true }, 20_000);
    assert.equal(waited.ok, true);
    assert.equal(waited.pedido.estado, "listo", JSON.stringify(waited));
    assert.equal(waited.timeout, undefined);
    // The same clave on another daemon names the same order.
    const again = await ask(c.port, order("espera-1"));
    assert.deepEqual([again.id, again.duplicado], [placed.id, true]);
    assert.deepEqual(
      (await ask(c.port, { op: "LISTAR" })).pedidos.map((p: { id: number }) => p.id),
      [placed.id],
    );

    const credentials = { usuario: "ana", password: "s3cret-pass" };
    assert.equal((await ask(a.port, { op: "REGISTRO", data: credentials })).ok, true);
    assert.equal((await ask(b.port, { op: "REGISTRO", data: credentials })).error, "user_exists");
    const login = await ask(a.port, { op: "LOGIN", data: credentials });
    assert.equal(login.ok, true);
    const tareas = await ask(c.port, { op: "GET_TAREAS_HTML", data: { token: login.token } });
    assert.equal(tareas.ok, true, JSON.stringify(tareas));
    assert.match(tareas.html, /ana/);
  },
});

pgTest({
  name: "orders pile up on one daemon's intake and are processed by every daemon's workers",
  async fn() {
    await using cluster = await startCluster(3, [
      "--process-ms",
      "150",
      "--workers",
      "1",
      "--max-pedidos",
      "100",
    ]);
    const a = cluster.daemons[0]!;
    const ids: number[] = [];
    for (let i = 0; i < 24; i++) ids.push((await ask(a.port, order())).id);
    await waitUntil(async () => (await readPgRows(cluster.db)).every((r) => r.estado === "listo"), {
      timeoutMs: 30_000,
      what: "every order listo",
    });
    const finished = await Promise.all(
      cluster.daemons.map(async (d) => (await ask(d.port, { op: "STATS" })).stats.listos),
    );
    assert.equal(finished.reduce((x: number, y: number) => x + y, 0), 24);
    assert.ok(finished.every((n: number) => n > 0), `each daemon processed some: ${finished}`);
    const rows = await readPgRows(cluster.db);
    assert.ok(rows.every((r) => r.intentos === 1), "each order was processed once");
  },
});

pgTest({
  name:
    "a daemon started with another --max-pedidos than the daemons running refuses to start, naming the value in force",
  async fn() {
    await using cluster = await startCluster(1, ["--max-pedidos", "6"]);
    await using other = await cluster.start("B", ["--max-pedidos", "7"], { ready: false });
    assert.equal(await other.exited, 2);
    assert.match(other.output(), /capacity in force is 6\b/);
    assert.doesNotMatch(other.output(), /listening on/);
    // The one running is unaffected.
    assert.equal((await ask(cluster.daemons[0]!.port, { op: "STATS" })).stats.capacidad, 6);
  },
});

pgTest({
  name:
    "after every daemon was killed, another --max-pedidos is refused until their lease runs out, and the message says so",
  async fn() {
    await using cluster = await startCluster(1, ["--max-pedidos", "6", "--lease-ms", "3000"]);
    const a = cluster.daemons[0]!;
    a.kill("SIGKILL");
    await a.exited;
    await using early = await cluster.start("B", ["--max-pedidos", "7"], { ready: false });
    assert.equal(await early.exited, 2);
    const said = early.output().match(
      /capacity in force is 6 \(--max-pedidos of the daemon alive on this database\), not 7: .*killed .*until its lease runs out: (\d+) s more here/,
    );
    assert.ok(said, early.output());
    assert.ok(Number(said[1]) <= 3, said[0]);
    // Once A's lease has run out, the new value is taken.
    await waitUntil(async () => {
      const rows = await cluster.db.sql`SELECT 1 FROM pedidos_nodos
        WHERE visto > clock_timestamp() - lease_ms * interval '1 millisecond'`;
      return rows.length === 0;
    }, { timeoutMs: 10_000, what: "A's lease run out" });
    const b = await cluster.start("C", ["--max-pedidos", "7"]);
    assert.equal((await ask(b.port, { op: "STATS" })).stats.capacidad, 7);
  },
});

pgTest({
  name:
    "a daemon paused past its lease while another --max-pedidos came into force stops on its own, exit 2, naming the value in force",
  async fn() {
    await using cluster = await startCluster(1, ["--lease-ms", "900", "--max-pedidos", "5"]);
    const a = cluster.daemons[0]!;
    const placed = await ask(a.port, order());
    assert.equal(placed.ok, true);
    a.kill("SIGSTOP");
    await waitUntil(async () => {
      const rows = await cluster.db.sql`SELECT 1 FROM pedidos_nodos
        WHERE visto > clock_timestamp() - lease_ms * interval '1 millisecond'`;
      return rows.length === 0;
    }, { timeoutMs: 10_000, what: "A's lease run out" });
    // A counts as gone: C's value comes into force.
    const c = await cluster.start("C", ["--max-pedidos", "9"]);
    a.kill("SIGCONT");
    assert.equal(await a.exited, 2, a.output());
    assert.match(a.output(), /capacity in force is now 9, not this daemon's 5/);
    // What A had accepted is not lost: the cluster finishes it.
    const done = await ask(c.port, { op: "ESTADO", id: placed.id, esperar: true }, 20_000);
    assert.equal(done.pedido.estado, "listo", JSON.stringify(done));
    assert.equal((await ask(c.port, { op: "STATS" })).stats.capacidad, 9);
  },
});

pgTest({
  name:
    "while a daemon with an old --max-pedidos is still alive, one with the value in force may start and one with the old value may not",
  async fn() {
    await using cluster = await startCluster(1, ["--max-pedidos", "9"]);
    // A daemon back from a pause, with the capacity that was in force before (it stops at its next
    // heartbeat; here it is only its row, seen alive).
    await cluster.db.sql`INSERT INTO pedidos_nodos (id, capacidad, lease_ms, inicio, visto, pid)
      VALUES ('returned', 5, 60000, clock_timestamp(), clock_timestamp(), 1)`;
    const agreeing = await cluster.start("D", ["--max-pedidos", "9"]);
    assert.equal((await ask(agreeing.port, { op: "STATS" })).stats.capacidad, 9);
    await using old = await cluster.start("E", ["--max-pedidos", "5"], { ready: false });
    assert.equal(await old.exited, 2);
    assert.match(old.output(), /capacity in force is 9\b.*not 5/);
  },
});

pgTest({
  name: "three daemons started at once on an empty database create its schema once",
  async fn() {
    await using cluster = await startCluster(3, []);
    const versions = await cluster.db.sql`SELECT version FROM pedidos_esquema ORDER BY version`;
    // One row, at the version this code knows: the schema was made once.
    assert.deepEqual(versions.map((row) => row.version), [SCHEMA_VERSION]);
    const nodes = await cluster.db.sql`SELECT count(*)::int AS n FROM pedidos_nodos`;
    assert.equal(nodes[0]!.n, 3);
    // A daemon that stops leaves the cluster.
    const a = cluster.daemons[0]!;
    a.kill("SIGTERM");
    assert.equal(await a.exited, 0);
    const left = await cluster.db.sql`SELECT count(*)::int AS n FROM pedidos_nodos`;
    assert.equal(left[0]!.n, 2);
  },
});

pgTest({
  name:
    "a daemon that stops gives the orders it holds back to the queue, and another daemon finishes them at once",
  async fn() {
    await using cluster = await startCluster(0, ["--workers", "2", "--max-pedidos", "20"]);
    const stopping = await cluster.start("A", [
      "--process-ms",
      "60000",
      "--drain-timeout-ms",
      "200",
    ]);
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await ask(stopping.port, order())).id);
    // Two run on A's two workers; the third waits on A's queue (claimed only when a worker frees).
    await waitUntil(
      async () =>
        (await readPgRows(cluster.db)).filter((r) => r.estado === "en proceso").length === 2,
      {
        what: "A's workers to take two orders",
      },
    );
    // B's lease would keep them from it for 30 s: only the stop gives them back sooner.
    const other = await cluster.start("B", ["--process-ms", "0", "--lease-ms", "30000"]);
    stopping.kill("SIGTERM");
    assert.equal(await stopping.exited, 0);
    // pendientes: the queue the database had as A stopped, which B is taking from meanwhile.
    assert.match(stopping.output(), /resumen .*listos=0 .*pendientes=[0-3] /);
    await waitUntil(
      async () => (await readPgRows(cluster.db)).every((r) => r.estado === "listo"),
      { timeoutMs: 10_000, what: "B to finish them" },
    );
    const rows = await readPgRows(cluster.db);
    assert.deepEqual(rows.map((r) => r.intentos), [2, 2, 1], "an attempt cut short counts");
    assert.equal((await ask(other.port, { op: "STATS" })).stats.listos, 3);
  },
});

pgTest({
  name:
    "a daemon whose drain outlasts its lease keeps renewing it: no other daemon takes its running orders over, each runs once",
  async fn() {
    await using cluster = await startCluster(0, [
      "--workers",
      "2",
      "--max-pedidos",
      "20",
      "--lease-ms",
      "600",
    ]);
    const stopping = await cluster.start("A", [
      "--process-ms",
      "2500",
      "--drain-timeout-ms",
      "20000",
    ]);
    for (let i = 0; i < 2; i++) assert.equal((await ask(stopping.port, order())).ok, true);
    await waitUntil(
      async () =>
        (await readPgRows(cluster.db)).filter((r) => r.estado === "en proceso").length === 2,
      { what: "A's workers to take both orders" },
    );
    // B polls for leases run out every 300 ms: it would take them over 600 ms after A's last renewal.
    const other = await cluster.start("B", ["--process-ms", "0"]);
    stopping.kill("SIGTERM");
    assert.equal(await stopping.exited, 0);
    assert.match(stopping.output(), /resumen .*listos=2 /, stopping.output());
    const rows = await readPgRows(cluster.db);
    assert.deepEqual(rows.map((r) => [r.estado, r.intentos]), [["listo", 1], ["listo", 1]]);
    assert.doesNotMatch(other.output(), /taken_over/);
    assert.equal((await ask(other.port, { op: "STATS" })).stats.listos, 0);
  },
});

pgTest({
  name:
    "on PostgreSQL a processor module's result is stored, and a failed attempt waits out its backoff before any daemon claims it again",
  async fn() {
    const processor = `${ROOT}tests/fixtures/processors/scripted.ts`;
    await using cluster = await startCluster(1, [
      "--processor",
      processor,
      "--retry-backoff-ms",
      "400",
      "--workers",
      "1",
    ]);
    const port = cluster.daemons[0]!.port;
    const ok = await ask(port, { ...order(), cliente: "ok" });
    const done = await ask(port, { op: "ESTADO", id: ok.id, esperar: true });
    assert.deepEqual([done.pedido.estado, done.pedido.resultado], ["listo", {
      total: 1,
      intento: 1,
    }]);
    // Fails its first attempt, goes back to the queue, and is claimed again only after the backoff.
    const flaky = await ask(port, { ...order(), cliente: "flaky-2" });
    const later = await ask(port, { op: "ESTADO", id: flaky.id, esperar: true });
    assert.equal(later.pedido.estado, "listo");
    assert.equal(later.pedido.intentos, 2);
    const [first, second] = later.pedido.resultado.starts as number[];
    assert.ok(
      second! - first! >= 400 * 0.75,
      `the second attempt started ${second! - first!} ms after the first`,
    );
    // An error message PostgreSQL's text cannot hold as is (a NUL, a lone surrogate) still
    // ends the order: error, the message whole but those two, as U+FFFD.
    const odd = await ask(port, { ...order(), cliente: "throw-odd" });
    const failed = await ask(port, { op: "ESTADO", id: odd.id, esperar: true, timeout_ms: 20_000 });
    assert.deepEqual([failed.pedido.estado, failed.pedido.detalle_error], [
      "error",
      "boom\ufffdtail \ufffd!",
    ]);
  },
});

pgTest({
  name:
    "on PostgreSQL an attempt that loops without yielding past its time is tried again up to --max-intentos, as on SQLite",
  async fn() {
    const processor = `${ROOT}tests/fixtures/processors/scripted.ts`;
    await using cluster = await startCluster(1, [
      "--processor",
      processor,
      "--process-timeout-ms",
      "200",
      "--max-intentos",
      "2",
      "--retry-backoff-ms",
      "10",
      "--workers",
      "2",
    ]);
    const port = cluster.daemons[0]!.port;
    // Each attempt spins 2.5 s: aborted at 200 ms, its worker replaced 1 s later.
    const spun = await ask(port, { ...order(), cliente: "spin-2500" });
    const ended = await ask(port, { op: "ESTADO", id: spun.id, esperar: true }, 20_000);
    assert.deepEqual([ended.pedido.estado, ended.pedido.intentos], ["error", 2]);
    assert.match(ended.pedido.detalle_error, /the module loops without yielding/);
    assert.doesNotMatch(ended.pedido.detalle_error, /not tried again/);
    const next = await ask(port, { ...order(), cliente: "ok" });
    const done = await ask(port, { op: "ESTADO", id: next.id, esperar: true }, 20_000);
    assert.equal(done.pedido.estado, "listo", "the replaced workers run the next order");
  },
});

pgTest({
  name:
    "an order accepted by A and cancelled from B: A's waiter wakes with cancelado and the cluster's slot is free again",
  async fn() {
    await using cluster = await startCluster(2, [
      "--workers",
      "1",
      "--process-ms",
      "60000",
      "--max-pedidos",
      "3",
    ]);
    const [a, b] = cluster.daemons as [typeof cluster.daemons[0], typeof cluster.daemons[0]];
    // Both workers busy (one order each), then one order waits: the cluster is full.
    assert.equal((await ask(a.port, order("ocupa-1"))).ok, true);
    assert.equal((await ask(b.port, order("ocupa-2"))).ok, true);
    await waitUntil(
      async () =>
        (await readPgRows(cluster.db)).filter((r) => r.estado === "en proceso").length === 2,
      { what: "both workers busy" },
    );
    const target = await ask(a.port, order("espera-cancelar"));
    assert.equal(target.ok, true);
    assert.equal((await ask(a.port, order("sobra"))).error, "queue_full");

    const waiting = ask(a.port, { op: "ESTADO", id: target.id, esperar: true }, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 200)); // A's waiter is in place
    const cancelled = await ask(b.port, { op: "CANCELAR", id: target.id });
    assert.equal(cancelled.ok, true, JSON.stringify(cancelled));
    assert.equal(cancelled.pedido.estado, "cancelado");
    const woke = await waiting;
    assert.equal(woke.pedido.estado, "cancelado", JSON.stringify(woke));
    assert.equal(woke.timeout, undefined, "woken by the cancel, not by its timeout");
    // A second cancel, from A, says why not; the slot it freed takes a new order on A.
    assert.equal((await ask(a.port, { op: "CANCELAR", id: target.id })).error, "not_cancellable");
    assert.equal((await ask(a.port, order("sobra"))).ok, true);
    assert.equal((await ask(b.port, { op: "STATS" })).stats.libres, 0);
  },
});

pgTest({
  name:
    "an order that ended error on A is retried from B (REINTENTAR) and any daemon runs it again to listo",
  async fn() {
    const processor = `${ROOT}tests/fixtures/processors/scripted.ts`;
    await using cluster = await startCluster(2, [
      "--processor",
      processor,
      "--max-intentos",
      "1",
      "--workers",
      "1",
    ]);
    const [a, b] = cluster.daemons as [typeof cluster.daemons[0], typeof cluster.daemons[0]];
    // Fails its first attempt; with one attempt allowed it ends error.
    const placed = await ask(a.port, { ...order("reintentar-1"), cliente: "flaky-2" });
    assert.equal(placed.ok, true);
    const failed = await ask(a.port, { op: "ESTADO", id: placed.id, esperar: true }, 20_000);
    assert.equal(failed.pedido.estado, "error", JSON.stringify(failed));
    assert.match(failed.pedido.detalle_error, /attempt 1 failed/);
    assert.equal(
      (await ask(b.port, { op: "REINTENTAR", id: placed.id + 1000 })).error,
      "not_found",
    );
    const retried = await ask(b.port, { op: "REINTENTAR", id: placed.id });
    assert.equal(retried.ok, true, JSON.stringify(retried));
    const done = await ask(a.port, { op: "ESTADO", id: placed.id, esperar: true }, 20_000);
    assert.equal(done.pedido.estado, "listo", JSON.stringify(done));
    assert.equal(done.pedido.intentos, 2, "the retry is one more attempt");
    assert.equal(done.pedido.detalle_error, null);
    assert.equal((await ask(b.port, { op: "REINTENTAR", id: placed.id })).error, "not_retryable");
    // An id past 2^53 names no order: not found, as on SQLite (not a bigint out of range).
    for (const op of ["ESTADO", "CANCELAR", "REINTENTAR"]) {
      assert.equal((await ask(a.port, { op, id: 1e20 })).error, "not_found", op);
    }
  },
});

pgTest({
  name: "a TASK is refused with queue_full on a daemon with room while the cluster is full",
  async fn() {
    await using cluster = await startCluster(2, [
      "--workers",
      "2",
      "--process-ms",
      "60000",
      "--max-pedidos",
      "3",
    ]);
    const [a, b] = cluster.daemons as [typeof cluster.daemons[0], typeof cluster.daemons[0]];
    const task = { op: "TASK", data: { task: { name: "sum", args: [1, 2] } } };
    assert.deepEqual(await ask(b.port, task), { ok: true, result: 3 }, "room: it runs");
    for (let i = 0; i < 3; i++) assert.equal((await ask(a.port, order(`llena-${i}`))).ok, true);
    assert.equal((await ask(b.port, { op: "STATS" })).stats.libres, 0, "the cluster is full");
    // B itself holds at most one of the three: its own gate has room, the cluster has none.
    const refused = await ask(b.port, task, 5_000);
    assert.equal(refused.error, "queue_full", JSON.stringify(refused));
  },
});

pgTest({
  name:
    "on PostgreSQL a REINTENTAR that is refused holds no slot: a PEDIDO sent with it on a daemon with one slot is taken",
  async fn() {
    await using cluster = await startCluster(1, ["--max-pedidos", "1", "--process-ms", "0"]);
    const [daemon] = cluster.daemons;
    const { id } = await ask(daemon!.port, order());
    for (let round = 0; round < 10; round++) {
      await waitUntil(
        async () => (await readPgRows(cluster.db)).every((r) => r.estado === "listo"),
        {
          what: "every order listo",
        },
      );
      // The one slot is free; the REINTENTAR of a listo order cannot take it.
      const [retried, taken] = await Promise.all([
        ask(daemon!.port, { op: "REINTENTAR", id }),
        ask(daemon!.port, order()),
      ]);
      assert.equal(retried.error, "not_retryable");
      assert.equal(taken.ok, true, `round ${round}: ${JSON.stringify(taken)}`);
    }
  },
});

pgTest({
  name:
    "on PostgreSQL orders with a clave pipelined on one connection take effect in request order: ids, capacity and duplicates as if each waited",
  async fn() {
    await using cluster = await startCluster(1, [
      "--workers",
      "1",
      "--process-ms",
      "60000",
      "--max-pedidos",
      "8",
    ]);
    const [daemon] = cluster.daemons;
    await using conn = await rawConnect(daemon!.port);
    const line = (cliente: string, clave: string | null) =>
      JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1", clave }) + "\n";
    // Two orders with one clave: the first sent is the one stored, the second its duplicate.
    await conn.write(line("first", "k-1") + line("second", "k-1"));
    const [made, again] = [await conn.readLine(), await conn.readLine()];
    assert.equal(made?.ok, true);
    assert.equal(made?.duplicado, undefined, JSON.stringify(made));
    assert.equal(again?.duplicado, true, JSON.stringify(again));
    assert.equal(again?.id, made?.id);
    await conn.write(`{"op":"ESTADO","id":${made?.id}}\n`);
    assert.equal(((await conn.readLine())?.pedido as { cliente: string }).cliente, "first");
    // Eight more with a clave on the first: seven fit, in order, and the last is refused.
    await conn.write(
      Array.from({ length: 8 }, (_, i) => line(`o${i}`, i === 0 ? "k-2" : null)).join(""),
    );
    const replies = [];
    for (let i = 0; i < 8; i++) replies.push(await conn.readLine());
    assert.deepEqual(
      replies.map((r) => r?.ok === true ? "ok" : r?.error),
      [...Array(7).fill("ok"), "queue_full"],
    );
    const ids = replies.slice(0, 7).map((r) => r?.id as number);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `ids in request order: ${ids}`);
  },
});

pgTest({
  name: "cluster: the stop summary's pendientes is the queue the database is left with",
  async fn() {
    await using db = await freshDatabase();
    const daemon = await startInProcess({
      db: db.url,
      workers: 1,
      maxPedidos: 10,
      processMs: { min: 60_000, max: 60_000 },
      drainTimeoutMs: 100,
    });
    let summary;
    try {
      await using conn = await rawConnect(daemon.port);
      await conn.write(`${JSON.stringify(order())}\n`.repeat(3));
      for (let i = 0; i < 3; i++) assert.equal((await conn.readLine())?.ok, true);
      await waitUntil(async () => {
        const [row] = await db
          .sql`SELECT count(*)::int AS n FROM pedidos WHERE estado = 'en proceso'`;
        return row?.n === 1;
      }, { what: "one order running" });
    } finally {
      summary = await daemon.server.shutdown();
      await daemon[Symbol.asyncDispose]();
    }
    // The one running is given back at the drain's end; the two waiting were never taken here.
    const [row] = await db.sql`SELECT count(*)::int AS n FROM pedidos WHERE estado = 'pendiente'`;
    assert.equal(row?.n, 3);
    assert.equal(summary.pendientes, 3, JSON.stringify(summary));
  },
});

pgTest({
  name:
    "after an operator empties pedidos with TRUNCATE, the cluster takes orders again at once, on the daemon that was running them too: its capacity is free, as STATS says",
  async fn() {
    // Leases renewed every 20 s: the daemon must hear of the TRUNCATE, not wait for its renewal.
    await using cluster = await startCluster(1, [
      "--max-pedidos",
      "2",
      "--process-ms",
      "60000",
      "--drain-timeout-ms",
      "100",
      "--lease-ms",
      "60000",
    ]);
    const [a] = cluster.daemons as [typeof cluster.daemons[0]];
    assert.equal((await ask(a.port, order())).ok, true);
    assert.equal((await ask(a.port, order())).ok, true);
    assert.equal((await ask(a.port, order())).error, "queue_full", "full");
    // Both run on A, holding both slots of its local gate.
    await waitUntil(
      async () => (await readPgRows(cluster.db)).every((r) => r.estado === "en proceso"),
      { what: "both orders en proceso on A" },
    );
    const b = await cluster.start("B");
    await cluster.db.sql`TRUNCATE pedidos`;
    assert.equal((await ask(b.port, { op: "STATS" })).stats.libres, 2);
    // deno-lint-ignore no-explicit-any -- a reply, as ask() gives it
    let first: any;
    await waitUntil(async () => (first = await ask(a.port, order())).ok === true, {
      timeoutMs: 5000,
      what: "A to take an order again (its renewal is 20 s away)",
    });
    const second = await ask(b.port, order());
    const third = await ask(a.port, order());
    assert.equal(second.ok, true, JSON.stringify(second));
    assert.equal(third.error, "queue_full", "the capacity is still exact");
    assert.ok(first.id > 2 && second.id > 2, "ids are never reused");
    assert.match(a.output(), /order\.lease_lost/);
  },
});

pgTest({
  name:
    "a daemon killed with SIGKILL has its running order taken over within seconds, not at the end of its lease: its lock went with it",
  async fn() {
    // A lease of a minute: only the lock's going can explain a takeover within 20 s.
    await using cluster = await startCluster(1, [
      "--lease-ms",
      "60000",
      "--workers",
      "1",
      "--process-ms",
      "30000",
    ]);
    const a = cluster.daemons[0]!;
    const placed = await ask(a.port, order());
    assert.equal(placed.ok, true);
    await waitUntil(async () => {
      const [row] = await cluster.db.sql`SELECT estado FROM pedidos WHERE id = ${placed.id}`;
      return row?.estado === "en proceso";
    }, { what: "the order running on A" });
    a.kill("SIGKILL");
    await a.exited;
    // Started again, as a supervisor would, as another daemon.
    const b = await cluster.start("B", ["--process-ms", "0"]);
    const started = performance.now();
    const done = await ask(b.port, { op: "ESTADO", id: placed.id, esperar: true }, 20_000);
    assert.equal(done.pedido.estado, "listo", JSON.stringify(done));
    assert.equal(done.pedido.intentos, 2, "the attempt cut short counts");
    assert.ok(performance.now() - started < 20_000);
  },
});

pgTest({
  name:
    "a daemon whose database sessions are ended (pg_terminate_backend) but which lives on keeps its running order: no other daemon takes it",
  async fn() {
    await using cluster = await startCluster(2, [
      "--lease-ms",
      "60000",
      "--workers",
      "1",
      "--process-ms",
      "9000",
    ]);
    const [a, b] = cluster.daemons as [typeof cluster.daemons[0], typeof cluster.daemons[0]];
    const placed = await ask(a!.port, order());
    assert.equal(placed.ok, true);
    let holder = "";
    await waitUntil(async () => {
      const [row] = await cluster.db.sql`SELECT estado, nodo FROM pedidos WHERE id = ${placed.id}`;
      holder = row?.nodo ?? "";
      return row?.estado === "en proceso";
    }, { what: "the order running" });
    // Every session of both daemons ended, twice, as an operator or a failover would.
    for (let i = 0; i < 2; i++) {
      await cluster.db.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()`;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    // Past the grace of a lock found free: still the same attempt, on the same daemon.
    await new Promise((resolve) => setTimeout(resolve, 6500));
    const [row] = await cluster.db.sql`SELECT estado, nodo, intentos FROM pedidos
      WHERE id = ${placed.id}`;
    assert.equal(row?.intentos, 1, JSON.stringify(row));
    assert.equal(row?.nodo ?? holder, holder, "not taken over");
    const done = await ask(b!.port, { op: "ESTADO", id: placed.id, esperar: true }, 20_000);
    assert.equal(done.pedido.estado, "listo", JSON.stringify(done));
    assert.equal(done.pedido.intentos, 1, "run once");
  },
});
