/**
 * Faults of a cluster on PostgreSQL (§9): a daemon paused past its lease
 * (fencing), backends terminated under load, a database that is not there
 * at first or goes away mid-load (`unavailable`, then recovery), and a
 * database that refuses a daemon once it is reached.
 */

import assert from "node:assert/strict";
import { ask, order, readPgRows, startCluster } from "./cluster_util.ts";
import { adminSql, PG_SERVER, pgTest, type TestDatabase } from "./postgres_util.ts";
import { scrape } from "./metrics_util.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import { ROOT, waitUntil, within } from "./test_util.ts";

/** The cluster database's URL, reached through `port` instead, with a password in it. */
function viaPort(url: string, port: number): string {
  const through = new URL(url);
  through.hostname = "127.0.0.1"; // where the test's proxy listens
  through.port = String(port);
  through.password = "topsecret";
  return through.href;
}

/**
 * Clients sending orders with claves to `ports` until `signal` aborts;
 * what was acknowledged (clave → id) and how often the answer was `unavailable`.
 */
class Pump {
  readonly acked = new Map<string, number>();
  readonly unacked = new Set<string>();
  /**
   * Claves every attempt of which was answered "Nada fue aceptado" (§3:
   * nothing was accepted), none left open (a connection broken before the
   * reply, "No se sabe…"): a later attempt must not find one stored.
   */
  readonly #refused = new Set<string>();
  readonly #open = new Set<string>();
  unavailable = 0;
  #next = 0;

