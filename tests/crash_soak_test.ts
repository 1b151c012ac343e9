/**
 * Crash soak (issue 4, §3): load with `clave`s against a real daemon
 * subprocess, SIGKILL at seeded random moments, restart, again and again;
 * then check docs/protocol.md §6 on the database file:
 *
 * - at every kill, every order acked so far is in the file with its id;
 * - at the end every acked order exists exactly once and is `listo`,
 *   nothing is left `pendiente`/`en proceso`, and there is no `error` row.
 *
 * About 12 s by default; `PEDIDOS_SOAK_SECONDS=300` soaks longer,
 * `PEDIDOS_TEST_SEED=<n>` replays a seed.
 */
import assert from "node:assert/strict";
import { Random, readRows, seedFromEnv, withSeed } from "./fault_util.ts";
import { rawConnect, startSubprocess, type Subprocess, tempDir, waitUntil } from "./test_util.ts";
import { readEnv, testWith } from "./permissions.ts";

const SOAK_MS = Number(readEnv("PEDIDOS_SOAK_SECONDS") ?? 12) * 1000;
const CLIENTS = 4;
const WINDOW = 16;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What the clients know: the orders acked (clave → id) and those still to send. */
class Ledger {
  readonly acked = new Map<string, number>();
  readonly retry: string[] = [];
  issued = 0;
  resent = 0;
  duplicates = 0;

  /** The next claves to send: retries first. */
  take(n: number): string[] {
    const out = this.retry.splice(0, n);
    this.resent += out.length;
    while (out.length < n) out.push(`soak-${this.issued++}`);
    return out;
  }

  ack(clave: string, id: number, duplicado: boolean): void {
    const before = this.acked.get(clave);
    assert.ok(
      before === undefined || before === id,
      `clave ${clave} acked as ${before} then ${id}`,
    );
    this.acked.set(clave, id);
    if (duplicado) this.duplicates++;
  }
}

/**
 * One client: windows of pipelined orders until `signal` aborts (or
 * `windows` were sent) and the window is answered; whatever is not acked
 * goes back to be retried.
 */
async function load(
  port: number,
  ledger: Ledger,
  signal: AbortSignal,
  windows = Infinity,
): Promise<void> {
  let conn;
  try {
    conn = await rawConnect(port);
  } catch {
    return; // the daemon is already gone
  }
  try {
    for (let w = 0; w < windows && !signal.aborted; w++) {
      const claves = ledger.take(WINDOW);
      let answered = 0;
      try {
        await conn.write(
          claves.map((clave) =>
            JSON.stringify({ cliente: "Soak", productos: ["pan"], direccion: "C 1", clave })
          ).join("\n") + "\n",
        );
        for (; answered < claves.length; answered++) {
          const reply = await conn.readLine(5000);
          if (reply === null) break;
          if (reply.ok === true) {
            ledger.ack(claves[answered]!, reply.id as number, reply.duplicado === true);
          } else {
            assert.ok(
              ["queue_full", "internal", "shutting_down"].includes(reply.error as string),
              `unexpected reply ${JSON.stringify(reply)}`,
            );
            ledger.retry.push(claves[answered]!);
            if (reply.error === "queue_full") await sleep(5);
          }
        }
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        // the connection broke: the daemon was killed
      }
      if (answered < claves.length) {
        ledger.retry.push(...claves.slice(answered));
        return;
      }
    }
  } finally {
    conn.close();
  }
}

/** Every order acked so far is in the file, under the id it was acked with. */
function checkAckedAreStored(db: string, ledger: Ledger, when: string): void {
  const stored = new Map(readRows(db).map((row) => [row.clave, row.id]));
  for (const [clave, id] of ledger.acked) {
    assert.equal(stored.get(clave), id, `${when}: acked order ${clave} (id ${id}) is stored`);
  }
}

