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
  // No grace for a place: the 2 clients that get in would otherwise finish
  // and make room for the other 2 within it (the daemon's 50 ms).
  await using daemon = await startInProcess({ maxConnections: 2 }, { busyGraceMs: 0 });
  const summary = await runLoad({ ...base(daemon.port), clientes: 4, pedidos: 3 });
  assert.equal(summary.aceptados, 6, "the clients that got in were served");
  // The 2 turned away are failed connections, not lost ones; an order one
  // of them wrote before its busy came is not an order of the run (§7).
  assert.deepEqual(summary.conexiones, { abiertas: 2, fallidas: 2, perdidas: 0 });
  assert.deepEqual(summary.incidencias, { busy: 2 }, "listed for people too");
  assert.equal(summary.enviados, 6, JSON.stringify(summary));
  assert.equal(summary.errores, 0, JSON.stringify(summary));
});

Deno.test("runLoad() with two hosts moves a connection turned away with busy to the second, which serves its orders", async () => {
  // The daemons of a cluster: one on 127.0.0.1 with room for 2 connections, one on ::1.
  await using first = await startInProcess({ hosts: ["127.0.0.1"], maxConnections: 2 }, {
    busyGraceMs: 0,
  });
  await using second = await startInProcess({ hosts: ["::1"], port: first.port });
  const summary = await runLoad({
    ...base(first.port),
    hosts: ["127.0.0.1", "::1"],
    clientes: 4,
    pedidos: 3,
  });
  // Every order of the run sent once and accepted: none lost with the busy ones.
  assert.equal(summary.enviados, 12, JSON.stringify(summary));
  assert.equal(summary.aceptados, 12, JSON.stringify(summary));
  assert.deepEqual(summary.conexiones, { abiertas: 4, fallidas: 0, perdidas: 0 });
  assert.deepEqual(summary.incidencias, { busy: 2, reconectadas: 2 });
  const stats = await (await second.client("::1")).call("STATS");
  assert.ok(stats.ok && stats.stats.recibidos === 6, JSON.stringify(stats));
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
    assert.equal(summary.aceptados + summary.rechazados + summary.errores, summary.enviados);
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

/**
 * A proxy to `port` on a free port that counts the requests of each op
 * passing through it (an op in a line of its own), for as long as it lives.
 */
function countingProxy(port: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ops = new Map<string, number>();
  const conns = new Set<Deno.TcpConn>();
  const pipes: Promise<unknown>[] = [];
  const accepting = (async () => {
    for await (const client of listener) {
      const daemon = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.add(client).add(daemon);
      const decoder = new TextDecoder();
      let pending = "";
      const count = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          pending += decoder.decode(chunk, { stream: true });
          const lines = pending.split("\n");
          pending = lines.pop()!;
          for (const line of lines) {
            const op = /"op":"(\w+)"/.exec(line)?.[1] ?? "PEDIDO";
            ops.set(op, (ops.get(op) ?? 0) + 1);
          }
          controller.enqueue(chunk);
        },
      });
      pipes.push(
        client.readable.pipeThrough(count).pipeTo(daemon.writable).catch(() => {}),
        daemon.readable.pipeTo(client.writable).catch(() => {}),
      );
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    ops,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // closed by its pipe already
        }
      }
      await Promise.all(pipes);
    },
  };
}

Deno.test("runLoad() with esperar reads orders already finished in pages of LISTAR, not one ESTADO each", async () => {
  await using daemon = await startInProcess({ maxPedidos: 5000, workers: 2 });
  await using proxy = countingProxy(daemon.port);
  const summary = await runLoad({
    ...base(proxy.port),
    clientes: 4,
    pedidos: 300,
    pipeline: 8,
    esperar: true,
  });
  assert.equal(summary.aceptados, 1200);
  assert.equal(summary.esperar?.listos, 1200, "every order seen listo");
  assert.equal(summary.esperar?.sinTerminar, 0);
  assert.ok(summary.esperar?.hastaListosS !== null);
  // Most orders are done when sending ends: a couple of pages read them, and only
  // the orders still running then get an ESTADO.
  const listar = proxy.ops.get("LISTAR") ?? 0;
  const estado = proxy.ops.get("ESTADO") ?? 0;
  assert.ok(listar >= 1 && listar <= 3, `LISTAR ${listar}`);
  assert.ok(estado < 600, `ESTADO ${estado} for 1200 orders`);
});

Deno.test("runLoad() with esperar waits, one ESTADO each, for the orders still running when sending ends", async () => {
  // 2 workers, 150 ms an order: when the 8 orders are sent, at most 2 have started.
  await using daemon = await startInProcess({
    maxPedidos: 100,
    workers: 2,
    processMs: { min: 150, max: 150 },
  });
  await using proxy = countingProxy(daemon.port);
  const summary = await runLoad({ ...base(proxy.port), clientes: 2, pedidos: 4, esperar: true });
  assert.equal(summary.aceptados, 8);
  assert.equal(summary.esperar?.listos, 8);
  assert.equal(summary.esperar?.sinTerminar, 0);
  // The last orders end about 4 × 150 ms after the first started: the wait is timed by them.
  assert.ok(summary.esperar!.hastaListosS! >= 0.45, String(summary.esperar?.hastaListosS));
  assert.ok((proxy.ops.get("ESTADO") ?? 0) >= 6, JSON.stringify([...proxy.ops]));
});

Deno.test("runLoad() with two hosts goes on from the second when the first daemon stops mid-run", async () => {
  // The daemons of a cluster: one on 127.0.0.1, one on ::1, the same port.
  const first = await startInProcess({ hosts: ["127.0.0.1"], maxPedidos: 100_000 });
  await using second = await startInProcess({
    hosts: ["::1"],
    port: first.port,
    maxPedidos: 100_000,
  });
  let stopping: Promise<unknown> | null = null;
  const guard = new AbortController();
  const timer = setTimeout(() => guard.abort(), 30_000);
  try {
    const summary = await runLoad({
      hosts: ["127.0.0.1", "::1"],
      port: first.port,
      progressEveryMs: 20,
      clientes: 4,
      pedidos: 2000,
      replyTimeoutMs: 5000,
    }, {
      signal: guard.signal,
      onProgress: (p) => {
        if (p.aceptados > 20 && stopping === null) stopping = first.server.shutdown();
      },
    });
    assert.equal(summary.interrumpido, false, "it ended by itself");
    assert.equal(summary.incidencias.reconectadas, 4, JSON.stringify(summary));
    assert.deepEqual(summary.conexiones, { abiertas: 4, fallidas: 0, perdidas: 0 });
    // Every order written once: those not sent when the first stopped went to the second.
    assert.equal(summary.enviados, 8000, JSON.stringify(summary));
    assert.equal(summary.aceptados + summary.rechazados + summary.errores, summary.enviados);
    const stats = await (await second.client("::1")).call("STATS");
    assert.ok(stats.ok && stats.stats.recibidos > 0, "orders made on ::1");
    assert.ok(stats.ok && stats.stats.recibidos < 8000, "and some on 127.0.0.1 before");
  } finally {
    clearTimeout(timer);
    await stopping;
    await first[Symbol.asyncDispose]();
  }
});
