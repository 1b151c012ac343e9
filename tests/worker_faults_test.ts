/**
 * Processor faults seen from the protocol (issue 4, §5): a worker that
 * throws, dies, hangs or goes silent — before or in the middle of an order —
 * is replaced, its order retried or ended `error` with `detalle_error`, its
 * slot returned, and the pool is back at full size.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { rawConnect, startInProcess, tempDir, waitUntil } from "./test_util.ts";
import { testWith } from "./permissions.ts";

const FAULTY = new URL("./fixtures/faulty_processor_worker.ts", import.meta.url);

async function orderAndWait(port: number, cliente: string) {
  await using conn = await rawConnect(port);
  await conn.write(JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1" }) + "\n");
  const id = (await conn.readLine())?.id;
  await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":10000}\n`);
  return (await conn.readLine(12_000))?.pedido as Record<string, unknown>;
}

async function stats(port: number) {
  await using conn = await rawConnect(port);
  await conn.write('{"op":"STATS"}\n');
  return (await conn.readLine())?.stats as Record<string, number>;
}

testWith("read")("an order whose worker crashes once is retried and ends listo", async () => {
  await using daemon = await startInProcess({ workers: 2 }, { processorUrl: FAULTY });
  const pedido = await orderAndWait(daemon.port, "throw-once");
  assert.equal(pedido.estado, "listo");
  assert.equal(pedido.intentos, 2);
  const s = await stats(daemon.port);
  assert.equal(s.libres, s.capacidad, "the slot came back");
  assert.equal(s.workers, 2, "the pool is at full size");
});

testWith("read")(
  "an order whose worker always crashes ends error with detalle_error; the pool goes on",
  async () => {
    await using daemon = await startInProcess({ workers: 2 }, { processorUrl: FAULTY });
    const pedido = await orderAndWait(daemon.port, "throw");
    assert.equal(pedido.estado, "error");
    assert.equal(pedido.intentos, 3);
    assert.match(pedido.detalle_error as string, /boom/);
    assert.ok(pedido.fecha_fin);
    const ok = await orderAndWait(daemon.port, "Ana");
    assert.equal(ok.estado, "listo");
    await waitUntil(async () => (await stats(daemon.port)).libres === 6, { what: "slots back" });
    const s = await stats(daemon.port);
    assert.equal(s.errores, 1);
    assert.equal(s.listos, 1);
  },
);

testWith("read", "write", "run", "env")(
  "an order whose worker goes silent is retried after the stall time",
  async () => {
    await using daemon = await startInProcess({ workers: 1 }, {
      processorUrl: FAULTY,
      stallMs: 200,
    });
    const pedido = await orderAndWait(daemon.port, "exit");
    assert.equal(pedido.estado, "error");
    assert.equal(pedido.intentos, 3);
    assert.match(pedido.detalle_error as string, /no answer/);
    assert.equal((await orderAndWait(daemon.port, "Ana")).estado, "listo");
  },
);

/** Orders `n` of `cliente` pipelined on one connection; their ids. */
async function orders(port: number, cliente: string, n: number): Promise<number[]> {
  await using conn = await rawConnect(port);
  const order = JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1" });
  await conn.write(`${order}\n`.repeat(n));
  const ids = [];
  for (let i = 0; i < n; i++) {
    const reply = await conn.readLine();
    assert.equal(reply?.ok, true, JSON.stringify(reply));
    ids.push(reply?.id as number);
  }
  return ids;
}

async function waitFor(port: number, id: number): Promise<Record<string, unknown>> {
  await using conn = await rawConnect(port);
  await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":15000}\n`);
  return (await conn.readLine(17_000))?.pedido as Record<string, unknown>;
}

/**
 * The pool is back at full size: two orders sent together run at the same
 * time, one on each worker. A worker that keeps crashing is respawned with a
 * backoff (up to 2 s), so this may take a few tries.
 */
async function assertFullPool(port: number): Promise<void> {
  let last = "";
  await waitUntil(async () => {
    const ids = await orders(port, "Ana", 2);
    const done = await Promise.all(ids.map((id) => waitFor(port, id)));
    const [a, b] = done.map((p) => ({
      worker: p.worker,
      start: Date.parse(p.fecha_inicio as string),
      end: Date.parse(p.fecha_fin as string),
    }));
    last = JSON.stringify([a, b]);
    return a!.worker !== b!.worker && a!.start < b!.end && b!.start < a!.end;
  }, { timeoutMs: 6000, everyMs: 100, what: "both workers running at once" }).catch((error) => {
    throw new Error(`${error.message}; last two orders: ${last}`);
  });
}

for (const fault of ["mid-throw", "mid-reject", "mid-exit", "mid-hang"]) {
  testWith("read")(
    `a worker that dies mid-order (${fault}) is replaced; the order is retried and ends listo`,
    async () => {
      await using daemon = await startInProcess(
        { workers: 2, processMs: { min: 150, max: 150 } },
        { processorUrl: FAULTY, stallMs: 300 },
      );
      const [id] = await orders(daemon.port, fault, 1);
      const pedido = await waitFor(daemon.port, id!);
      assert.equal(pedido.estado, "listo");
      assert.equal(pedido.intentos, 2, "one failed attempt, one good one");
      assert.equal(pedido.detalle_error, null);
      await waitUntil(async () => (await stats(daemon.port)).libres === 6, { what: "slot back" });
      await assertFullPool(daemon.port);
      const s = await stats(daemon.port);
      assert.equal(s.workers, 2);
      assert.equal(s.listos, 3);
      assert.equal(s.errores, 0);
    },
  );
}