testWith("read", "write", "run", "env")(
  "crash soak: SIGKILL at random moments loses no acked order; each ends listo exactly once",
  async () => {
    const seed = seedFromEnv(20_261_123);
    await withSeed(`crash soak seed ${seed}`, async () => {
      const rng = new Random(seed);
      await using dir = await tempDir();
      const db = `${dir.path}/soak.db`;
      const base = [
        "--db",
        db,
        "--workers",
        "2",
        "--max-pedidos",
        "64",
        "--drain-timeout-ms",
        "300",
      ];
      const ledger = new Ledger();
      const deadline = Date.now() + SOAK_MS;
      let kills = 0;
      let killsInDrain = 0;

      while (Date.now() < deadline || kills < 3) {
        const sync = kills % 3 === 2 ? "normal" : "full";
        const daemon: Subprocess = await startSubprocess(dir.path, [
          ...base,
          "--sync",
          sync,
          "--process-ms",
          "0-15",
        ]);
        const stop = new AbortController();
        const loaders = Array.from(
          { length: CLIENTS },
          () => load(daemon.port, ledger, stop.signal),
        );
        // From right at start (recovery running) to well into the load.
        await sleep(rng.chance(0.15) ? rng.int(0, 20) : rng.int(50, 600));
        if (rng.chance(0.2)) {
          daemon.kill("SIGTERM"); // killed while draining
          await sleep(rng.int(0, 60));
          killsInDrain++;
        }
        daemon.kill("SIGKILL");
        const { code } = await daemon.exited();
        assert.ok(code === 137 || code === 0, `exit status ${code}`);
        kills++;
        stop.abort();
        await Promise.all(loaders);
        checkAckedAreStored(db, ledger, `after kill ${kills} (sync ${sync})`);
      }

      // The last run is let finish: resend what was never acked, then wait for the pool.
      const last = await startSubprocess(dir.path, [...base, "--process-ms", "0"]);
      try {
        for (let round = 0; ledger.retry.length > 0; round++) {
          assert.ok(round < 200, `${ledger.retry.length} orders never acked`);
          const never = new AbortController().signal;
          await Promise.all(
            Array.from({ length: CLIENTS }, () => load(last.port, ledger, never, 1)),
          );
        }
        await waitUntil(
          () => readRows(db).every((row) => row.estado === "listo" || row.estado === "error"),
          { timeoutMs: 30_000, what: "every order finished" },
        );
      } finally {
        last.kill("SIGTERM");
      }
      const exit = await last.exited();
      assert.equal(exit.code, 0, exit.stderr);

      const rows = readRows(db);
      checkAckedAreStored(db, ledger, "at the end");
      assert.equal(ledger.acked.size, ledger.issued, "every clave sent was acked in the end");
      assert.equal(rows.length, ledger.acked.size, "exactly one row per acked order, none extra");
      assert.equal(new Set(rows.map((row) => row.clave)).size, rows.length);
      const states = Object.groupBy(rows, (row) => row.estado);
      assert.deepEqual(
        Object.keys(states),
        ["listo"],
        "every order is listo, none pendiente/error",
      );
      assert.ok(rows.every((row) => row.intentos >= 1 && row.detalle_error === null));
      const maxIntentos = Math.max(...rows.map((row) => row.intentos));
      const reprocessed = rows.filter((row) => row.intentos > 1).length;
      assert.ok(kills >= 3);
      console.log(
        `crash soak: seed ${seed}, ${kills} SIGKILLs (${killsInDrain} during a drain), ` +
          `${ledger.acked.size} orders acked and verified, ${ledger.resent} resends, ` +
          `${ledger.duplicates} answered duplicado, ${reprocessed} processed more than once ` +
          `(max intentos ${maxIntentos})`,
      );
    });
  },
);

testWith("read", "write", "run", "env")(
  "a SIGTERM or SIGINT right after the ready line is a graceful stop: exit 0 and the summary",
  async () => {
    // The daemon used to print its ready line before it listened for signals.
    await using dir = await tempDir();
    for (let i = 0; i < 5; i++) {
      const daemon = await startSubprocess(dir.path, ["--db", `${dir.path}/p.db`]);
      daemon.kill(i % 2 ? "SIGINT" : "SIGTERM");
      const exit = await daemon.exited();
      assert.equal(exit.code, 0, `run ${i}: ${exit.stderr}`);
      assert.match(exit.stdout, /resumen recibidos=0/);
    }
  },
);

testWith("read", "write", "run", "env")(
  "a drain that runs out of time puts running orders back to pendiente; the next start runs them",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    await using first = await startSubprocess(dir.path, [
      "--db",
      db,
      "--workers",
      "2",
      "--process-ms",
      "20000",
      "--drain-timeout-ms",
      "3000",
    ]);
    await using conn = await rawConnect(first.port);
    await conn.write(
      `${JSON.stringify({ cliente: "Ana", productos: ["pan"], direccion: "C 1" })}\n`.repeat(3),
    );
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await conn.readLine())?.id as number);
    await waitUntil(() => readRows(db).filter((r) => r.estado === "en proceso").length === 2);
    first.kill("SIGTERM");
    let exited = false;
    const exiting = first.exited().finally(() => exited = true);
    // Our connection is idle (every reply read): it is closed at once, not after the drain.
    assert.equal(await conn.closedByPeer(20_000), true, "idle connection closed");
    assert.equal(exited, false, "idle connection closed before the drain ended");
    const exit = await exiting;
    assert.equal(exit.code, 0, exit.stderr);
    // The drain ran out of time: both 20 s orders were stopped, none finished.
    assert.match(exit.stdout, /listos=0 .*pendientes=3/);
    assert.deepEqual(readRows(db).map((r) => [r.estado, r.intentos]), [
      ["pendiente", 1],
      ["pendiente", 1],
      ["pendiente", 0],
    ]);
    await using second = await startSubprocess(dir.path, ["--db", db, "--process-ms", "0"]);
    await waitUntil(() => readRows(db).every((r) => r.estado === "listo"), { what: "all listo" });
    assert.deepEqual(readRows(db).map((r) => r.intentos), [2, 2, 1]);
    second.kill("SIGTERM");
    assert.equal((await second.exited()).code, 0);
  },
);

