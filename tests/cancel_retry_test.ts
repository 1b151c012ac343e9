/**
 * CANCELAR (§2.8) and REINTENTAR (§2.9) through the wire.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { rawConnect, startInProcess, startSubprocess, tempDir, waitUntil } from "./test_util.ts";
import { testWith } from "./permissions.ts";
import { freshDatabase, pgTest } from "./postgres_util.ts";

const FAULTY = new URL("./fixtures/faulty_processor_worker.ts", import.meta.url);
const SCRIPTED = new URL("./fixtures/processors/scripted.ts", import.meta.url).pathname;

function order(cliente: string): string {
  return JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1" }) + "\n";
}

type Line = Record<string, unknown> | null;

function pedidoOf(reply: Line): Record<string, unknown> {
  return reply?.pedido as Record<string, unknown>;
}

Deno.test("an id past 2^53 is not_found, and the message never names the neighbouring id it reads as", async () => {
  await using daemon = await startInProcess();
  await using conn = await rawConnect(daemon.port);
  for (const op of ["ESTADO", "CANCELAR", "REINTENTAR"]) {
    await conn.write(`{"op":"${op}","id":9007199254740993}\n`);
    const reply = await conn.readLine();
    assert.equal(reply?.error, "not_found", op);
    assert.doesNotMatch(String(reply?.mensaje), /9007199254740992/, op);
    assert.match(String(reply?.mensaje), /mayor que cualquier id posible/, op);
  }
});

Deno.test("an id below 1 names no order: not_found, as an unknown id, for ESTADO, CANCELAR and REINTENTAR", async () => {
  await using daemon = await startInProcess();
  await using conn = await rawConnect(daemon.port);
  for (const op of ["ESTADO", "CANCELAR", "REINTENTAR"]) {
    for (const id of ["0", "-1", "-1e400"]) {
      await conn.write(`{"op":"${op}","id":${id}}\n`);
      const reply = await conn.readLine();
      assert.equal(reply?.error, "not_found", `${op} ${id}`);
      assert.match(String(reply?.mensaje), /los ids empiezan en 1/);
    }
    await conn.write(`{"op":"${op}","id":"1"}\n`);
    assert.equal(
      (await conn.readLine())?.error,
      "invalid_request",
      "a string is of the wrong type",
    );
  }
});

Deno.test("CANCELAR answers not_found, and not_cancellable with the order once it is listo", async () => {
  await using daemon = await startInProcess();
  await using conn = await rawConnect(daemon.port);
  await conn.write('{"op":"CANCELAR","id":999}\n');
  assert.equal((await conn.readLine())?.error, "not_found");
  await conn.write(order("Ana"));
  const id = (await conn.readLine())?.id;
  await conn.write(`{"op":"ESTADO","id":${id},"esperar":true}\n{"op":"CANCELAR","id":${id}}\n`);
  assert.equal(pedidoOf(await conn.readLine()).estado, "listo");
  const refused = await conn.readLine();
  assert.equal(refused?.error, "not_cancellable");
  assert.equal(pedidoOf(refused).estado, "listo", "the reply carries the order as it is");
  assert.match(String(refused?.mensaje), /^❌ /);
});

testWith("read", "write", "run", "env")(
  "a cancelled order gives its slot back at once and is never processed, not even after a restart",
  async () => {
    await using dir = await tempDir();
    // One worker busy for a minute: the second order waits pendiente.
    const args = ["--workers", "1", "--max-pedidos", "2", "--process-ms", "60000", "--db", "p.db"];
    let cancelledId: number;
    {
      await using daemon = await startSubprocess(dir.path, args);
      await using conn = await rawConnect(daemon.port);
      await conn.write(order("primero") + order("segundo") + order("tercero"));
      assert.equal((await conn.readLine())?.ok, true);
      cancelledId = (await conn.readLine())?.id as number;
      assert.equal((await conn.readLine())?.error, "queue_full");
      await conn.write(
        `{"op":"CANCELAR","id":${cancelledId}}\n` + order("cuarto") + '{"op":"STATS"}\n',
      );
      const cancelled = pedidoOf(await conn.readLine());
      assert.equal(cancelled.estado, "cancelado");
      assert.match(String(cancelled.fecha_fin), /Z$/);
      assert.equal((await conn.readLine())?.ok, true, "the slot came back at once");
      const stats = (await conn.readLine())?.stats as Record<string, number>;
      assert.equal(stats.cancelados, 1);
      daemon.kill("SIGKILL");
      await daemon.exited();
    }
    const quick = args.map((arg) => arg === "60000" ? "0" : arg);
    await using again = await startSubprocess(dir.path, quick);
    await using conn = await rawConnect(again.port);
    await conn.write(`{"op":"LISTAR"}\n`);
    const listed = (await conn.readLine())?.pedidos as { id: number; estado: string }[];
    await conn.write(`{"op":"ESTADO","id":${listed[0]!.id},"esperar":true}\n`);
    await conn.readLine();
    await conn.write(`{"op":"ESTADO","id":${cancelledId}}\n`);
    const after = pedidoOf(await conn.readLine());
    assert.deepEqual([after.estado, after.intentos, after.worker], ["cancelado", 0, null]);
  },
);

testWith("read")(
  "REINTENTAR puts an error order back in the queue, intentos going on counting",
  async () => {
    await using daemon = await startInProcess({ workers: 1 }, { processorUrl: FAULTY });
    await using conn = await rawConnect(daemon.port);
    await conn.write(order("fail"));
    const id = (await conn.readLine())?.id;
    await conn.write(`{"op":"ESTADO","id":${id},"esperar":true}\n`);
    const failed = pedidoOf(await conn.readLine());
    assert.deepEqual([failed.estado, failed.intentos], ["error", 3]);
    await conn.write(`{"op":"REINTENTAR","id":${id}}\n{"op":"ESTADO","id":${id},"esperar":true}\n`);
    const retried = pedidoOf(await conn.readLine());
    assert.deepEqual(
      [
        retried.estado,
        retried.detalle_error,
        retried.fecha_inicio,
        retried.worker,
        retried.intentos,
      ],
      ["pendiente", null, null, null, 3],
    );
    const again = pedidoOf(await conn.readLine());
    assert.deepEqual([again.estado, again.intentos], ["error", 4], "one more attempt each time");
    await conn.write(order("Ana"));
    const ok = (await conn.readLine())?.id;
    await conn.write(`{"op":"ESTADO","id":${ok},"esperar":true}\n{"op":"REINTENTAR","id":${ok}}\n`);
    await conn.readLine();
    const refused = await conn.readLine();
    assert.equal(refused?.error, "not_retryable");
    assert.equal(pedidoOf(refused).estado, "listo");
    await conn.write('{"op":"REINTENTAR","id":4242}\n');
    assert.equal((await conn.readLine())?.error, "not_found");
  },
);

testWith("read")("REINTENTAR on a full daemon answers queue_full and changes nothing", async () => {
  // `fail` fails at once; any other order takes a minute.
  await using daemon = await startInProcess(
    { workers: 1, maxPedidos: 1, processMs: { min: 60_000, max: 60_000 }, drainTimeoutMs: 50 },
    { processorUrl: FAULTY },
  );
  await using conn = await rawConnect(daemon.port);
  await conn.write(order("fail"));
  const id = (await conn.readLine())?.id;
  await conn.write(`{"op":"ESTADO","id":${id},"esperar":true}\n`);
  assert.equal(pedidoOf(await conn.readLine()).estado, "error");
  await conn.write(`{"op":"CANCELAR","id":${id}}\n`);
  const notCancellable = await conn.readLine();
  assert.equal(notCancellable?.error, "not_cancellable");
  assert.equal(
    notCancellable?.mensaje,
    `❌ El pedido ${id} está en error: solo se cancela un pedido pendiente.`,
    "in Spanish as one says it",
  );
  await conn.write(order("Ana")); // runs for a minute, holding the only slot
  assert.equal((await conn.readLine())?.ok, true);
  await conn.write(`{"op":"REINTENTAR","id":${id}}\n{"op":"ESTADO","id":${id}}\n`);
  assert.equal((await conn.readLine())?.error, "queue_full");
  assert.equal(pedidoOf(await conn.readLine()).estado, "error");
});

Deno.test("a REINTENTAR that is refused holds no slot: a PEDIDO sent with it on a daemon with one slot is taken", async () => {
  await using daemon = await startInProcess({ workers: 1, maxPedidos: 1 });
  await using conn = await rawConnect(daemon.port);
  await using other = await rawConnect(daemon.port);
  await conn.write(order("Ana"));
  const id = (await conn.readLine())?.id;
  for (let round = 0; round < 20; round++) {
    await conn.write(`{"op":"ESTADO","id":${id},"esperar":true}\n`);
    assert.equal(pedidoOf(await conn.readLine()).estado, "listo");
    // The one slot is free; the REINTENTAR of a listo order cannot take it.
    await Promise.all([conn.write(`{"op":"REINTENTAR","id":${id}}\n`), other.write(order("Ana"))]);
    assert.equal((await conn.readLine())?.error, "not_retryable");
    const taken = await other.readLine();
    assert.equal(taken?.ok, true, `round ${round}: ${JSON.stringify(taken)}`);
    await other.write(`{"op":"ESTADO","id":${taken?.id},"esperar":true}\n`);
    assert.equal(pedidoOf(await other.readLine()).estado, "listo");
  }
});

/**
 * §2.9: a REINTENTAR puts the order back at the end of the queue. One worker:
 * E fails; B holds the worker while P0 and P1 wait; E is retried, then Q
 * comes. They must start in the order P0, P1, E, Q (on PostgreSQL, E, whose
 * id is the lowest, used to go first).
 */
