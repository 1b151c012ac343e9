import assert from "node:assert/strict";
import { Capacity } from "../capacity.ts";
import type { Pedido } from "../protocol/messages.ts";
import { ActiveOrders } from "./active_orders.ts";

const STORED: Pedido = {
  id: 7,
  clave: null,
  cliente: "Ana",
  productos: ["pan"],
  direccion: "C 1",
  estado: "pendiente",
  fecha_recibido: "2026-12-01T10:00:00.000Z",
  fecha_inicio: null,
  fecha_fin: null,
  worker: null,
  intentos: 0,
  detalle_error: null,
  resultado: null,
  duracion_ms: null,
};

Deno.test("ActiveOrders.present() shows an order as stored, filling in the worker of a claim stored without it", () => {
  const active = new ActiveOrders();
  const [permit] = Capacity.create(1).takeBeyond(1);
  active.add(STORED, permit!);
  assert.deepEqual(active.present(STORED), STORED, "queued: as stored");
  const startedAt = Date.parse("2026-12-01T10:00:01.000Z");
  active.start(7, 2, startedAt, "stored");
  // Taken by a worker, its start not stored yet: still as stored (the store is the truth).
  assert.deepEqual(active.present(STORED), STORED);
  // Stored en proceso without its worker yet (a claim on PostgreSQL): the worker is filled in.
  const claimed = { ...STORED, estado: "en proceso" as const, intentos: 1, fecha_inicio: "x" };
  assert.deepEqual(active.present(claimed), { ...claimed, worker: 2 });
  // Once stored further, or queued again, it is shown as stored.
  const done = { ...claimed, estado: "listo" as const, worker: 2 };
  assert.deepEqual(active.present(done), done);
  active.move(7, "pendiente");
  assert.deepEqual(active.present(STORED), STORED);
  assert.deepEqual(active.present({ ...STORED, id: 8 }), { ...STORED, id: 8 }, "not held here");
});

Deno.test("ActiveOrders.counts(): an order whose end could not be written counts pendiente until it is, never en proceso", () => {
  const active = new ActiveOrders();
  const [permit] = Capacity.create(1).takeBeyond(1);
  active.add(STORED, permit!);
  active.start(7, 0, Date.now(), "stored");
  assert.deepEqual(active.counts(), { pendientes: 0, enProceso: 1 });
  active.move(7, "cerrando");
  assert.deepEqual(active.counts(), { pendientes: 0, enProceso: 0 }, "its end being committed");
  active.endFailed(7);
  assert.deepEqual(active.counts(), { pendientes: 1, enProceso: 0 }, "its end not written");
  active.end(7);
  assert.deepEqual(active.counts(), { pendientes: 0, enProceso: 0 });
});

/** The name of the first of `waits` to resolve, or "neither" after a second. */
async function firstOf(waits: Record<string, Promise<void>>): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      ...Object.entries(waits).map(([name, wait]) => wait.then(() => name)),
      new Promise<string>((resolve) => timer = setTimeout(resolve, 1000, "neither")),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("ActiveOrders.allCounted(): STATS's wait for an order's end to be counted ends when a write of its end fails, as it counts pendiente from then on", async () => {
  const active = new ActiveOrders();
  const capacity = Capacity.create(1);
  const [permit] = capacity.takeBeyond(1);
  active.add(STORED, permit!);
  active.start(7, 0, Date.now(), "stored");
  active.move(7, "cerrando");
  const [counted, ...more] = active.allCounted();
  assert.ok(counted, "its end being committed: there is something to wait for");
  assert.equal(more.length, 0);
  const read = active.closed(7)!;
  active.endFailed(7); // a full disk
  const first = await firstOf({ counted, read });
  assert.equal(
    first,
    "counted",
    "STATS's wait ended with the failed write, not with the disk's return",
  );
  assert.deepEqual(active.allCounted(), [], "counted pendiente: nothing more to wait for");
  assert.notEqual(active.closed(7), null, "a read that saw it ended still waits for its slot");
  assert.equal(capacity.used, 1, "its slot held until its end is written");
  active.end(7);
  assert.equal(await firstOf({ read }), "read", "its end written: the read's wait ends");
});

Deno.test("ActiveOrders: an order on a worker counts en proceso once its start is stored, and STATS waits for that write", async () => {
  const active = new ActiveOrders();
  const [permit] = Capacity.create(1).takeBeyond(1);
  active.add(STORED, permit!);
  active.start(7, 1, Date.now(), "writing");
  assert.deepEqual(
    active.counts(),
    { pendientes: 1, enProceso: 0 },
    "the store still has it pendiente",
  );
  const [written, ...more] = active.allCounted();
  assert.ok(written, "its start being committed: there is something to wait for");
  assert.equal(more.length, 0);
  active.startWritten(7, true);
  assert.equal(await firstOf({ written }), "written");
  assert.deepEqual(active.counts(), { pendientes: 0, enProceso: 1 });
  assert.deepEqual(active.allCounted(), []);

  // A start that could not be written: pendiente, as the store has it; nothing to wait for.
  active.move(7, "pendiente");
  active.start(7, 1, Date.now(), "writing");
  const [failed] = active.allCounted();
  active.startWritten(7, false);
  assert.equal(await firstOf({ failed: failed! }), "failed");
  assert.deepEqual(active.counts(), { pendientes: 1, enProceso: 0 });
  // One whose start is written with its end: pendiente until then, and nothing to wait for.
  active.move(7, "pendiente");
  active.start(7, 1, Date.now(), "none");
  assert.deepEqual([active.counts(), active.allCounted()], [{ pendientes: 1, enProceso: 0 }, []]);
});
