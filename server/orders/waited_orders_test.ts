import assert from "node:assert/strict";
import type { Pedido } from "../protocol/messages.ts";
import { newPedido } from "../store/new_pedido.ts";
import { WaitedOrders } from "./waited_orders.ts";

function pedido(fields: Partial<Pedido> = {}): Pedido {
  const stored = newPedido(
    7,
    { clave: null, cliente: "Ana", productos: ["pan".repeat(1000)], direccion: "Calle 1" },
    "2026-12-06T10:00:00.000Z",
  );
  return { ...stored, ...fields };
}

Deno.test("WaitedOrders: reads of a waited order in the same state are answered with one frozen object", () => {
  const orders = new WaitedOrders(() => Promise.resolve(null));
  using _held = orders.hold(7);
  const first = orders.share(pedido());
  const second = orders.share(pedido());
  assert.equal(second, first, "the second read is the object of the first");
  assert.ok(Object.isFrozen(first));
  assert.deepEqual(first, pedido());
});

Deno.test("WaitedOrders: a new state is a new object that keeps the items already held", () => {
  const orders = new WaitedOrders(() => Promise.resolve(null));
  using _held = orders.hold(7);
  const waiting = orders.share(pedido());
  const running = orders.share(
    pedido({
      estado: "en proceso",
      intentos: 1,
      worker: 2,
      fecha_inicio: "2026-12-06T10:00:01.000Z",
    }),
  );
  assert.notEqual(running, waiting);
  assert.equal(running.estado, "en proceso");
  assert.equal(running.worker, 2);
  assert.equal(running.productos, waiting.productos, "the items are held once");
  const done = orders.share(pedido({ estado: "listo", intentos: 1, resultado: { n: 1 } }));
  assert.deepEqual(done.resultado, { n: 1 });
  // Retried and ended again: another attempt, another object.
  const again = orders.share(pedido({ estado: "listo", intentos: 2, resultado: { n: 2 } }));
  assert.notEqual(again, done);
  assert.deepEqual(again.resultado, { n: 2 });
});

Deno.test("WaitedOrders: an order no wait holds is answered as read, and is let go with its last wait", () => {
  const orders = new WaitedOrders(() => Promise.resolve(null));
  const alone = pedido();
  assert.equal(orders.share(alone), alone);
  assert.ok(!Object.isFrozen(alone));
  const a = orders.hold(7);
  const b = orders.hold(7);
  orders.share(pedido());
  a[Symbol.dispose]();
  a[Symbol.dispose](); // twice is once
  assert.equal(orders.size, 1, "still held by the other wait");
  b[Symbol.dispose]();
  assert.equal(orders.size, 0);
  const after = pedido();
  assert.equal(orders.share(after), after);
});

Deno.test("WaitedOrders.poll(): polls of one order in flight share one read; the next poll reads again", async () => {
  let reads = 0;
  const answer = Promise.withResolvers<void>();
  const orders = new WaitedOrders(async () => {
    reads++;
    await answer.promise;
    return pedido();
  });
  using _held = orders.hold(7);
  const polls = [orders.poll(7), orders.poll(7), orders.poll(7)];
  answer.resolve();
  const [a, b, c] = await Promise.all(polls);
  assert.equal(reads, 1);
  assert.equal(a, b);
  assert.equal(b, c);
  await orders.poll(7);
  assert.equal(reads, 2, "a poll after the last one answered reads anew");
});
