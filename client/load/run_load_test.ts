/**
 * The load generator's engine against fake line servers (exact counting,
 * pipelining, failures) and against a real daemon in this process (waiting
 * for `listo`, deduplication, a daemon that stops mid-run). No timing is
 * asserted beyond "it ends".
 */
import assert from "node:assert/strict";
import { type LoadSummary, orderJson, PEDIDOS_PROTOCOL, runLoad } from "./run_load.ts";
import { startInProcess } from "../../tests/test_util.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a fake server does with one request line: a reply line, nothing, or close the connection. */
type Answer = string | null | "close";

interface FakeServer extends AsyncDisposable {
  port: number;
  /** Every request line received, per connection. */
  lines: string[][];
  /** Most requests seen unanswered at once on any connection. */
  maxInFlight: number;
}

/**
 * A line server on 127.0.0.1:0. `answer(line, n, conn)` is called for the
 * n-th request (0-based, over all connections); with `batch`, replies are
 * held until that many requests are unanswered on the connection.
 */
function fakeServer(
  answer: (line: string, n: number, conn: number) => Answer,
  options: { batch?: number } = {},
): FakeServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const lines: string[][] = [];
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let n = 0;
  const server: FakeServer = {
    port: (listener.addr as Deno.NetAddr).port,
    lines,
    maxInFlight: 0,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await accepting;
      await Promise.all([...tasks]);
    },
  };

  async function serve(conn: Deno.Conn, index: number): Promise<void> {
    const mine: string[] = [];
    lines[index] = mine;
    const buffer = new Uint8Array(64 * 1024);
    let pending = "";
    let held: string[] = [];
    try {
      for (let r = await conn.read(buffer); r !== null; r = await conn.read(buffer)) {
        pending += decoder.decode(buffer.subarray(0, r), { stream: true });
        for (let i = pending.indexOf("\n"); i !== -1; i = pending.indexOf("\n")) {
          const line = pending.slice(0, i);
          pending = pending.slice(i + 1);
          mine.push(line);
          const reply = answer(line, n++, index);
          if (reply === "close") return;
          if (reply !== null) held.push(reply);
          server.maxInFlight = Math.max(server.maxInFlight, held.length);
        }
        if (held.length >= (options.batch ?? 1)) {
          const bytes = encoder.encode(held.map((line) => `${line}\n`).join(""));
          held = [];
          for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
        }
      }
    } catch {
      // the client went away
    } finally {
      open.delete(conn);
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  }

  const accepting = (async () => {
    let index = 0;
    try {
      for await (const conn of listener) {
        open.add(conn);
        const task = serve(conn, index++);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch {
      // closed
    }
  })();
  return server;
}

const OK = (id: number) => JSON.stringify({ ok: true, id, estado: "pendiente" });
const FULL = JSON.stringify({ ok: false, error: "queue_full", mensaje: "lleno" });
const INTERNAL = JSON.stringify({ ok: false, error: "internal", mensaje: "x" });

function base(port: number) {
  return { hosts: ["127.0.0.1"], port, progressEveryMs: 20 };
}

function checkInvariant(summary: LoadSummary): void {
  // Every order sent was answered (accepted, rejected, other error reply) or is sin_respuesta.
  const replyErrors = summary.errores -
    (summary.erroresPorTipo.sin_respuesta ?? 0) -
    (summary.erroresPorTipo.conexion ?? 0) -
    (summary.erroresPorTipo.conexion_perdida ?? 0);
  assert.equal(
    summary.aceptados + summary.rechazados + replyErrors +
      (summary.erroresPorTipo.sin_respuesta ?? 0),
    summary.enviados,
    `invariant: ${JSON.stringify(summary)}`,
  );
}

Deno.test("runLoad() counts accepted, rejected and error replies exactly", async () => {
  await using server = fakeServer((_, n) => [OK(n + 1), FULL, INTERNAL][n % 3]!);
  const summary = await runLoad({ ...base(server.port), clientes: 3, pedidos: 10 });
  assert.equal(summary.enviados, 30);
  assert.equal(summary.aceptados, 10);
  assert.equal(summary.rechazados, 10);
  assert.equal(summary.errores, 10);
  assert.deepEqual(summary.erroresPorTipo, { internal: 10 });
  assert.deepEqual(summary.conexiones, { abiertas: 3, fallidas: 0, perdidas: 0 });
  assert.equal(summary.interrumpido, false);
  assert.equal(summary.esperar, null);
  assert.ok(summary.latenciaMs.p50 !== null && summary.latenciaMs.max! >= summary.latenciaMs.p99!);
  assert.ok(summary.porSegundo > 0);
  assert.deepEqual(server.lines.map((l) => l.length), [10, 10, 10]);
  checkInvariant(summary);
});

Deno.test("runLoad() sends valid orders, with clave PREFIX-CONN-N when asked", async () => {
  await using server = fakeServer((_, n) => OK(n + 1));
  await runLoad({ ...base(server.port), clientes: 2, pedidos: 3, clavePrefijo: "run7" });
  const claves = server.lines.flat().map((line) => JSON.parse(line).clave).sort();
  assert.deepEqual(claves, [
    "run7-1-1",
    "run7-1-2",
    "run7-1-3",
    "run7-2-1",
    "run7-2-2",
    "run7-2-3",
  ]);
  const order = JSON.parse(server.lines[0]![0]!);
  assert.equal(typeof order.cliente, "string");
  assert.ok(Array.isArray(order.productos) && order.productos.length > 0);
  assert.equal(typeof order.direccion, "string");
});

Deno.test("runLoad() keeps at most --pipeline orders in flight per connection", async () => {
  // The server answers only once 4 requests are waiting: a pipeline of 4 keeps going.
  await using server = fakeServer((_, n) => OK(n + 1), { batch: 4 });
  const summary = await runLoad({ ...base(server.port), clientes: 2, pedidos: 20, pipeline: 4 });
  assert.equal(summary.aceptados, 40);
  assert.equal(server.maxInFlight, 4);

  await using one = fakeServer((_, n) => OK(n + 1));
  await runLoad({ ...base(one.port), clientes: 1, pedidos: 20 });
  assert.equal(one.maxInFlight, 1, "one at a time by default");
});

Deno.test("runLoad() against a port nobody listens on counts connection errors and ends", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const summary = await runLoad({ ...base(port), clientes: 5, pedidos: 10, esperar: true });
  assert.equal(summary.enviados, 0);
  assert.deepEqual(summary.conexiones, { abiertas: 0, fallidas: 5, perdidas: 0 });
  assert.deepEqual(summary.erroresPorTipo, { conexion: 5 });
  assert.equal(summary.errores, 5);
  assert.match(summary.detalles[0] ?? "", /Cannot connect to 127\.0\.0\.1 port \d+/);
  assert.deepEqual(summary.latenciaMs, { p50: null, p95: null, p99: null, max: null });
  assert.equal(summary.esperar?.listos, 0);
});

Deno.test("runLoad() counts a connection the daemon closes mid-run, and the orders left unanswered", async () => {
  // Each connection gets 3 replies; its 4th order is never answered and the connection closes.
  const seen = new Map<number, number>();
  await using server = fakeServer((_, n, conn) => {
    const count = (seen.get(conn) ?? 0) + 1;
    seen.set(conn, count);
    return count <= 3 ? OK(n + 1) : "close";
  });
  const summary = await runLoad({ ...base(server.port), clientes: 2, pedidos: 10, pipeline: 1 });
  assert.equal(summary.aceptados, 6);
  assert.equal(summary.enviados, 8);
  assert.deepEqual(summary.erroresPorTipo, { sin_respuesta: 2, conexion_perdida: 2 });
  assert.equal(summary.conexiones.perdidas, 2);
  checkInvariant(summary);
});

Deno.test("runLoad() gives up on replies that never come, within replyTimeoutMs", async () => {
  await using server = fakeServer((_, n) => n < 2 ? OK(n + 1) : null);
  const summary = await runLoad({
    ...base(server.port),
    clientes: 2,
    pedidos: 5,
    pipeline: 2,
    replyTimeoutMs: 150,
  });
  assert.equal(summary.aceptados, 2);
  assert.equal(summary.erroresPorTipo.sin_respuesta, summary.enviados - 2);
  assert.match(summary.detalles.join("\n"), /No reply within 150 ms/);
  checkInvariant(summary);
});

Deno.test("runLoad() with unlimited pedidos stops at duracionMs, and the signal stops it too", async () => {
  await using server = fakeServer((_, n) => OK(n + 1));
  const timed = await runLoad({
    ...base(server.port),
    clientes: 2,
    pedidos: Infinity,
    duracionMs: 150,
  });
  assert.ok(timed.enviados > 0);
  assert.equal(timed.errores, 0, JSON.stringify(timed.erroresPorTipo));
  assert.equal(timed.interrumpido, false);

  const controller = new AbortController();
  const progress: number[] = [];
  const stopped = await runLoad({ ...base(server.port), clientes: 2, pedidos: 1e9 }, {
    signal: controller.signal,
    onProgress: (p) => {
      progress.push(p.enviados);
      if (p.enviados > 0) controller.abort();
    },
  });
  assert.equal(stopped.interrumpido, true);
  assert.ok(stopped.enviados > 0 && stopped.enviados < 2e9);
  assert.ok(progress.length > 0);
});

Deno.test("runLoad() paces orders with tasa (never faster than asked)", async () => {
  await using server = fakeServer((_, n) => OK(n + 1));
  const summary = await runLoad({
    ...base(server.port),
    clientes: 4,
    pedidos: Infinity,
    tasa: 50,
    duracionMs: 300,
  });
  // 50/s for 0.3 s is 15 orders; a slow machine may send fewer, never many more.
  assert.ok(summary.enviados <= 17, `sent ${summary.enviados}`);
  assert.ok(summary.enviados >= 1);
});

Deno.test("runLoad() refuses bad options before opening anything", async () => {
  await assert.rejects(() => runLoad({ clientes: 0 }), RangeError);
  await assert.rejects(() => runLoad({ pedidos: Infinity }), /needs duracionMs/);
  await assert.rejects(() => runLoad({ pipeline: 1.5 }), RangeError);
  await assert.rejects(() => runLoad({ tasa: -1 }), RangeError);
});

Deno.test("PEDIDOS_PROTOCOL.classify() reads ok, queue_full, other codes and garbage", () => {
  const line = (text: string) => encoder.encode(text);
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line('{"ok":true,"id":4,"duplicado":true}')), {
    kind: "accepted",
    id: 4,
    duplicado: true,
  });
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line(FULL)), { kind: "rejected" });
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line('{"ok":false,"error":"busy"}')), {
    kind: "error",
    code: "busy",
  });
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line("nope")), { kind: "error", code: "protocolo" });
  assert.deepEqual(PEDIDOS_PROTOCOL.classify(line('{"ok":1}')), {
    kind: "error",
    code: "protocolo",
  });
  assert.doesNotThrow(() => JSON.parse(orderJson({ client: 3, index: 7, clave: 'a"b' })));
});

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
  const stats = await (await daemon.client()).request({ op: "STATS" });
  assert.equal((stats.stats as Record<string, number>).aceptados, 15);
});

