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
  /** Requests that get no reply (as a daemon that does not answer in time). */
  const unanswered = { when: (_request: Record<string, unknown>) => false };
  const ask = ((request: Record<string, unknown>) => {
    asked.push(request);
    if (unanswered.when(request)) return Promise.resolve(null);
    if (request.op === "ESTADO") {
      const pedido = pedidos.find((p) => p.id === request.id);
      return Promise.resolve(
        pedido
          ? { ok: true, pedido: { ...pedido } }
          : { ok: false, error: "not_found", mensaje: "❌ No existe." },
      );
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
  return { pedidos, asked, ask, add, ran, unanswered };
}

Deno.test("TimelineWindow finds an order that finished behind a newer one, with ESTADO", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  // Order 1 runs long; order 2 starts after it and is done first.
  const long = store.add({ estado: "en proceso", worker: 1, intentos: 1, fecha_inicio: iso(1) });
  store.add(store.ran(2, 2, 3));
  const first = await window.refresh(store.ask, { token: "t", at: T0 + 4000, live: [long] });
  assert.deepEqual(first.finished.map((p) => p.id), [2]);
  Object.assign(long, { estado: "listo", fecha_fin: iso(10) });
  const later = await window.refresh(store.ask, { token: "t", at: T0 + 11_000, live: [] });
  assert.deepEqual(later.finished.map((p) => p.id).sort(), [1, 2]);
  assert.equal(store.asked.filter((r) => r.op === "ESTADO").length, 1);
  assert.equal(later.coverage, null);
});

Deno.test("TimelineWindow reads only what is new once it has the span, and drops what left it", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000, pageSize: 50 });
  for (let i = 1; i <= 100; i++) store.add(store.ran(i, i, i + 0.5));
  const first = await window.refresh(store.ask, { token: "t", at: T0 + 101_000, live: [] });
  assert.equal(first.finished.length, 60, "those that ended in the last 60 s");
  store.asked.length = 0;
  store.add(store.ran(101, 101, 101.5));
  const next = await window.refresh(store.ask, { token: "t", at: T0 + 102_000, live: [] });
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
  const first = await window.refresh(store.ask, { token: "t", at: T0 + 51_000, live: [] });
  // 3 pages of listo (one, plus two of the three spare): 30 orders, 25 kept.
  assert.equal(first.finished.length, 25);
  assert.equal(first.coverage?.reason, "limit");
  assert.equal(first.coverage?.from, T0 + 37_600, "order 75, the newest dropped, ended then");
  assert.equal(store.asked.length, 5, "one page per state, and the two spare");
});

Deno.test("TimelineWindow forgets an order sent back to the queue", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  const failed = store.add({ ...store.ran(1, 1, 2), estado: "error" });
  store.add(store.ran(2, 2, 3));
  const first = await window.refresh(store.ask, { token: "t", at: T0 + 5000, live: [] });
  assert.equal(first.finished.length, 2);
  Object.assign(failed, { estado: "pendiente", fecha_inicio: null, fecha_fin: null, worker: null });
  const back = await window.refresh(store.ask, { token: "t", at: T0 + 6000, live: [failed] });
  assert.deepEqual(back.finished.map((p) => p.id), [2]);
});

Deno.test("TimelineWindow keeps every other order, whole, when the newest failed order is sent back by Reintentar", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  store.add({ ...store.ran(1, 1, 2), estado: "error" });
  store.add(store.ran(2, 2, 3));
  const newest = store.add({ ...store.ran(3, 3, 4), estado: "error" });
  const first = await window.refresh(store.ask, { token: "t", at: T0 + 5000, live: [] });
  assert.equal(first.finished.length, 3);
  // Reintentar: the newest `error` order goes back to the queue (§2.9), the newest error id goes down.
  Object.assign(newest, { estado: "pendiente", fecha_inicio: null, fecha_fin: null, worker: null });
  const back = await window.refresh(store.ask, { token: "t", at: T0 + 6000, live: [newest] });
  assert.deepEqual(back.finished.map((p) => p.id).sort(), [1, 2]);
  assert.equal(back.coverage, null);
  const later = await window.refresh(store.ask, { token: "t", at: T0 + 6500, live: [newest] });
  assert.deepEqual(later.finished.map((p) => p.id).sort(), [1, 2], "nothing was dropped");
  assert.equal(later.coverage, null);
});

Deno.test("TimelineWindow says 'sin datos' since its last read when a LISTAR gets no reply, and fills it at the next", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  store.add(store.ran(1, 1, 2));
  const first = await window.refresh(store.ask, { token: "t", at: T0 + 5000, live: [] });
  assert.equal(first.coverage, null);
  store.add(store.ran(2, 6, 7));
  store.unanswered.when = (r) => r.op === "LISTAR" && r.estado === "listo";
  const failed = await window.refresh(store.ask, { token: "t", at: T0 + 8000, live: [] });
  assert.equal(failed.coverage?.unreadSince, T0 + 5000, "not known since the read at 5 s");
  store.unanswered.when = () => false;
  const next = await window.refresh(store.ask, { token: "t", at: T0 + 9000, live: [] });
  assert.deepEqual(next.finished.map((p) => p.id).sort(), [1, 2]);
  assert.equal(next.coverage, null);
});