async function retriedGoesLast(db: string): Promise<void> {
  await using daemon = await startInProcess({
    workers: 1,
    maxPedidos: 10,
    db,
    processor: SCRIPTED,
    maxIntentos: 1,
    drainTimeoutMs: 2000,
  });
  await using conn = await rawConnect(daemon.port);
  const send = async (cliente: string) => {
    await conn.write(order(cliente));
    const reply = await conn.readLine();
    assert.equal(reply?.ok, true, JSON.stringify(reply));
    return reply?.id as number;
  };
  const waitFor = async (id: number) => {
    await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":15000}\n`);
    return pedidoOf(await conn.readLine(17_000));
  };
  const e = await send("wait-20-throw");
  assert.equal((await waitFor(e)).estado, "error");
  const b = await send("wait-400");
  const p0 = await send("wait-20");
  const p1 = await send("wait-20");
  await conn.write(`{"op":"REINTENTAR","id":${e}}\n`);
  assert.equal((await conn.readLine())?.ok, true);
  const q = await send("wait-20");
  const started: [string, number][] = [];
  for (const [name, id] of [["B", b], ["P0", p0], ["P1", p1], ["E", e], ["Q", q]] as const) {
    const done = await waitFor(id);
    assert.ok(["listo", "error"].includes(done.estado as string), JSON.stringify(done));
    started.push([name, Date.parse(done.fecha_inicio as string)]);
  }
  const order_ = started.sort((x, y) => x[1] - y[1]).map(([name]) => name);
  assert.deepEqual(order_, ["B", "P0", "P1", "E", "Q"], JSON.stringify(started));
}

