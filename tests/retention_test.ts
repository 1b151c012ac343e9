/**
 * Retention (§4) through the wire: finished orders older than `--retain-s`
 * are deleted in bounded batches while new orders keep arriving; a deleted
 * order answers `not_found`, its `clave` may be used again, and ids are
 * never handed out twice.
 */
import assert from "node:assert/strict";
import { Server } from "../server/server.ts";
import { Logger } from "../server/log.ts";
import { MemoryStore } from "../server/store/memory_store.ts";
import { scrape } from "./metrics_util.ts";
import { rawConnect, startInProcess, tempDir, TEST_SETTINGS, waitUntil } from "./test_util.ts";
import { testWith } from "./permissions.ts";

function order(clave: string): string {
  return JSON.stringify({ cliente: "Ana", productos: ["pan"], direccion: "C 1", clave }) + "\n";
}

testWith("read", "write")(
  "retention deletes old finished orders in batches while orders keep arriving",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startInProcess(
      { db: `${dir.path}/p.db`, retainS: 1, metricsPort: 0, maxPedidos: 50 },
      { pruneBatchSize: 5 },
    );
    await using conn = await rawConnect(daemon.port);
    const OLD = 30;
    await conn.write(Array.from({ length: OLD }, (_, i) => order(`old-${i}`)).join(""));
    const old: number[] = [];
    for (let i = 0; i < OLD; i++) old.push((await conn.readLine())?.id as number);
    for (const id of old) {
      await conn.write(`{"op":"ESTADO","id":${id},"esperar":true}\n`);
      assert.equal(((await conn.readLine())?.pedido as { estado: string }).estado, "listo");
    }
    // A steady stream of new orders, each checked stored, until every old one is gone.
    const fresh: number[] = [];
    await waitUntil(async () => {
      await conn.write(order(`new-${fresh.length}`));
      const reply = await conn.readLine();
      assert.equal(reply?.ok, true, JSON.stringify(reply));
      fresh.push(reply?.id as number);
      await conn.write(`{"op":"ESTADO","id":${reply?.id}}\n{"op":"ESTADO","id":${old.at(-1)}}\n`);
      assert.equal((await conn.readLine())?.ok, true, "a new order is there at once");
      return (await conn.readLine())?.error === "not_found";
    }, { timeoutMs: 15_000, everyMs: 20, what: "the old orders pruned" });
    for (const id of old) {
      await conn.write(`{"op":"ESTADO","id":${id}}\n`);
      assert.equal((await conn.readLine())?.error, "not_found", `order ${id} was pruned`);
    }
    const metrics = await scrape(daemon.server.metricsAddr!);
    assert.ok(metrics.value("pedidos_retencion_borrados_total") >= OLD);
    assert.ok(
      metrics.value("pedidos_retencion_lotes_total") >= OLD / 5,
      "at most 5 orders per batch",
    );
    assert.equal(metrics.value("pedidos_retencion_fallos_total"), 0);
    // The window of a clave is the retention: a pruned order's clave makes a new order.
    await conn.write(order("old-0"));
    const reused = await conn.readLine();
    assert.equal(reused?.duplicado, undefined);
    assert.ok((reused?.id as number) > fresh.at(-1)!, "ids are never handed out twice");
  },
);

testWith("read", "write")(
  "retention deletes a lone order too, the newest, and its id is not handed out again, even after a restart",
  async () => {
    await using dir = await tempDir();
    const settings = { db: `${dir.path}/p.db`, retainS: 1, maxPedidos: 10 };
    let id: number;
    {
      await using daemon = await startInProcess(settings);
      await using conn = await rawConnect(daemon.port);
      await conn.write(order("solo"));
      id = (await conn.readLine())?.id as number;
      await waitUntil(async () => {
        await conn.write(`{"op":"ESTADO","id":${id}}\n`);
        return (await conn.readLine())?.error === "not_found";
      }, { timeoutMs: 10_000, everyMs: 100, what: "the only order pruned" });
    }
    await using daemon = await startInProcess(settings);
    await using conn = await rawConnect(daemon.port);
    await conn.write(order("solo"));
    const again = await conn.readLine();
    assert.equal(again?.duplicado, undefined, "its clave is free again");
    assert.ok((again?.id as number) > id, `id ${again?.id} given twice`);
  },
);

Deno.test("--retain-s 0 turns retention off: no pass runs, none is reported", async () => {
  await using daemon = await startInProcess({ retainS: 0, metricsPort: 0 });
  await using conn = await rawConnect(daemon.port);
  await conn.write(order("k"));
  const id = (await conn.readLine())?.id;
  await conn.write(`{"op":"ESTADO","id":${id},"esperar":true}\n`);
  assert.equal(((await conn.readLine())?.pedido as { estado: string }).estado, "listo");
  const metrics = await scrape(daemon.server.metricsAddr!);
  assert.equal(metrics.has("pedidos_retencion_pasadas_total"), false);
});

Deno.test("a stop while a retention batch hangs on the store still answers shutting_down and closes idle connections at once", async () => {
  // A store whose prune never answers until told: a PostgreSQL gone silent.
  let release = () => {};
  const hanging = new Promise<void>((resolve) => release = resolve);
  let pruning = () => {};
  const pruneStarted = new Promise<void>((resolve) => pruning = resolve);
  const store = new (class extends MemoryStore {
    override async prune(before: string, limit: number): Promise<number> {
      pruning();
      await hanging;
      return super.prune(before, limit);
    }
  })();
  const server = await Server.start({
    config: { ...TEST_SETTINGS, hosts: ["127.0.0.1"], retainS: 1 },
    logger: new Logger({ level: "error" }),
    store,
    inlineProcessing: true,
  });
  let stopped: Promise<unknown> = Promise.resolve();
  try {
    await using idle = await rawConnect(server.port);
    await using busy = await rawConnect(server.port);
    await busy.write(`{"op":"PING"}\n`);
    assert.equal((await busy.readLine())?.pong, true);
    await pruneStarted;
    stopped = server.shutdown();
    await busy.write(`{"op":"PING"}\n`);
    assert.equal((await busy.readLine())?.error, "shutting_down");
    assert.equal(await idle.readLine(), null, "an idle connection is closed at once");
  } finally {
    release();
    await stopped;
    await server.shutdown();
  }
});