testWith("read")(
  "orders in a run behind a job that crashes the worker are not charged for it: they end listo, only the crashing one ends error",
  async () => {
    // --process-ms 0: pipelined orders go to the worker in runs (runMany).
    await using daemon = await startInProcess({ workers: 1, maxPedidos: 20 }, {
      processorUrl: FAULTY,
    });
    await using conn = await rawConnect(daemon.port);
    const clientes = ["Ana", "throw", "Bea", "Caro", "Dani", "Eva"];
    await conn.write(
      clientes.map((cliente) => JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1" }))
        .join("\n") + "\n",
    );
    const ids: number[] = [];
    for (const cliente of clientes) {
      const reply = await conn.readLine();
      assert.equal(reply?.ok, true, `${cliente}: ${JSON.stringify(reply)}`);
      ids.push(reply?.id as number);
    }
    for (const [i, id] of ids.entries()) {
      const pedido = await waitFor(daemon.port, id);
      if (clientes[i] === "throw") {
        assert.equal(pedido.estado, "error");
        assert.equal(pedido.intentos, 3, "its own three attempts");
      } else {
        assert.equal(pedido.estado, "listo", `${clientes[i]}: ${JSON.stringify(pedido)}`);
        assert.ok((pedido.intentos as number) >= 1 && (pedido.intentos as number) <= 2);
      }
    }
    await waitUntil(async () => (await stats(daemon.port)).libres === 20, { what: "slots back" });
  },
);

testWith("read")(
  "every worker crashing at once with orders queued loses none: all retried, all listo",
  async () => {
    await using daemon = await startInProcess(
      { workers: 2, maxPedidos: 10, processMs: { min: 20, max: 20 } },
      { processorUrl: FAULTY },
    );
    const ids = await orders(daemon.port, "throw-once", 8);
    for (const id of ids) {
      const pedido = await waitFor(daemon.port, id);
      assert.equal(pedido.estado, "listo", `order ${id}`);
      assert.equal(pedido.intentos, 2);
    }
    await waitUntil(async () => (await stats(daemon.port)).libres === 10, { what: "slots back" });
    await assertFullPool(daemon.port);
  },
);

testWith("read")(
  "a TASK whose worker crashes gets internal; its slot comes back and the pool is restored",
  async () => {
    await using daemon = await startInProcess(
      { workers: 2, maxPedidos: 2, processMs: { min: 150, max: 150 } },
      { processorUrl: FAULTY },
    );
    await using conn = await rawConnect(daemon.port);
    await conn.write('{"op":"TASK","task":{"name":"upper","s":"crash"}}\n');
    const reply = await conn.readLine();
    assert.equal(reply?.error, "internal");
    assert.equal((await stats(daemon.port)).libres, 2, "the task's slot came back");
    await conn.write('{"op":"TASK","task":{"name":"upper","s":"hola"}}\n');
    assert.equal((await conn.readLine())?.result, "HOLA");
    await assertFullPool(daemon.port);
  },
);

Deno.test("null, arrays and malformed tasks never reach a worker: no worker stops", async () => {
  await using daemon = await startInProcess({ workers: 2, processMs: { min: 150, max: 150 } });
  await using conn = await rawConnect(daemon.port);
  const junk = [
    "null",
    "[null]",
    '"null"',
    '{"op":"TASK","task":null}',
    '{"op":"TASK","task":{"name":"sum","args":null}}',
    '{"op":"TASK","task":{"name":"sum","args":[null]}}',
    '{"op":"TASK","task":{"name":"upper","s":null}}',
    '{"op":"TASK","task":{"name":null}}',
    '{"op":"TASK","data":null}',
    '{"cliente":null,"productos":null,"direccion":null}',
  ];
  await conn.write(junk.join("\n") + "\n");
  for (const line of junk) {
    const reply = await conn.readLine();
    assert.equal(reply?.ok, false, line);
    assert.notEqual(reply?.error, "internal", line);
  }
  await assertFullPool(daemon.port);
  assert.equal((await stats(daemon.port)).workers, 2);
});

testWith("read", "write")(
  "attempts interrupted by restarts count: an order recovered with 2 attempts that fails once ends error",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    {
      await using daemon = await startInProcess({ db });
      await daemon.server.shutdown(); // creates the schema
    }
    const file = new DatabaseSync(db);
    try {
      file.prepare(
        `INSERT INTO pedidos (cliente, productos, direccion, estado, fecha_recibido, intentos)
       VALUES ('throw', '["pan"]', 'C 1', 'en proceso', ?, 2)`,
      ).run(new Date().toISOString());
    } finally {
      file.close();
    }
    await using daemon = await startInProcess({ db, workers: 1 }, { processorUrl: FAULTY });
    const pedido = await waitFor(daemon.port, 1);
    assert.equal(pedido.estado, "error");
    assert.equal(pedido.intentos, 3);
    assert.match(pedido.detalle_error as string, /boom/);
  },
);