testWith("read", "write")(
  "REINTENTAR puts the order back at the end of the queue (SQLite)",
  () => retriedGoesLast(":memory:"),
);

pgTest({
  name: "REINTENTAR puts the order back at the end of the queue (PostgreSQL)",
  async fn() {
    await using db = await freshDatabase();
    await retriedGoesLast(db.url);
  },
});

testWith("read", "write", "run", "env")(
  "a REINTENTAR'd order keeps its place at the end of the queue through a kill -9 and a restart (SQLite): the orders stored before the retry run first",
  async () => {
    await using dir = await tempDir();
    const args = [
      "--workers",
      "1",
      "--max-pedidos",
      "10",
      "--processor",
      SCRIPTED,
      "--max-intentos",
      "1",
      "--db",
      "p.db",
    ];
    const ids: Record<string, number> = {};
    {
      await using daemon = await startSubprocess(dir.path, args);
      await using conn = await rawConnect(daemon.port);
      const send = async (name: string, cliente: string) => {
        await conn.write(order(cliente));
        const reply = await conn.readLine();
        assert.equal(reply?.ok, true, JSON.stringify(reply));
        ids[name] = reply?.id as number;
      };
      await send("A", "wait-20-throw");
      await conn.write(`{"op":"ESTADO","id":${ids.A},"esperar":true,"timeout_ms":15000}\n`);
      assert.equal(pedidoOf(await conn.readLine(17_000)).estado, "error");
      await send("H", "wait-5000"); // holds the only worker until the kill
      await send("P", "wait-50");
      await conn.write(`{"op":"REINTENTAR","id":${ids.A}}\n`);
      assert.equal(pedidoOf(await conn.readLine()).estado, "pendiente");
      await send("Q", "wait-50");
      // H's start is committed: the restart runs it again first (§4), then the rest in order.
      await waitUntil(() => {
        const db = new DatabaseSync(`${dir.path}/p.db`, { readOnly: true });
        try {
          const row = db.prepare("SELECT estado FROM pedidos WHERE id = ?").get(ids.H!);
          return row?.estado === "en proceso";
        } finally {
          db.close();
        }
      }, { what: "H stored en proceso" });
      daemon.kill("SIGKILL");
      await daemon.exited();
    }
    await using again = await startSubprocess(dir.path, args);
    await using conn = await rawConnect(again.port);
    const started: [string, number][] = [];
    for (const name of ["P", "A", "Q"]) {
      await conn.write(`{"op":"ESTADO","id":${ids[name]},"esperar":true,"timeout_ms":15000}\n`);
      const done = pedidoOf(await conn.readLine(17_000));
      assert.ok(["listo", "error"].includes(done.estado as string), JSON.stringify(done));
      started.push([name, Date.parse(done.fecha_inicio as string)]);
    }
    const runOrder = started.sort((x, y) => x[1] - y[1]).map(([name]) => name);
    assert.deepEqual(runOrder, ["P", "A", "Q"], JSON.stringify({ ids, started }));
    await conn.write(`{"op":"ESTADO","id":${ids.H}}\n`);
    const h = pedidoOf(await conn.readLine());
    assert.deepEqual([h.estado, h.intentos], ["listo", 2], "H ran again, first");
    assert.ok(Date.parse(h.fecha_inicio as string) < started[0]![1], JSON.stringify(h));
  },
);

