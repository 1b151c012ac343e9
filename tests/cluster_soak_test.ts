/**
 * Cluster soak (§9, §6): orders with claves pumped to three daemons on one
 * PostgreSQL database while one of them, at seeded random moments, is
 * SIGKILLed and started again. The others take its leased orders over
 * once the lease runs out. Checked on the database:
 *
 * - at every kill, every order acknowledged so far is stored with its id;
 * - at the end every acknowledged order exists exactly once, with the id it
 *   was acknowledged with, and is `listo`; nothing is left `en proceso`.
 *
 * About 12 s by default; `PEDIDOS_SOAK_SECONDS=300` soaks longer,
 * `PEDIDOS_TEST_SEED=<n>` replays a seed.
 */

import assert from "node:assert/strict";
import { ask, type ClusterDaemon, order, readPgRows, startCluster } from "./cluster_util.ts";
import { Random, seedFromEnv, withSeed } from "./fault_util.ts";
import { pgTest, type TestDatabase } from "./postgres_util.ts";
import { readEnv } from "./permissions.ts";
import { waitUntil } from "./test_util.ts";

const SOAK_MS = Number(readEnv("PEDIDOS_SOAK_SECONDS") ?? 12) * 1000;
const CLIENTS = 6;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What the clients know: orders acknowledged (clave → id), and those to send again. */
class Ledger {
  readonly acked = new Map<string, number>();
  readonly retry: string[] = [];
  issued = 0;
  resent = 0;
  unavailable = 0;

  next(): string {
    const clave = this.retry.shift();
    if (clave !== undefined) {
      this.resent++;
      return clave;
    }
    return `soak-${this.issued++}`;
  }

  ack(clave: string, id: number): void {
    const before = this.acked.get(clave);
    assert.ok(
      before === undefined || before === id,
      `clave ${clave} acked as ${before} then ${id}`,
    );
    this.acked.set(clave, id);
  }
}

/** One client: orders to the live daemons in turn until `signal` aborts. */
async function client(
  n: number,
  live: () => ClusterDaemon[],
  ledger: Ledger,
  signal: AbortSignal,
): Promise<void> {
  for (let i = n; !signal.aborted; i++) {
    const daemons = live();
    const daemon = daemons[i % daemons.length];
    if (daemon === undefined) {
      await sleep(20);
      continue;
    }
    const clave = ledger.next();
    let reply;
    try {
      reply = await ask(daemon.port, order(clave), 5000);
    } catch {
      reply = null; // killed under us: the order may or may not be stored
    }
    if (reply?.ok === true) {
      ledger.ack(clave, reply.id);
      continue;
    }
    if (reply !== null) {
      assert.ok(
        ["queue_full", "unavailable", "shutting_down"].includes(reply.error),
        `unexpected reply ${JSON.stringify(reply)}`,
      );
      if (reply.error === "unavailable") ledger.unavailable++;
    }
    ledger.retry.push(clave);
    await sleep(10);
  }
}

async function checkAckedAreStored(db: TestDatabase, ledger: Ledger, when: string) {
  // The clients go on meanwhile: only what was acked before the read must be in it.
  const acked = new Map(ledger.acked);
  const stored = new Map((await readPgRows(db)).map((row) => [row.clave, row.id]));
  for (const [clave, id] of acked) {
    assert.equal(stored.get(clave), id, `${when}: acked order ${clave} (id ${id}) is stored`);
  }
}

pgTest({
  name:
    "cluster soak: a daemon SIGKILLed at random moments loses no acked order; each ends listo exactly once",
  async fn() {
    const seed = seedFromEnv(20_261_201);
    await withSeed(`cluster soak seed ${seed}`, async () => {
      const rng = new Random(seed);
      await using cluster = await startCluster(3, [
        "--lease-ms",
        "1000",
        "--process-ms",
        "0-15",
        "--workers",
        "2",
        "--max-pedidos",
        "200",
        "--drain-timeout-ms",
        "300",
      ]);
      const live = [...cluster.daemons];
      const ledger = new Ledger();
      const stop = new AbortController();
      const clients = Array.from(
        { length: CLIENTS },
        (_, n) => client(n, () => live, ledger, stop.signal),
      );
      const deadline = Date.now() + SOAK_MS;
      let kills = 0;
      try {
        while (Date.now() < deadline || kills < 3) {
          await sleep(rng.int(200, 1500));
          const victim = live.splice(rng.int(0, live.length - 1), 1)[0]!;
          victim.kill("SIGKILL");
          assert.equal(await victim.exited, 137);
          kills++;
          await checkAckedAreStored(cluster.db, ledger, `after kill ${kills} (${victim.name})`);
          live.push(await cluster.start(victim.name));
        }
      } finally {
        stop.abort();
        await Promise.all(clients);
      }

      // What was never acknowledged is sent again until it is; then the cluster drains.
      const until = Date.now() + 30_000;
      for (let round = 0; ledger.retry.length > 0; round++) {
        assert.ok(Date.now() < until, `${ledger.retry.length} orders never acked`);
        const clave = ledger.retry.shift()!;
        const reply = await ask(live[round % live.length]!.port, order(clave));
        if (reply.ok === true) ledger.ack(clave, reply.id);
        else {
          ledger.retry.push(clave);
          await sleep(20);
        }
      }
      await waitUntil(
        async () => (await readPgRows(cluster.db)).every((row) => row.estado === "listo"),
        { timeoutMs: 30_000, what: "every order listo" },
      );

      const rows = await readPgRows(cluster.db);
      await checkAckedAreStored(cluster.db, ledger, "at the end");
      assert.equal(ledger.acked.size, ledger.issued, "every clave sent was acked in the end");
      assert.equal(rows.length, ledger.acked.size, "exactly one row per acked order, none extra");
      assert.deepEqual(Object.keys(Object.groupBy(rows, (row) => row.estado)), ["listo"]);
      assert.ok(rows.every((row) => row.intentos >= 1 && row.detalle_error === null));
      const takenOver = rows.filter((row) => row.intentos > 1).length;
      console.log(
        `cluster soak: seed ${seed}, ${kills} SIGKILLs, ${ledger.acked.size} orders acked ` +
          `and verified, ${ledger.resent} resends, ${ledger.unavailable} unavailable, ` +
          `${takenOver} processed more than once`,
      );
    });
  },
});
