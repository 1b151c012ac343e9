/**
 * The example processor modules of `workers/examples/` (§11), run by a
 * daemon as an operator would: `total_productos` totals an order, and
 * `http_callout` hands it to a service on loopback, retried when the
 * service fails and aborted through its signal when the service hangs.
 */
import assert from "node:assert/strict";
import { scrape } from "./metrics_util.ts";
import { type InProcessDaemon, rawConnect, startInProcess } from "./test_util.ts";
import { testWith } from "./permissions.ts";

const EXAMPLES = new URL("../workers/examples/", import.meta.url);

async function run(daemon: InProcessDaemon, productos: unknown[]) {
  await using conn = await rawConnect(daemon.port);
  await conn.write(JSON.stringify({ cliente: "Ana", productos, direccion: "C 1" }) + "\n");
  const id = (await conn.readLine())?.id;
  await conn.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":15000}\n`);
  return (await conn.readLine(17_000))?.pedido as Record<string, unknown>;
}

testWith("read")("example total_productos stores the order's totals in resultado", async () => {
  await using daemon = await startInProcess({
    processor: new URL("total_productos.ts", EXAMPLES).pathname,
  });
  const pedido = await run(daemon, ["pan", { nombre: "agua", cantidad: 2 }, "pan"]);
  assert.equal(pedido.estado, "listo");
  assert.deepEqual(pedido.resultado, {
    articulos: 4,
    lineas: 3,
    por_producto: { pan: 2, agua: 2 },
  });
  // Product names that are also names of an object's own machinery are counted like any other.
  const odd = await run(daemon, ["constructor", { nombre: "__proto__", cantidad: 2 }, "toString"]);
  assert.equal(odd.estado, "listo");
  assert.deepEqual(
    JSON.stringify((odd.resultado as { por_producto: unknown }).por_producto),
    '{"constructor":1,"__proto__":2,"toString":1}',
  );
});

testWith("read", "env")(
  "example http_callout posts the order, is retried when the service fails, and aborts a hung request",
  async () => {
    const received: { intento: string | null; body: { id: number } }[] = [];
    const hung = new Set<PromiseWithResolvers<Response>>();
    await using service = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        const intento = request.headers.get("x-pedidos-intento");
        received.push({ intento, body: await request.json() });
        if (intento === "1") return new Response("not yet", { status: 503 });
        if (intento === "2") {
          // Never answers (until the test ends): the attempt's signal must end the request.
          const never = Promise.withResolvers<Response>();
          hung.add(never);
          return never.promise;
        }
        return Response.json({ aceptado: true }, { status: 201 });
      },
    );
    Deno.env.set("PEDIDOS_CALLOUT_URL", `http://127.0.0.1:${service.addr.port}/pedidos`);
    try {
      await using daemon = await startInProcess({
        workers: 1,
        processor: new URL("http_callout.ts", EXAMPLES).pathname,
        processTimeoutMs: 300,
        metricsPort: 0,
      });
      const pedido = await run(daemon, ["pan"]);
      assert.equal(pedido.estado, "listo", JSON.stringify(pedido));
      assert.equal(pedido.intentos, 3);
      assert.deepEqual(pedido.resultado, { status: 201, respuesta: { aceptado: true } });
      assert.deepEqual(received.map((r) => [r.intento, r.body.id]), [
        ["1", pedido.id],
        ["2", pedido.id],
        ["3", pedido.id],
      ]);
      const metrics = await scrape(daemon.server.metricsAddr!);
      assert.equal(
        metrics.value("pedidos_workers_reiniciados_total"),
        0,
        "fetch stopped on the signal: the worker was kept",
      );
    } finally {
      Deno.env.delete("PEDIDOS_CALLOUT_URL");
      for (const never of hung) never.resolve(new Response(null));
    }
  },
);

testWith("read", "env")(
  "example http_callout keeps a 2xx answer that is not JSON, however its text encodes (control characters, binary)",
  async () => {
    // 64 KiB of bytes that JSON writes six bytes each (\u0001), or as U+FFFD (binary).
    const bodies = [new Uint8Array(64 * 1024).fill(1), new Uint8Array(64 * 1024).fill(0xff)];
    let served = 0;
    await using service = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        await request.body?.cancel();
        return new Response(bodies[served++ % bodies.length], { status: 200 });
      },
    );
    Deno.env.set("PEDIDOS_CALLOUT_URL", `http://127.0.0.1:${service.addr.port}/pedidos`);
    try {
      await using daemon = await startInProcess({
        workers: 1,
        maxIntentos: 1,
        processor: new URL("http_callout.ts", EXAMPLES).pathname,
      });
      for (const expected of ["\u0001", "\ufffd"]) {
        const pedido = await run(daemon, ["pan"]);
        assert.equal(pedido.estado, "listo", String(pedido.detalle_error));
        const { status, respuesta } = pedido.resultado as { status: number; respuesta: string };
        assert.equal(status, 200);
        assert.ok(respuesta.length > 0 && [...respuesta].every((c) => c === expected));
        assert.ok(new TextEncoder().encode(JSON.stringify(respuesta)).length <= 16 * 1024);
      }
    } finally {
      Deno.env.delete("PEDIDOS_CALLOUT_URL");
    }
  },
);
