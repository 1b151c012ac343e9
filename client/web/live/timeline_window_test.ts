import assert from "node:assert/strict";
import type { Pedido } from "../../../server/protocol/messages.ts";
import { newPedido } from "../../../server/store/new_pedido.ts";
import type { Ask } from "../ask.ts";
import { TimelineWindow } from "./timeline_window.ts";

const T0 = Date.parse("2026-11-23T12:00:00.000Z");

function iso(s: number): string {
  return new Date(T0 + s * 1000).toISOString();
}

/** A store of orders answering LISTAR and ESTADO as the daemon does, counting requests. */
function fakeStore() {
  const pedidos: Pedido[] = [];
  const asked: Record<string, unknown>[] = [];
  const ask = ((request: Record<string, unknown>) => {
    asked.push(request);
    if (request.op === "ESTADO") {
      const pedido = pedidos.find((p) => p.id === request.id);
      return Promise.resolve(pedido ? { ok: true, pedido: { ...pedido } } : null);
    }
    const listed = pedidos.filter((p) =>
      p.estado === request.estado &&
      (typeof request.antes_de !== "number" || p.id < request.antes_de)
    ).reverse().slice(0, request.limit as number);
    return Promise.resolve({ ok: true, pedidos: listed.map((p) => ({ ...p })) });
  }) as unknown as Ask;
  const add = (fields: Partial<Pedido>) => {
    const order = { cliente: "Ana", productos: ["pan"], direccion: "C 1", clave: null };
    const pedido = { ...newPedido(pedidos.length + 1, order, iso(0)), ...fields };
    pedidos.push(pedido);
    return pedido;
  };
  const ran = (id: number, from: number, to: number): Partial<Pedido> => ({
    estado: "listo",
    worker: (id % 3) + 1,
    intentos: 1,
    fecha_inicio: iso(from),
    fecha_fin: iso(to),
  });
  return { pedidos, asked, ask, add, ran };
}

Deno.test("TimelineWindow finds an order that finished behind a newer one, with ESTADO", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  // Order 1 runs long; order 2 starts after it and is done first.
  const long = store.add({ estado: "en proceso", worker: 1, intentos: 1, fecha_inicio: iso(1) });
  store.add(store.ran(2, 2, 3));
  const first = await window.refresh(store.ask, "t", T0 + 4000, [long]);
  assert.deepEqual(first.finished.map((p) => p.id), [2]);
  Object.assign(long, { estado: "listo", fecha_fin: iso(10) });
  const later = await window.refresh(store.ask, "t", T0 + 11_000, []);
  assert.deepEqual(later.finished.map((p) => p.id).sort(), [1, 2]);
  assert.equal(store.asked.filter((r) => r.op === "ESTADO").length, 1);
  assert.equal(later.coverage, null);
});

Deno.test("TimelineWindow reads only what is new once it has the span, and drops what left it", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000, pageSize: 50 });
  for (let i = 1; i <= 100; i++) store.add(store.ran(i, i, i + 0.5));
  const first = await window.refresh(store.ask, "t", T0 + 101_000, []);
  assert.equal(first.finished.length, 60, "those that ended in the last 60 s");
  store.asked.length = 0;
  store.add(store.ran(101, 101, 101.5));
  const next = await window.refresh(store.ask, "t", T0 + 102_000, []);
  assert.equal(next.finished.length, 60);
  assert.ok(next.finished.some((p) => p.id === 101));
  assert.ok(!next.finished.some((p) => p.id === 41), "order 41 ended 60.5 s ago");
  // One small page per finished state: nothing read again.
  assert.equal(store.asked.length, 3);
  assert.ok(store.asked.every((r) => (r.limit as number) <= 20));
});

Deno.test("TimelineWindow keeps at most maxOrders and says from when it is whole, and why", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000, pageSize: 10, maxPages: 5, maxOrders: 25 });
  for (let i = 1; i <= 100; i++) store.add(store.ran(i, i * 0.5, i * 0.5 + 0.1));
  const first = await window.refresh(store.ask, "t", T0 + 51_000, []);
  // 3 pages of listo (one, plus two of the three spare): 30 orders, 25 kept.
  assert.equal(first.finished.length, 25);
  assert.equal(first.coverage?.reason, "limit");
  assert.equal(first.coverage?.from, T0 + 37_600, "order 75, the newest dropped, ended then");
  assert.equal(store.asked.length, 5, "one page per state, and the two spare");
});

Deno.test("TimelineWindow forgets an order sent back to the queue, and reads again from a new store", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  const failed = store.add({ ...store.ran(1, 1, 2), estado: "error" });
  store.add(store.ran(2, 2, 3));
  assert.equal((await window.refresh(store.ask, "t", T0 + 5000, [])).finished.length, 2);
  Object.assign(failed, { estado: "pendiente", fecha_inicio: null, fecha_fin: null, worker: null });
  const back = await window.refresh(store.ask, "t", T0 + 6000, [failed]);
  assert.deepEqual(back.finished.map((p) => p.id), [2]);
  // A daemon on a new store: its ids start again at 1.
  store.pedidos.length = 0;
  store.add(store.ran(1, 7, 8));
  await window.refresh(store.ask, "t", T0 + 9000, []);
  const again = await window.refresh(store.ask, "t", T0 + 9500, []);
  assert.deepEqual(again.finished.map((p) => p.fecha_fin), [iso(8)]);
});