Deno.test("TimelineWindow says the whole span is 'sin datos' when nothing could be read", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  store.add(store.ran(1, 1, 2));
  store.unanswered.when = (r) => r.op === "LISTAR";
  const first = await window.refresh(store.ask, { token: "t", at: T0 + 5000, live: [] });
  assert.equal(first.coverage?.from, T0 + 5000, "whole from nowhere before 'ahora'");
  store.unanswered.when = () => false;
  await window.refresh(store.ask, { token: "t", at: T0 + 6000, live: [] });
  // The orders running and waiting could not be listed: none of the span is known.
  const noLive = await window.refresh(store.ask, { token: "t", at: T0 + 7000, live: null });
  assert.equal(noLive.coverage?.unreadSince, T0 + 7000 - 60_000);
});

Deno.test("TimelineWindow keeps what it read across a restart of the daemon on the same store", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  store.add(store.ran(1, 1, 2));
  store.add(store.ran(2, 2, 3));
  await window.refresh(store.ask, { token: "t", at: T0 + 5000, live: [], uptimeS: 100 });
  store.asked.length = 0;
  const after = await window.refresh(store.ask, {
    token: "t",
    at: T0 + 6000,
    live: [],
    uptimeS: 0,
  });
  assert.deepEqual(after.finished.map((p) => p.id).sort(), [1, 2]);
  assert.equal(after.coverage, null);
  assert.deepEqual(store.asked.filter((r) => r.op === "ESTADO").map((r) => r.id), [2]);
});

Deno.test("TimelineWindow drops the old store's orders when the daemon comes back on a new one, and says 'sin datos' before", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  store.add(store.ran(1, 1, 2));
  store.add(store.ran(2, 2, 3));
  await window.refresh(store.ask, { token: "t", at: T0 + 5000, live: [], uptimeS: 100 });
  // A daemon on a new store: its ids start again at 1.
  store.pedidos.length = 0;
  store.add({ ...store.ran(1, 7, 8), fecha_recibido: iso(7) });
  const after = await window.refresh(store.ask, {
    token: "t",
    at: T0 + 9000,
    live: [],
    uptimeS: 1,
  });
  assert.deepEqual(after.finished.map((p) => p.fecha_fin), [iso(8)]);
  assert.equal(after.coverage?.reason, "reset");
  assert.equal(after.coverage?.from, T0 + 9000, "what ended before is not known");
  const later = await window.refresh(store.ask, {
    token: "t",
    at: T0 + 9500,
    live: [],
    uptimeS: 2,
  });
  assert.equal(later.coverage?.from, T0 + 9000);
  assert.deepEqual(later.finished.map((p) => p.fecha_fin), [iso(8)]);
});

Deno.test("TimelineWindow keeps nothing a refresh read when its check fails, and gives nothing", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  for (let id = 1; id <= 4; id++) store.add(store.ran(id, id, id + 0.5));
  const first = await window.refresh(store.ask, { token: "t", at: T0 + 6000, live: [] });
  assert.deepEqual(first.finished.map((p) => p.id).sort(), [1, 2, 3, 4]);
  // More finish; a token that sees only order 6 (its role taken back) reads them.
  store.add(store.ran(5, 6, 6.5));
  store.add(store.ran(6, 6, 6.6));
  const mine = store.add({ estado: "pendiente" });
  const scoped =
    ((request: Record<string, unknown>) =>
      store.ask(request as never).then((reply) =>
        reply?.ok && "pedidos" in reply
          ? { ...reply, pedidos: reply.pedidos.filter((p) => p.id === 6 || p.id === mine.id) }
          : reply
      )) as unknown as Ask;
  let given: number[] = [];
  const failed = await window.refresh(scoped, {
    token: "t2",
    at: T0 + 7000,
    live: [mine],
    check: (witnesses) => {
      given = witnesses.map((w) => w.id);
      return Promise.resolve("demoted" as const);
    },
  });
  assert.equal(failed, "demoted");
  assert.deepEqual(given, [4, 3, 2, 1], "the orders known before it read, newest first");
  // The next refresh, with an operador's token, finds what the failed one had read as if new.
  const next = await window.refresh(store.ask, { token: "t", at: T0 + 8000, live: [mine] });
  assert.deepEqual(next.finished.map((p) => p.id).sort(), [1, 2, 3, 4, 5, 6]);
  assert.equal(next.coverage, null);
});

Deno.test("TimelineWindow keeps nothing a refresh read when its check proves nothing, and gives what its lists returned", async () => {
  const store = fakeStore();
  const window = new TimelineWindow({ spanMs: 60_000 });
  for (let id = 1; id <= 10; id++) store.add(store.ran(id, id, id + 0.5));
  store.add(store.ran(11, 11, 11.5)); // the only one a scoped token sees
  const scoped =
    ((request: Record<string, unknown>) =>
      store.ask(request as never).then((reply) =>
        reply?.ok && "pedidos" in reply
          ? { ...reply, pedidos: reply.pedidos.filter((p) => p.id === 11) }
          : reply
      )) as unknown as Ask;
  let given: { ids: number[]; from: unknown } | null = null;
  const unproven = await window.refresh(scoped, {
    token: "t2",
    at: T0 + 20_000,
    live: [],
    check: (_witnesses, reads) => {
      given = { ids: [...reads.ids], from: reads.from.get("listo") };
      return Promise.resolve("unknown" as const);
    },
  });
  assert.equal(unproven, "unknown");
  assert.deepEqual(given, { ids: [11], from: 0 }, "every listo order it sees, from the newest");
  const next = await window.refresh(store.ask, { token: "t", at: T0 + 21_000, live: [] });
  assert.deepEqual(next.finished.map((p) => p.id).sort((a, b) => a - b), [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
  ]);
  assert.equal(next.coverage, null);
});
