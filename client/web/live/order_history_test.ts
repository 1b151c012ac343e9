import assert from "node:assert/strict";
import type { Pedido } from "../../../server/protocol/messages.ts";
import { newPedido } from "../../../server/store/new_pedido.ts";
import { OrderHistory } from "./order_history.ts";

const T0 = Date.parse("2026-11-23T12:00:00.000Z");

/** `s` seconds after T0, as the daemon writes a time. */
function at(s: number): string {
  return new Date(T0 + s * 1000).toISOString();
}

function pedido(id: number, fields: Partial<Pedido> = {}): Pedido {
  const order = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null };
  return { ...newPedido(id, order, at(0)), ...fields };
}

const running = (intento: number, inicio: number, worker = 1): Partial<Pedido> => ({
  estado: "en proceso",
  worker,
  fecha_inicio: at(inicio),
  intentos: intento,
});
const waitingAgain = (intentos: number): Partial<Pedido> => ({ estado: "pendiente", intentos });

Deno.test("OrderHistory says nothing of orders that never went back to the queue", () => {
  const history = new OrderHistory({ spanMs: 60_000 });
  assert.equal(history.observe(T0 + 500, [pedido(1)]).size, 0);
  assert.equal(history.observe(T0 + 2000, [pedido(1, running(1, 1))]).size, 0);
  const listo = pedido(1, { ...running(1, 1), estado: "listo", fecha_fin: at(2) });
  assert.equal(history.observe(T0 + 3000, [listo]).size, 0);
});

Deno.test("OrderHistory keeps a failed attempt and the waits around it once the order is back in the queue", () => {
  const history = new OrderHistory({ spanMs: 60_000 });
  history.observe(T0 + 2000, [pedido(1, running(1, 1))]);
  const past = history.observe(T0 + 3000, [pedido(1, waitingAgain(1))]).get(1);
  assert.deepEqual(past, {
    attempts: [{ intento: 1, worker: 1, inicio: T0 + 1000, fin: T0 + 3000, error: false }],
    waits: [{ from: T0, to: T0 + 1000 }, { from: T0 + 3000, to: Infinity }],
  });
  // Its next attempt ends the wait; cancelled instead, it would end there.
  const next = history.observe(T0 + 5000, [pedido(1, running(2, 4.5, 2))]).get(1);
  assert.deepEqual(next?.waits.at(-1), { from: T0 + 3000, to: T0 + 4500 });
  assert.equal(next?.attempts.length, 1, "the running attempt is the order's own bar");
});

Deno.test("OrderHistory passes over an older copy that comes after a newer one", () => {
  const history = new OrderHistory({ spanMs: 60_000 });
  history.observe(T0 + 2000, [pedido(1, running(1, 1))]);
  history.observe(T0 + 3000, [pedido(1, waitingAgain(1))]);
  const newer = history.observe(T0 + 5000, [pedido(1, running(2, 4.5))]).get(1);
  // A reply read before the second attempt started, answered late.
  const stale = history.observe(T0 + 5100, [pedido(1, waitingAgain(1))]).get(1);
  assert.deepEqual(stale, newer);
  const staler = history.observe(T0 + 5200, [pedido(1, running(1, 1))]).get(1);
  assert.deepEqual(staler, newer, "no attempt taken for gone, none made up");
});

Deno.test("OrderHistory ends the wait of an order cancelled while back in the queue", () => {
  const history = new OrderHistory({ spanMs: 60_000 });
  history.observe(T0 + 2000, [
    pedido(1, { ...running(1, 1), estado: "error", fecha_fin: at(1.5) }),
  ]);
  history.observe(T0 + 4000, [pedido(1, waitingAgain(1))]);
  const cancelled = pedido(1, { estado: "cancelado", intentos: 1, fecha_fin: at(6) });
  const past = history.observe(T0 + 7000, [cancelled]).get(1);
  assert.deepEqual(past?.attempts, [
    { intento: 1, worker: 1, inicio: T0 + 1000, fin: T0 + 1500, error: true },
  ]);
  assert.deepEqual(past?.waits, [{ from: T0, to: T0 + 1000 }, { from: T0 + 4000, to: T0 + 6000 }]);
});

Deno.test("OrderHistory forgets orders not seen for its span, and follows at most max", () => {
  const history = new OrderHistory({ spanMs: 60_000, max: 3 });
  const orders = [1, 2, 3, 4, 5].map((id) => pedido(id, running(1, 1)));
  history.observe(T0 + 2000, orders);
  assert.equal(history.size, 3, "the least recently seen went first");
  history.observe(T0 + 2000 + 60_001, [pedido(6, running(1, 61))]);
  assert.equal(history.size, 1, "those not seen for a minute are forgotten");
});

Deno.test("OrderHistory keeps of an order sent back again and again only what ended within its span", () => {
  const history = new OrderHistory({ spanMs: 60_000 });
  let past;
  for (let i = 1; i <= 50; i++) {
    const start = i * 10; // each attempt runs 1 s, 10 s after the last
    history.observe(T0 + start * 1000 + 500, [pedido(1, running(i, start))]);
    past = history.observe(T0 + (start + 1) * 1000, [pedido(1, waitingAgain(i))]).get(1);
  }
  // The last one waits since 501 s: the span reaches back to 441 s, when the 44th ended.
  assert.deepEqual(past?.attempts.map((a) => a.intento), [44, 45, 46, 47, 48, 49, 50]);
  assert.equal(past?.waits.length, 7, "the waits after each of them");
});
