/**
 * The load generator against a real daemon in this process: waiting for
 * `listo`, deduplication, the semaphore, `busy`, and a daemon that stops
 * mid-run.
 */
import assert from "node:assert/strict";
import { runLoad } from "./run_load.ts";
import { startInProcess } from "../../tests/test_util.ts";

function base(port: number) {
  return { hosts: ["127.0.0.1"], port, progressEveryMs: 20 };
}

Deno.test("runLoad() with esperar waits until every accepted order is listo, and a rerun is deduplicated", async () => {
  await using daemon = await startInProcess({ maxPedidos: 1000, workers: 2 });
  const options = {
    ...base(daemon.port),
    clientes: 3,
    pedidos: 5,
    pipeline: 2,
    clavePrefijo: "dedup",
    esperar: true,
  };
  const first = await runLoad(options);
  assert.equal(first.aceptados, 15);
  assert.equal(first.duplicados, 0);
  assert.equal(first.errores, 0);
  assert.equal(first.esperar?.listos, 15);
  assert.equal(first.esperar?.sinTerminar, 0);
  assert.ok(first.esperar?.hastaListosS !== null);
  assert.equal(new Set(first.ids).size, 15);

  const again = await runLoad(options);
  assert.equal(again.aceptados, 15);
  assert.equal(again.duplicados, 15, "same claves: no new orders");
  assert.deepEqual([...again.ids].sort(), [...first.ids].sort());
  assert.equal(again.esperar?.listos, 15);
  const stats = await (await daemon.client()).call("STATS");
  assert.equal(stats.ok && stats.stats.aceptados, 15);
});

Deno.test("runLoad() sees the semaphore: a small capacity rejects with queue_full", async () => {
  // Orders take a minute: the first 2 hold the capacity for the whole run, whatever the timing.
  await using daemon = await startInProcess({
    maxPedidos: 2,
    workers: 1,
    processMs: { min: 60_000, max: 60_000 },
    drainTimeoutMs: 100,
  });
  const summary = await runLoad({ ...base(daemon.port), clientes: 4, pedidos: 3 });
  assert.equal(summary.enviados, 12);
  assert.equal(summary.aceptados, 2);
  assert.equal(summary.rechazados, 10);
  assert.equal(summary.errores, 0);
});

Deno.test("runLoad() counts busy when there are more clients than --max-connections", async () => {
  await using daemon = await startInProcess({ maxConnections: 2 });
  const summary = await runLoad({ ...base(daemon.port), clientes: 4, pedidos: 3 });
  assert.ok((summary.erroresPorTipo.busy ?? 0) >= 1, JSON.stringify(summary.erroresPorTipo));
  assert.equal(summary.aceptados, 6, "the clients that got in were served");
});

Deno.test("runLoad() against a daemon that stops mid-run ends and reports it", async () => {
  const daemon = await startInProcess({ maxPedidos: 100_000 });
  let stopping: Promise<unknown> | null = null;
  // Only the daemon's stop can end a run of 10⁹ orders; the guard turns a hang into a failure.
  const guard = new AbortController();
  const timer = setTimeout(() => guard.abort(), 30_000);
  try {
    const summary = await runLoad({
      ...base(daemon.port),
      clientes: 4,
      pedidos: 1e9,
      replyTimeoutMs: 2000,
    }, {
      signal: guard.signal,
      onProgress: (p) => {
        if (p.aceptados > 20 && stopping === null) stopping = daemon.server.shutdown();
      },
    });
    assert.equal(summary.interrumpido, false, "it ended by itself, when the daemon stopped");
    assert.ok(summary.aceptados > 20);
    assert.ok(summary.errores > 0, "the stop shows up as errors");
    const kinds = Object.keys(summary.erroresPorTipo);
    assert.ok(
      kinds.some((k) => ["shutting_down", "conexion_perdida", "sin_respuesta"].includes(k)),
      kinds.join(","),
    );
  } finally {
    clearTimeout(timer);
    await stopping;
    await daemon[Symbol.asyncDispose]();
  }
});