Deno.test("runLoad() sees the semaphore: a small capacity rejects with queue_full", async () => {
  await using daemon = await startInProcess({
    maxPedidos: 2,
    workers: 1,
    processMs: { min: 200, max: 200 },
  });
  const summary = await runLoad({ ...base(daemon.port), clientes: 4, pedidos: 3 });
  assert.equal(summary.enviados, 12);
  assert.ok(summary.rechazados > 0, "some were refused");
  assert.equal(summary.aceptados + summary.rechazados, 12);
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
  try {
    const summary = await runLoad({
      ...base(daemon.port),
      clientes: 4,
      pedidos: Infinity,
      duracionMs: 20_000,
      replyTimeoutMs: 2000,
    }, {
      onProgress: (p) => {
        if (p.aceptados > 20 && stopping === null) stopping = daemon.server.shutdown();
      },
    });
    assert.ok(summary.aceptados > 20);
    assert.ok(summary.errores > 0, "the stop shows up as errors");
    const kinds = Object.keys(summary.erroresPorTipo);
    assert.ok(
      kinds.some((k) => ["shutting_down", "conexion_perdida", "sin_respuesta"].includes(k)),
      kinds.join(","),
    );
    assert.ok(summary.segundos < 20, "it did not wait for duracionMs");
  } finally {
    await stopping;
    await daemon[Symbol.asyncDispose]();
  }
});