/**
 * §2.9: REINTENTAR answers `queue_full` only when no slot is free. Eight
 * REINTENTARs of one `error` order at once (a double click, two operators):
 * one puts it back, the others find it `pendiente` (`not_retryable`), and a
 * PEDIDO sent with them is taken — none of them held a slot for a retry
 * that could not happen.
 */
async function retriesOfOneOrderAtOnce(db: string): Promise<void> {
  await using daemon = await startInProcess({
    workers: 1,
    maxPedidos: 3,
    db,
    processor: SCRIPTED,
    maxIntentos: 1,
    retryBackoffMs: 10,
  });
  await using conn = await rawConnect(daemon.port);
  await using other = await rawConnect(daemon.port);
  const retriers = await Promise.all(Array.from({ length: 8 }, () => rawConnect(daemon.port)));
  const waitFor = async (id: unknown) => {
    await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":8000}\n`);
    return pedidoOf(await conn.readLine(10_000));
  };
  try {
    for (let round = 0; round < 5; round++) {
      // It fails 300 ms into each attempt: the retry taken is still running
      // while the others are answered.
      await conn.write(order("wait-300-throw"));
      const id = (await conn.readLine())?.id;
      assert.equal((await waitFor(id)).estado, "error");
      await Promise.all([
        ...retriers.map((r) => r.write(`{"op":"REINTENTAR","id":${id}}\n`)),
        other.write(order("ok")),
      ]);
      const codes = (await Promise.all(retriers.map((r) => r.readLine())))
        .map((reply) => reply?.ok === true ? "ok" : String(reply?.error)).sort();
      assert.deepEqual(
        codes,
        [...Array(7).fill("not_retryable"), "ok"],
        `round ${round}`,
      );
      const taken = await other.readLine();
      assert.equal(taken?.ok, true, `round ${round}: ${JSON.stringify(taken)}`);
      assert.equal((await waitFor(taken?.id)).estado, "listo");
      assert.equal((await waitFor(id)).estado, "error");
    }
  } finally {
    await Promise.all(retriers.map((r) => r[Symbol.asyncDispose]()));
  }
}

testWith("read", "write")(
  "REINTENTARs of one failed order sent at once: one ok, the others not_retryable, none queue_full, and a PEDIDO sent with them is taken (SQLite)",
  () => retriesOfOneOrderAtOnce(":memory:"),
);

pgTest({
  name:
    "REINTENTARs of one failed order sent at once: one ok, the others not_retryable, none queue_full, and a PEDIDO sent with them is taken (PostgreSQL)",
  async fn() {
    await using db = await freshDatabase();
    await retriesOfOneOrderAtOnce(db.url);
  },
});

pgTest({
  name:
    "orders resending a stored clave hold no room while the database answers: a new order sent with nine of them to a daemon with free slots is taken (PostgreSQL)",
  async fn() {
    await using db = await freshDatabase();
    await using daemon = await startInProcess({ workers: 1, maxPedidos: 3, db: db.url });
    await using conn = await rawConnect(daemon.port);
    const resenders = await Promise.all(Array.from({ length: 9 }, () => rawConnect(daemon.port)));
    const keyed = JSON.stringify({
      cliente: "Ana",
      productos: ["pan"],
      direccion: "C 1",
      clave: "k-1",
    });
    try {
      await conn.write(keyed + "\n");
      const stored = (await conn.readLine())?.id;
      assert.equal(typeof stored, "number");
      for (let round = 0; round < 10; round++) {
        await Promise.all(resenders.map((r) => r.write(keyed + "\n")));
        await conn.write(order("Bea"));
        for (const r of resenders) {
          const reply = await r.readLine();
          assert.equal(reply?.id, stored, `round ${round}: ${JSON.stringify(reply)}`);
        }
        const fresh = await conn.readLine();
        assert.equal(fresh?.ok, true, `round ${round}: ${JSON.stringify(fresh)}`);
        await conn.write(`{"op":"ESTADO","id":${fresh?.id},"esperar":true,"timeout_ms":8000}\n`);
        assert.equal(pedidoOf(await conn.readLine(10_000)).estado, "listo");
      }
    } finally {
      await Promise.all(resenders.map((r) => r[Symbol.asyncDispose]()));
    }
  },
});