testWith("read", "write", "run", "env")(
  "with a processor module, an order whose last attempt allowed is cut short by a kill -9 runs again at the next start (§4) and ends listo",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const processor = new URL("./fixtures/processors/scripted.ts", import.meta.url).pathname;
    const args = ["--db", db, "--processor", processor, "--max-intentos", "1", "--workers", "1"];
    await using first = await startSubprocess(dir.path, args);
    await using conn = await rawConnect(first.port);
    await conn.write(
      `${JSON.stringify({ cliente: "wait-1500", productos: ["pan"], direccion: "C 1" })}\n`,
    );
    const id = (await conn.readLine())?.id;
    await waitUntil(() => readRows(db)[0]?.estado === "en proceso", { what: "attempt 1 running" });
    first.kill("SIGKILL");
    await first.exited();
    await using second = await startSubprocess(dir.path, args);
    await using again = await rawConnect(second.port);
    await again.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":15000}\n`);
    const pedido = (await again.readLine(17_000))?.pedido as Record<string, unknown>;
    assert.deepEqual([pedido?.estado, pedido?.intentos], ["listo", 2], JSON.stringify(pedido));
    second.kill("SIGTERM");
    assert.equal((await second.exited()).code, 0);
  },
);

testWith("read", "write", "run", "env")(
  "with a processor module, an order whose every attempt ends with the daemon killed ends error after one attempt past --max-intentos, and the next start serves the others",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    const processor = new URL("./fixtures/processors/scripted.ts", import.meta.url).pathname;
    const args = ["--db", db, "--processor", processor, "--max-intentos", "2", "--workers", "1"];
    const running = async (daemon: Subprocess, attempt: number) =>
      await waitUntil(() => {
        const [row] = readRows(db);
        return row?.estado === "en proceso" && row.intentos === attempt;
      }, { what: `attempt ${attempt} running`, timeoutMs: 20_000 }).then(() => daemon);
    // An order whose attempt takes the daemon down (here: killed while it runs, every time).
    await using first = await startSubprocess(dir.path, args);
    await using conn = await rawConnect(first.port);
    await conn.write(
      `${JSON.stringify({ cliente: "wait-60000", productos: ["pan"], direccion: "C 1" })}\n`,
    );
    assert.equal((await conn.readLine())?.ok, true);
    (await running(first, 1)).kill("SIGKILL");
    await first.exited();
    await using second = await startSubprocess(dir.path, args);
    (await running(second, 2)).kill("SIGKILL");
    await second.exited();
    // The last attempt allowed was cut short: it runs once more.
    await using third = await startSubprocess(dir.path, args);
    (await running(third, 3)).kill("SIGKILL");
    await third.exited();
    // That one cut short too: not tried again, and the daemon serves others.
    await using fourth = await startSubprocess(dir.path, args);
    const [ended] = readRows(db);
    assert.equal(ended?.estado, "error");
    assert.equal(ended?.intentos, 3);
    await using other = await rawConnect(fourth.port);
    await other.write(
      `${JSON.stringify({ cliente: "ok", productos: ["pan"], direccion: "C 1" })}\n`,
    );
    const placed = await other.readLine();
    await other.write(`{"op":"ESTADO","id":${placed?.id},"esperar":true}\n`);
    assert.equal(((await other.readLine())?.pedido as { estado: string }).estado, "listo");
    await other.write(`{"op":"ESTADO","id":${ended?.id}}\n`);
    const detail = ((await other.readLine())?.pedido as { detalle_error: string }).detalle_error;
    assert.match(detail, /attempt 2 of 2 \(--max-intentos\), then attempt 3, the one more given/);
    // Ended by this run (STATS errores), with no processing time of its own.
    await other.write('{"op":"STATS"}\n');
    const stats = (await other.readLine())?.stats as { errores: number; listos: number };
    assert.deepEqual([stats.errores, stats.listos], [1, 1]);
    fourth.kill("SIGTERM");
    assert.equal((await fourth.exited()).code, 0);
  },
);