  async run(ports: () => number[], signal: AbortSignal, clients = 4): Promise<void> {
    await Promise.all(Array.from({ length: clients }, async (_, c) => {
      while (!signal.aborted) {
        const port = ports()[c % ports().length]!;
        const clave = this.unacked.values().next().value ?? `p-${this.#next++}`;
        this.unacked.delete(clave);
        let reply;
        try {
          reply = await ask(port, order(clave), 5000);
        } catch {
          reply = null; // the connection broke
        }
        this.#check(clave, reply);
        if (reply?.ok === true) {
          const before = this.acked.get(clave);
          assert.ok(
            before === undefined || before === reply.id,
            `${clave}: ${before} then ${reply.id}`,
          );
          this.acked.set(clave, reply.id);
          continue;
        }
        if (reply?.error === "unavailable") this.unavailable++;
        else if (reply !== null) {
          assert.ok(["queue_full", "shutting_down"].includes(reply.error), JSON.stringify(reply));
        }
        this.unacked.add(clave);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }));
  }

  /** Notes what `reply` (null: the connection broke first) says of `clave`'s attempts. */
  #check(clave: string, reply: { ok?: boolean; duplicado?: boolean; mensaje?: string } | null) {
    if (reply?.ok === true) {
      assert.ok(
        !(reply.duplicado === true && this.#refused.has(clave) && !this.#open.has(clave)),
        `${clave}: stored, though every attempt before was answered "Nada fue aceptado"`,
      );
    } else if (reply === null || reply.ok === undefined) this.#open.add(clave);
    else if (/Nada fue aceptado/.test(reply.mensaje ?? "")) this.#refused.add(clave);
    else if (/No se sabe/.test(reply.mensaje ?? "")) this.#open.add(clave);
  }

  /**
   * Waits until every order in `db` is `listo` (`timeoutMs` at most), then
   * checks that each acknowledged clave is stored once, with the id it was
   * acknowledged with, and nothing else is.
   */
  async allListo(db: TestDatabase, timeoutMs = 30_000): Promise<void> {
    await waitUntil(
      async () => (await readPgRows(db)).every((r) => r.estado === "listo"),
      { timeoutMs, what: "every order listo" },
    );
    const rows = await readPgRows(db);
    assert.equal(rows.length, this.acked.size, "one order per acknowledged clave, none extra");
    const byClave = new Map(rows.map((r) => [r.clave, r.id]));
    for (const [clave, id] of this.acked) assert.equal(byClave.get(clave), id, clave);
  }

  /** Sends what was never acknowledged until it is (for 30 s at most). */
  async finish(port: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    let last: unknown = null;
    while (this.unacked.size > 0) {
      assert.ok(
        Date.now() < deadline,
        `${this.unacked.size} never acknowledged: ${JSON.stringify(last)}`,
      );
      for (const clave of [...this.unacked]) {
        const reply = await ask(port, order(clave));
        last = reply;
        this.#check(clave, reply);
        if (reply.ok !== true) continue;
        this.unacked.delete(clave);
        assert.ok(!this.acked.has(clave) || this.acked.get(clave) === reply.id);
        this.acked.set(clave, reply.id);
      }
      if (this.unacked.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

pgTest({
  name: "a daemon paused past its lease cannot overwrite the attempt that took its order over",
  async fn() {
    await using cluster = await startCluster(0, ["--lease-ms", "1000", "--workers", "1"]);
    const paused = await cluster.start("A", ["--process-ms", "2500"]);
    const placed = await ask(paused.port, order("fence-1"));
    assert.equal(placed.ok, true);
    await waitUntil(async () => (await readPgRows(cluster.db))[0]?.estado === "en proceso", {
      what: "A to take the order",
    });
    paused.kill("SIGSTOP");
    const rescuer = await cluster.start("B", ["--process-ms", "0"]);
    await waitUntil(async () => (await readPgRows(cluster.db))[0]?.estado === "listo", {
      timeoutMs: 15_000,
      what: "B to take the order over and finish it",
    });
    const [done] = await readPgRows(cluster.db);
    assert.equal(done?.intentos, 2, "the takeover counts as an attempt");
    await rescuer.waitForLine(/order\.taken_over id=\d+ attempt=2/);

    paused.kill("SIGCONT");
    // A's attempt ends and its write finds the order moved on: nothing is written.
    await paused.waitForLine(/WARN order\.fenced id=\d+ attempt=1/);
    assert.deepEqual(await readPgRows(cluster.db), [done]);
    const stats = (await ask(paused.port, { op: "STATS" })).stats;
    assert.deepEqual([stats.listos, stats.en_proceso, stats.libres], [0, 0, 6]);
    assert.equal((await ask(rescuer.port, { op: "STATS" })).stats.listos, 1);
  },
});

pgTest({
  name:
    "backends terminated under load: the daemons reconnect by themselves and lose nothing acknowledged",
  async fn() {
    await using cluster = await startCluster(2, [
      "--process-ms",
      "0-5",
      "--max-pedidos",
      "1000",
      "--lease-ms",
      "2000",
    ]);
    const pump = new Pump();
    const stop = new AbortController();
    const ports = () => cluster.daemons.map((d) => d.port);
    const pumping = pump.run(ports, stop.signal, 6);
    try {
      for (let i = 0; i < 4; i++) {
        await waitUntil(() => pump.acked.size >= 100 * (i + 1), {
          timeoutMs: 20_000,
          what: `load before termination ${i + 1}`,
        });
        await cluster.db.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = ${cluster.db.name} AND pid <> pg_backend_pid()
            AND application_name = 'pedidos'`;
      }
      await waitUntil(() => pump.acked.size >= 500, { timeoutMs: 20_000, what: "load after" });
    } finally {
      stop.abort();
      await pumping;
    }
    await pump.finish(ports()[0]!);
    await pump.allListo(cluster.db);
    for (const daemon of cluster.daemons) {
      assert.equal((await ask(daemon.port, { op: "PING" })).pong, true, `${daemon.name} is up`);
    }
    console.log(
      `terminated backends 4 times: ${pump.acked.size} orders acknowledged and verified, ` +
        `${pump.unavailable} answers unavailable`,
    );
  },
});

pgTest({
  name:
    "a storm of terminated backends (every 50 ms for 3 s) leaves the daemon up: it reconnects and serves after",
  async fn() {
    await using cluster = await startCluster(1, ["--process-ms", "0-5", "--max-pedidos", "1000"]);
    const [daemon] = cluster.daemons;
    let exited: number | null = null;
    daemon!.exited.then((code) => exited = code);
    const until = performance.now() + 3000;
    let rounds = 0;
    while (performance.now() < until && exited === null) {
      // Each round also ends the connections the pool has just opened, some
      // while they ask the server for its types (the driver's own query).
      await cluster.db.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = ${cluster.db.name} AND pid <> pg_backend_pid()`;
      rounds++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(exited, null, `the daemon died after ${rounds} rounds:\n${daemon!.output()}`);
    await waitUntil(async () => (await ask(daemon!.port, order())).ok === true, {
      timeoutMs: 20_000,
      what: "an order taken after the storm",
    });
    assert.doesNotMatch(daemon!.output(), /Uncaught/);
  },
});

pgTest({
  name:
    "a daemon whose database is not there at first answers unavailable, serves once it comes, and loses nothing when it goes mid-load",
  async fn() {
    await using cluster = await startCluster(0, ["--process-ms", "0-5", "--max-pedidos", "1000"]);
    await using proxy = new TcpProxy(PG_SERVER);
    const url = viaPort(cluster.db.url, proxy.port);
    const daemon = await cluster.start("A", ["--db", url, "--lease-ms", "2000"]);
    // Nothing listens at the database's address: the daemon is up, the store is not.
    await daemon.waitForLine(/ERROR store\.unavailable/);
    assert.equal((await ask(daemon.port, { op: "PING" })).pong, true);
    // A task needs no database: it runs, within this daemon's capacity.
    const task = { op: "TASK", data: { task: { name: "upper", s: "hola" } } };
    assert.deepEqual(await ask(daemon.port, task, 5_000), { ok: true, result: "HOLA" });
    for (
      const request of [order("x-1"), { op: "ESTADO", id: 1 }, { op: "LISTAR" }, { op: "STATS" }]
    ) {
      const reply = await ask(daemon.port, request);
      assert.equal(reply.error, "unavailable", JSON.stringify(request));
      assert.match(reply.mensaje, /no está disponible/);
    }
    assert.equal(
      (await ask(daemon.port, {
        op: "REGISTRO",
        data: { usuario: "ana", password: "s3cret-pass" },
      }))
        .error,
      "unavailable",
    );

    proxy.open();
    await daemon.waitForLine(/INFO store\.reconnected/);
    assert.equal((await ask(daemon.port, order("x-1"))).ok, true, "served once it came");

    const pump = new Pump();
    const stop = new AbortController();
    const pumping = pump.run(() => [daemon.port], stop.signal);
    try {
      await waitUntil(() => pump.acked.size >= 100, { timeoutMs: 20_000, what: "load" });
      await proxy.cut();
      await waitUntil(() => pump.unavailable > 0, { timeoutMs: 20_000, what: "unavailable" });
      proxy.open();
      await waitUntil(() => pump.acked.size >= 300, { timeoutMs: 30_000, what: "load after" });
    } finally {
      stop.abort();
      await pumping;
    }
    await pump.finish(daemon.port);
    pump.acked.set("x-1", (await ask(daemon.port, order("x-1"))).id);
    await pump.allListo(cluster.db);

    daemon.kill("SIGTERM");
    assert.equal(await daemon.exited, 0);
    assert.doesNotMatch(daemon.output(), /topsecret/, "the password is never logged");
    assert.match(daemon.output(), /postgres:\*\*\*@127\.0\.0\.1/);
  },
});

pgTest({
  name:
    "ESTADO esperar on a daemon that loses its database for a moment answers the finished order, not unavailable",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "100"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    // A runs the orders; B, which only waits on them, reaches the database through the proxy.
    const a = await cluster.start("A", ["--process-ms", "3000"]);
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await ask(a.port, order(`w-${i}`))).id);
    await waitUntil(
      async () => (await readPgRows(cluster.db)).every((row) => row.estado === "en proceso"),
      { what: "the orders en proceso on A" },
    );
    const b = await cluster.start("B", ["--db", viaPort(cluster.db.url, proxy.port)]);
    const waits = ids.map((id) =>
      ask(b.port, { op: "ESTADO", id, esperar: true, timeout_ms: 15_000 }, 20_000)
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    // B re-reads an order held elsewhere once a second: at least one re-read meets the outage.
    await proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    proxy.open();
    for (const [i, reply] of (await Promise.all(waits)).entries()) {
      assert.equal(reply.ok, true, `order ${ids[i]}: ${JSON.stringify(reply)}`);
      assert.equal(reply.pedido.estado, "listo", JSON.stringify(reply));
      assert.equal(reply.timeout, undefined);
    }
    assert.match(b.output(), /ERROR store\.unavailable/, "B did lose its database meanwhile");
  },
});

pgTest({
  name:
    "a daemon whose connections go silent (no reset, no answer) gives them up, reconnects and loses nothing",
  async fn() {
    await using cluster = await startCluster(0, ["--process-ms", "0-5", "--max-pedidos", "1000"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const daemon = await cluster.start("A", ["--db", viaPort(cluster.db.url, proxy.port)]);
    const pump = new Pump();
    const stop = new AbortController();
    const pumping = pump.run(() => [daemon.port], stop.signal);
    try {
      await waitUntil(() => pump.acked.size >= 100, { timeoutMs: 20_000, what: "load" });
      // Every connection the daemon has (its pools and its LISTEN) goes dark;
      // only the ones it opens from now on reach the database.
      assert.ok(proxy.freeze() >= 2);
      // Its waits run out (15 s), it answers unavailable, then it must not
      // wait on those connections again.
      await daemon.waitForLine(/ERROR store\.unavailable/, 30_000);
      await daemon.waitForLine(/INFO store\.reconnected/, 30_000);
      const before = pump.acked.size;
      await waitUntil(() => pump.acked.size >= before + 100, {
        timeoutMs: 20_000,
        what: "orders taken again on new connections",
      });
    } finally {
      stop.abort();
      await pumping;
    }
    await pump.finish(daemon.port);
    await pump.allListo(cluster.db, 40_000);
    // Stopping does not wait for ever on the dark connections either.
    daemon.kill("SIGTERM");
    assert.equal(await daemon.exited, 0);
  },
});

pgTest({
  name:
    "a daemon out of reach of its database for longer than its lease keeps running its own order once back: one attempt, no takeover",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "10", "--lease-ms", "1000"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const daemon = await cluster.start("A", [
      "--db",
      viaPort(cluster.db.url, proxy.port),
      "--process-ms",
      "4000",
    ]);
    const { id } = await ask(daemon.port, order("own-1"));
    await waitUntil(async () => (await readPgRows(cluster.db))[0]?.estado === "en proceso", {
      what: "the order en proceso",
    });
    // Its lease runs out while the daemon cannot renew it; no other daemon is
    // there. (Out of reach for seconds, it would stop its attempt before
    // another daemon could find it dead: see "a daemon cut off from its database".)
    await proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 1800));
    proxy.open();
    let done;
    await waitUntil(async () => {
      // (unavailable until the daemon has reconnected)
      done = await ask(
        daemon.port,
        { op: "ESTADO", id, esperar: true, timeout_ms: 10_000 },
        15_000,
      );
      return done.ok === true && done.pedido.estado === "listo";
    }, { timeoutMs: 30_000, what: `order ${id} listo` });
    assert.equal(done!.pedido.intentos, 1, "its one attempt, not one taken over from itself");
    assert.doesNotMatch(daemon.output(), /order\.taken_over/);
  },
});

pgTest({
  name: "a daemon told to stop while its connections are silent still stops",
  async fn() {
    await using cluster = await startCluster(0, ["--process-ms", "0-5", "--max-pedidos", "1000"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const daemon = await cluster.start("A", ["--db", viaPort(cluster.db.url, proxy.port)]);
    const acked = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const reply = await ask(daemon.port, order(`s-${i}`));
      assert.equal(reply.ok, true, JSON.stringify(reply));
      acked.set(`s-${i}`, reply.id);
    }
    await waitUntil(
      async () => (await readPgRows(cluster.db)).every((r) => r.estado === "listo"),
      { what: "every order listo" },
    );
    // Idle, then every connection goes dark, and it is told to stop at once:
    // leaving the cluster (its node row) must not wait on them for ever.
    assert.ok(proxy.freeze() >= 2);
    daemon.kill("SIGTERM");
    const status = await within(daemon.exited, 30_000, "the stop after SIGTERM");
    assert.equal(status, 0, "stopped cleanly within 30 s of SIGTERM");
    const rows = await readPgRows(cluster.db);
    assert.deepEqual(new Map(rows.map((r) => [r.clave, r.id])), acked);
  },
});

pgTest({
  name:
    "a daemon told to stop while its claim waits on a silent connection exits within its drain timeout and a short close, not the claim's 15 s deadline",
  async fn() {
    await using cluster = await startCluster(0, ["--process-ms", "0", "--max-pedidos", "100"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const daemon = await cluster.start("A", [
      "--db",
      viaPort(cluster.db.url, proxy.port),
      "--drain-timeout-ms",
      "1000",
    ]);
    const { id } = await ask(daemon.port, order("c-1"));
    assert.equal(
      (await ask(daemon.port, { op: "ESTADO", id, esperar: true })).pedido.estado,
      "listo",
    );
    // Idle, every connection goes dark; its next claim (it polls every second) waits on one.
    assert.ok(proxy.freeze() >= 2);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    daemon.kill("SIGTERM");
    // 1 s of drain and a close of a few seconds; the claim's deadline alone is 15 s.
    const status = await within(daemon.exited, 10_000, "the stop after SIGTERM");
    assert.equal(status, 0, `stopped within 10 s of SIGTERM:\n${daemon.output()}`);
    assert.deepEqual((await readPgRows(cluster.db)).map((r) => [r.clave, r.estado]), [
      ["c-1", "listo"],
    ]);
  },
});

pgTest({
  name:
    "a daemon told to stop while orders run and its connections are silent exits within its drain timeout and a short close; another daemon then finishes those orders",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "100", "--lease-ms", "2000"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const daemon = await cluster.start("A", [
      "--db",
      viaPort(cluster.db.url, proxy.port),
      "--workers",
      "2",
      "--process-ms",
      "60000",
      "--drain-timeout-ms",
      "1000",
    ]);
    const acked = new Map<string, number>();
    for (const clave of ["r-1", "r-2"]) acked.set(clave, (await ask(daemon.port, order(clave))).id);
    await waitUntil(
      async () => (await readPgRows(cluster.db)).every((r) => r.estado === "en proceso"),
      { what: "both orders en proceso" },
    );
    // Running, then every connection goes dark: the writes that give the
    // orders back at the stop wait on them, and must not hold the stop up.
    assert.ok(proxy.freeze() >= 2);
    daemon.kill("SIGTERM");
    // 1 s of drain, 1 s of grace for the writes, a close of a few seconds;
    // a write's own deadline alone is 15 s.
    const status = await within(daemon.exited, 10_000, "the stop after SIGTERM");
    assert.equal(status, 0, `stopped within 10 s of SIGTERM:\n${daemon.output()}`);
    // What it could not give back is taken over once its lease ends.
    await cluster.start("B", ["--process-ms", "0"]);
    await waitUntil(
      async () => (await readPgRows(cluster.db)).every((r) => r.estado === "listo"),
      { timeoutMs: 30_000, what: "both orders listo" },
    );
    const rows = await readPgRows(cluster.db);
    assert.deepEqual(new Map(rows.map((r) => [r.clave, r.id])), acked);
  },
});

pgTest({
  name:
    "metrics on PostgreSQL: the queue gauges are the cluster's, writer batches are counted, and an unreachable database shows as pedidos_almacen_disponible 0 and NaN for what it cannot read",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "50", "--workers", "1"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const watched = await cluster.start("A", [
      "--db",
      viaPort(cluster.db.url, proxy.port),
      "--metrics-port",
      "0",
      "--process-ms",
      "60000",
    ]);
    const url = /metrics\.listening url=http:\/\/([\d.]+):(\d+)/.exec(
      await watched.waitForLine(/metrics\.listening/),
    )!;
    const addr = { transport: "tcp", hostname: url[1]!, port: Number(url[2]) } as Deno.NetAddr;
    // Another daemon takes 5 orders: each daemon's one worker holds one, 3 wait.
    const busy = await cluster.start("B", ["--process-ms", "60000"]);
    for (let i = 0; i < 5; i++) assert.equal((await ask(busy.port, order(`b-${i}`))).ok, true);
    await waitUntil(
      async () =>
        (await readPgRows(cluster.db)).filter((r) => r.estado === "en proceso").length === 2,
      { what: "one order on each daemon's worker" },
    );
    const stats = (await ask(watched.port, { op: "STATS" })).stats;
    const seen = await scrape(addr);
    assert.equal(seen.value("pedidos_pendientes"), 3, "the cluster's, not the 0 that A holds");
    assert.equal(seen.value("pedidos_en_proceso"), 2);
    assert.equal(stats.pendientes, 3, "as STATS says");
    assert.equal(seen.value("pedidos_capacidad"), 50);
    assert.equal(seen.value("pedidos_libres"), 45, "the cluster's free slots, as in STATS");
    assert.equal(seen.value("pedidos_almacen_disponible"), 1);

    assert.equal((await ask(watched.port, order("a-1"))).ok, true);
    const after = await scrape(addr);
    assert.ok(after.value("pedidos_escritor_lote_operaciones_count") >= 1, "its writer's batches");

    await proxy.cut();
    await watched.waitForLine(/ERROR store\.unavailable/);
    const down = await scrape(addr);
    assert.equal(down.value("pedidos_almacen_disponible"), 0);
    for (const unknown of ["pedidos_pendientes", "pedidos_en_proceso", "pedidos_libres"]) {
      assert.ok(Number.isNaN(down.value(unknown)), `${unknown}: NaN, a figure it cannot read`);
    }
    assert.equal(down.value("pedidos_capacidad"), 50, "the capacity is known without the database");
    assert.ok(down.value("pedidos_aceptados_total") >= 1, "its own counters still shown");
  },
});

pgTest({
  name:
    "a database that takes no writes (read-only, as a standby) makes orders unavailable, never internal, until it takes them again",
  async fn() {
    await using cluster = await startCluster(1, ["--process-ms", "0", "--max-pedidos", "100"]);
    const [daemon] = cluster.daemons;
    assert.equal((await ask(daemon!.port, order("rw-1"))).ok, true);
    const { sql, name } = cluster.db;
    await sql.unsafe(`ALTER DATABASE "${name}" SET default_transaction_read_only = on`);
    try {
      // Its sessions start again, read-only from now on.
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = ${name} AND pid <> pg_backend_pid() AND application_name = 'pedidos'`;
      await daemon!.waitForLine(/ERROR store\.unavailable/);
      const mark = daemon!.output().length;
      for (let i = 0; i < 10; i++) {
        const reply = await ask(daemon!.port, order(`ro-${i}`));
        assert.equal(reply.error, "unavailable", JSON.stringify(reply));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.doesNotMatch(
        daemon!.output().slice(mark),
        /store\.reconnected/,
        "a read-only database does not count as back",
      );
    } finally {
      await sql.unsafe(`ALTER DATABASE "${name}" RESET default_transaction_read_only`);
    }
    await daemon!.waitForLine(/INFO store\.reconnected/);
    assert.equal((await ask(daemon!.port, order("ro-0"))).ok, true, "taken once it takes writes");
    const rows = await readPgRows(cluster.db);
    assert.deepEqual(rows.map((r) => r.clave).sort(), ["ro-0", "rw-1"]);
  },
});

/** Makes database `name` refuse new sessions (or take them again), as an operator may. */
async function allowConnections(name: string, allow: boolean): Promise<void> {
  const admin = adminSql();
  try {
    await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${allow}`);
    if (!allow) {
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = ${name} AND pid <> pg_backend_pid()`;
    }
  } finally {
    await admin.end({ timeout: 1 });
  }
}

pgTest({
  name:
    "a database that stops taking connections (FATAL 55000) is an outage: every daemon answers unavailable, stays up, and serves again once it takes them",
  async fn() {
    await using cluster = await startCluster(2, ["--max-pedidos", "100", "--process-ms", "0"]);
    for (const daemon of cluster.daemons) {
      assert.equal((await ask(daemon.port, order())).ok, true);
    }
    let exited: string | null = null;
    for (const daemon of cluster.daemons) {
      daemon.exited.then((status) => exited ??= `${daemon.name} exited with ${status}`);
    }
    await allowConnections(cluster.db.name, false);
    try {
      // Each request needs the database: STATS reads it, a PEDIDO writes it.
      for (let round = 0; round < 5; round++) {
        for (const daemon of cluster.daemons) {
          for (const request of [{ op: "STATS" }, order()]) {
            const reply = await ask(daemon.port, request);
            assert.equal(reply.error, "unavailable", `${daemon.name}: ${JSON.stringify(reply)}`);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(exited, null, "no daemon gave up");
    } finally {
      await allowConnections(cluster.db.name, true);
    }
    const ids: number[] = [];
    for (const daemon of cluster.daemons) {
      await waitUntil(async () => {
        const reply = await ask(daemon.port, order());
        if (reply.ok === true) ids.push(reply.id);
        return reply.ok === true;
      }, { what: `${daemon.name} takes orders again`, timeoutMs: 15_000 });
    }
    const stored = new Set((await readPgRows(cluster.db)).map((row) => row.id));
    assert.ok(ids.every((id) => stored.has(id)), "the orders answered ok are stored");
    assert.equal(exited, null);
    assert.match(cluster.daemons[0]!.output(), /store\.reconnected/);
  },
});

pgTest({
  name:
    "a daemon started while its database takes no connections starts, answers unavailable, and serves once it does",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "10", "--process-ms", "0"]);
    await allowConnections(cluster.db.name, false);
    let daemon;
    try {
      daemon = await cluster.start("A");
      const reply = await ask(daemon.port, order());
      assert.equal(reply.error, "unavailable", JSON.stringify(reply));
    } finally {
      await allowConnections(cluster.db.name, true);
    }
    const started = daemon;
    await waitUntil(async () => (await ask(started.port, order())).ok === true, {
      what: "the daemon takes orders once the database takes connections",
      timeoutMs: 15_000,
    });
  },
});

pgTest({
  name:
    "a daemon whose URL names a database that does not exist exits with status 2 at start, naming it without the password",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "10"]);
    const url = new URL(cluster.db.url);
    url.pathname = `/${cluster.db.name}_nope`;
    url.password = "topsecret";
    const daemon = await cluster.start("A", ["--db", url.href], { ready: false });
    assert.equal(await daemon.exited, 2);
    assert.match(daemon.output(), new RegExp(`${cluster.db.name}_nope.*does not exist`));
    assert.doesNotMatch(daemon.output(), /topsecret/);
  },
});

pgTest({
  name: "a daemon that finds another capacity in force once its database comes exits with status 2",
  async fn() {
    await using cluster = await startCluster(1, ["--max-pedidos", "6"]);
    await using proxy = new TcpProxy(PG_SERVER);
    const late = await cluster.start("B", [
      "--db",
      viaPort(cluster.db.url, proxy.port),
      "--max-pedidos",
      "7",
    ]);
    proxy.open();
    assert.equal(await late.exited, 2);
    assert.match(late.output(), /cannot go on: .*capacity in force is 6\b/);
  },
});

/** The writer's `COMMIT`, as it goes over the wire (postgres_writer.ts pads it). */
const WRITER_COMMIT = "COMMIT -- ---";

pgTest({
  name:
    "a PEDIDO whose commit went through but whose answer was lost with the connection answers ok, with the id it was stored under, and runs at once",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "100", "--retain-s", "0"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const daemon = await cluster.start("A", [
      "--db",
      viaPort(cluster.db.url, proxy.port),
      "--process-ms",
      "0",
    ]);
    // Idle (no retention, nothing queued): the next COMMIT is the order's.
    const broken = proxy.breakAt(WRITER_COMMIT, { deliver: true, afterReply: "COMMIT\0" });
    const reply = await ask(daemon.port, order(), 15_000);
    await broken;
    assert.equal(reply.ok, true, JSON.stringify(reply));
    const rows = await readPgRows(cluster.db);
    assert.deepEqual(rows.map((row) => row.id), [reply.id], "stored once, under the id answered");
    // Taken by this daemon at its insert: it runs it now, not once its lease runs out (30 s).
    const done = await ask(
      daemon.port,
      { op: "ESTADO", id: reply.id, esperar: true, timeout_ms: 10_000 },
      15_000,
    );
    assert.equal(done.pedido?.estado, "listo", JSON.stringify(done));
    assert.equal(done.pedido.intentos, 1);
    assert.match(daemon.output(), /ERROR store\.unavailable/, "the connection was lost");
  },
});

pgTest({
  name:
    "a PEDIDO whose commit never reached the database answers unavailable, nothing accepted, and nothing is stored",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "100", "--retain-s", "0"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const daemon = await cluster.start("A", ["--db", viaPort(cluster.db.url, proxy.port)]);
    const broken = proxy.breakAt(WRITER_COMMIT, { deliver: false });
    const reply = await ask(daemon.port, order(), 15_000);
    await broken;
    assert.equal(reply.error, "unavailable", JSON.stringify(reply));
    assert.match(reply.mensaje, /Nada fue aceptado/);
    assert.deepEqual(await readPgRows(cluster.db), []);
    // And the next one is taken once the daemon has its database back.
    await waitUntil(async () => (await ask(daemon.port, order())).ok === true, {
      what: "an order accepted after the outage",
    });
  },
});

pgTest({
  name:
    "a PEDIDO whose commit's answer was lost while the database stays out of reach answers unavailable saying it may have been accepted",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "100", "--retain-s", "0"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const daemon = await cluster.start("A", ["--db", viaPort(cluster.db.url, proxy.port)]);
    const broken = proxy.breakAt(WRITER_COMMIT, {
      deliver: true,
      afterReply: "COMMIT\0",
      thenCut: true,
    });
    const reply = await ask(daemon.port, order("k-1"), 20_000);
    await broken;
    assert.equal(reply.error, "unavailable", JSON.stringify(reply));
    assert.match(reply.mensaje, /No se sabe si el pedido fue aceptado/);
    assert.doesNotMatch(reply.mensaje, /Nada fue aceptado/);
    // It was: the same clave, once the database is back, answers that order.
    assert.equal((await readPgRows(cluster.db)).length, 1);
    proxy.open();
    // deno-lint-ignore no-explicit-any -- a reply
    let again: any = null;
    await waitUntil(async () => {
      again = await ask(daemon.port, order("k-1"));
      return again.ok === true;
    }, { what: "the order again, the database back" });
    assert.equal(again.duplicado, true, JSON.stringify(again));
    // Taken here at its insert, though this daemon never heard so: it runs it
    // now, its one attempt, not once its lease runs out (30 s).
    const done = await ask(
      daemon.port,
      { op: "ESTADO", id: again.id, esperar: true, timeout_ms: 10_000 },
      15_000,
    );
    assert.equal(done.pedido?.estado, "listo", JSON.stringify(done));
    assert.equal(done.pedido.intentos, 1);
  },
});

pgTest({
  name:
    "orders whose claim went through but whose answer was lost with the connection run as soon as the database answers, not once their lease runs out",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "100", "--retain-s", "0"]);
    // Two orders waiting in the queue, left there by a daemon that stopped.
    const first = await cluster.start("S", [
      "--workers",
      "1",
      "--process-ms",
      "60000",
      "--drain-timeout-ms",
      "100",
    ]);
    // Named so that the first answer to carry them is the claim's, with their rows.
    const named = { ...order(), cliente: "Zoe Lost-Claim" };
    const ids = [(await ask(first.port, named)).id, (await ask(first.port, named)).id];
    first.kill("SIGTERM");
    assert.equal(await first.exited, 0);
    assert.deepEqual((await readPgRows(cluster.db)).map((row) => row.estado), [
      "pendiente",
      "pendiente",
    ]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    // A's first claim takes them, and the connection breaks before its answer.
    const broken = proxy.breakAtReply("Zoe Lost-Claim");
    const daemon = await cluster.start("A", [
      "--db",
      viaPort(cluster.db.url, proxy.port),
      "--process-ms",
      "0",
    ]);
    await within(broken, 15_000, "the claim's answer lost");
    for (const id of ids) {
      const done = await ask(
        daemon.port,
        { op: "ESTADO", id, esperar: true, timeout_ms: 10_000 },
        15_000,
      );
      assert.equal(done.pedido?.estado, "listo", JSON.stringify(done) + daemon.output());
      assert.ok(done.pedido.fecha_inicio >= done.pedido.fecha_recibido, JSON.stringify(done));
    }
    assert.match(daemon.output(), /WARN order\.claim_recovered id=/);
  },
});

pgTest({
  name:
    "metrics on PostgreSQL: a scrape while the database's connections are silent answers within Prometheus's scrape timeout, showing pedidos_almacen_disponible 0",
  async fn() {
    await using cluster = await startCluster(0, ["--max-pedidos", "50"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const daemon = await cluster.start("A", [
      "--db",
      viaPort(cluster.db.url, proxy.port),
      "--metrics-port",
      "0",
    ]);
    const url = /metrics\.listening url=http:\/\/([\d.]+):(\d+)/.exec(
      await daemon.waitForLine(/metrics\.listening/),
    )!;
    const metrics = `http://${url[1]}:${url[2]}/metrics`;
    assert.equal((await ask(daemon.port, order())).ok, true, "connections open");
    // Silent: no reset, no answer, as on a network path gone dark.
    proxy.freeze();
    proxy.stopAccepting();
    // Prometheus gives up on a scrape after 10 s by default; 5 s here.
    const response = await fetch(metrics, { signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    assert.equal(response.status, 200);
    assert.match(text, /^pedidos_almacen_disponible 0$/m);
    assert.match(text, /^pedidos_pendientes NaN$/m);
  },
});

pgTest({
  name:
    "with a processor module, an order whose daemon was killed in its last attempt allowed is run once more by the daemon that takes it over; killed again, it is ended error by the next, not run again",
  async fn() {
    const processor = `${ROOT}tests/fixtures/processors/scripted.ts`;
    await using cluster = await startCluster(0, [
      "--processor",
      processor,
      "--max-intentos",
      "1",
      "--lease-ms",
      "600",
      "--workers",
      "1",
    ]);
    const a = await cluster.start("A");
    const placed = await ask(a.port, { ...order(), cliente: "wait-60000" });
    assert.equal(placed.ok, true);
    await waitUntil(
      async () =>
        (await readPgRows(cluster.db)).some((r) => r.estado === "en proceso" && r.worker !== null),
      { what: "A running it" },
    );
    a.kill("SIGKILL");
    await a.exited;
    // The last attempt allowed was cut short: B runs it once more (§4).
    const b = await cluster.start("B");
    await waitUntil(
      async () => (await readPgRows(cluster.db)).some((r) => r.intentos === 2 && r.worker !== null),
      { what: "B running attempt 2", timeoutMs: 20_000 },
    );
    const [running] = await readPgRows(cluster.db);
    b.kill("SIGKILL");
    await b.exited;
    const c = await cluster.start("C");
    const done = await ask(c.port, { op: "ESTADO", id: placed.id, esperar: true }, 20_000);
    assert.equal(done.pedido.estado, "error", JSON.stringify(done));
    assert.match(
      done.pedido.detalle_error,
      /attempt 1 of 1 \(--max-intentos\), then attempt 2, the one more given/,
    );
    assert.match(c.output(), /order\.failed/);
    // As on SQLite: the attempts that ran (the one taken over never did), with
    // the start and worker of the attempt cut short; an end of C's run, with no time of its own.
    assert.deepEqual(
      [done.pedido.intentos, done.pedido.fecha_inicio, done.pedido.worker],
      [2, running!.fecha_inicio!.toISOString(), running!.worker],
    );
    const stats = await ask(c.port, { op: "STATS" });
    assert.deepEqual(
      [stats.stats.errores, stats.stats.duracion_ms.max],
      [1, null],
      JSON.stringify(stats),
    );
  },
});

pgTest({
  name:
    "a daemon stopped while its database is out of reach prints pendientes=- in its summary: not known, not 0",
  async fn() {
    await using cluster = await startCluster(0, ["--process-ms", "60000", "--max-pedidos", "10"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const daemon = await cluster.start("A", [
      "--db",
      viaPort(cluster.db.url, proxy.port),
      "--drain-timeout-ms",
      "300",
    ]);
    assert.equal((await ask(daemon.port, order("left-1"))).ok, true);
    await proxy.cut();
    daemon.kill("SIGTERM");
    assert.equal(await daemon.exited, 0);
    assert.match(daemon.output(), /^resumen .* pendientes=- uptime_s=\d+$/m);
    // With the database there, the count is the cluster's queue, as before.
    const again = await cluster.start("B", ["--drain-timeout-ms", "300"]);
    assert.equal((await ask(again.port, order("left-2"))).ok, true);
    again.kill("SIGTERM");
    assert.equal(await again.exited, 0);
    assert.match(again.output(), /^resumen .* pendientes=\d+ uptime_s=\d+$/m);
  },
});

pgTest({
  name:
    "a daemon cut off from its database stops its attempts before another may take them over within their lease",
  async fn() {
    // A long lease: only the early takeover of a daemon found dead (its lock
    // free for 5 s) can take A's order within the test's time.
    await using cluster = await startCluster(0, ["--lease-ms", "60000", "--workers", "1"]);
    await using proxy = new TcpProxy(PG_SERVER);
    proxy.open();
    const a = await cluster.start("A", [
      "--db",
      viaPort(cluster.db.url, proxy.port),
      "--process-ms",
      "30000",
    ]);
    const placed = await ask(a.port, order("cut-1"));
    assert.equal(placed.ok, true);
    await waitUntil(async () => (await readPgRows(cluster.db))[0]?.estado === "en proceso", {
      what: "A to take the order",
    });
    const b = await cluster.start("B", ["--process-ms", "200"]);
    // A's every connection breaks and stays broken: it lives on, cut off.
    await proxy.cut();
    const takeover = await b.waitForLine(/order\.taken_over id=\d+ attempt=2/, 20_000);
    const stopped = await a.waitForLine(/order\.attempt_stopped id=\d+ attempt=1/, 1000);
    const at = (line: string) => Date.parse(line.split(" ")[0]!);
    assert.ok(
      at(stopped) < at(takeover),
      `A stopped its attempt (${stopped}) before B took the order (${takeover})`,
    );
    await waitUntil(async () => (await readPgRows(cluster.db))[0]?.estado === "listo", {
      what: "B to finish the order",
    });
    proxy.open();
    await a.waitForLine(/store\.node_unfenced/, 15_000);
    const [row] = await readPgRows(cluster.db);
    assert.equal(row?.intentos, 2, "one attempt on A, cut short, then B's");
    assert.equal(row?.estado, "listo");
    assert.equal((await ask(a.port, { op: "PING" })).pong, true, "A is up");
  },
});
