/**
 * The conformance suite of {@linkcode Store}: what every store must do, as
 * seen through the interface only. Each store's test file calls
 * {@linkcode runStoreConformance} with a way to open a fresh, empty store
 * (hono's `router/common.case.test.ts` is the model).
 *
 * @module
 */

import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import type { PedidoNuevo } from "../protocol/messages.ts";
import type { Store } from "./store.ts";

/** Options of {@linkcode runStoreConformance}. */
export interface ConformanceOptions {
  /** Names the store in test names, e.g. `"SqliteStore (file)"`. */
  name: string;
  /** Opens a new, empty store; the suite closes it. */
  open: () => Promise<Store>;
  /** Why the suite cannot run here (e.g. no PostgreSQL); its tests are then ignored with it. */
  ignore?: string | false;
}

const T0 = "2026-11-23T13:16:00.123Z";
const T1 = "2026-11-23T13:16:01.357Z";
const T2 = "2026-11-23T13:16:02.000Z";
const LATER = "2026-11-24T13:16:00.000Z";

function nuevo(fields: Partial<PedidoNuevo> = {}): PedidoNuevo {
  return { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null, ...fields };
}

/** Registers the suite's tests with `Deno.test`. */
export function runStoreConformance(options: ConformanceOptions): void {
  const { name, open } = options;
  const ignore = Boolean(options.ignore);
  // An ignored test says why in its name, where `deno test` prints it.
  const why = options.ignore ? ` [${options.ignore}]` : "";

  function test(title: string, fn: (store: Store) => Promise<void>): void {
    Deno.test({
      name: `${name}: ${title}${why}`,
      ignore,
      async fn() {
        const store = await open();
        try {
          await fn(store);
        } finally {
          await store.close();
        }
      },
    });
  }

  async function insert(store: Store, fields: Partial<PedidoNuevo> = {}, at = T0) {
    const result = await store.insert(nuevo(fields), at);
    assert.equal(result.status, "inserted");
    return result.pedido;
  }

  test("insert() and get() round-trip every field of §5", async (store) => {
    const productos = ["pan", { nombre: "agua", cantidad: 3 }, "café ☕"];
    const pedido = await insert(store, {
      cliente: "Juan Pérez",
      productos,
      direccion: "Av. Siempre Viva 742",
      clave: "k-1",
    });
    const expected = {
      id: pedido.id,
      clave: "k-1",
      cliente: "Juan Pérez",
      productos,
      direccion: "Av. Siempre Viva 742",
      estado: "pendiente",
      fecha_recibido: T0,
      fecha_inicio: null,
      fecha_fin: null,
      worker: null,
      intentos: 0,
      detalle_error: null,
      resultado: null,
      duracion_ms: null,
    };
    assert.deepEqual(pedido, expected);
    assert.deepEqual(await store.get(pedido.id), expected);
    assert.equal(await store.get(pedido.id + 1000), null);
  });

  test("insert() gives increasing ids and answers a repeated clave with the stored order", async (store) => {
    const first = await insert(store, { clave: "k-9" });
    const second = await insert(store, { clave: "k-10" });
    assert.ok(second.id > first.id);
    await store.markStarted(first.id, 1, T1);
    const again = await store.insert(nuevo({ clave: "k-9", cliente: "Otro" }), T2);
    assert.equal(again.status, "duplicate");
    assert.equal(again.pedido.id, first.id);
    assert.equal(again.pedido.cliente, "Ana", "the order stored first, unchanged");
    assert.equal(again.pedido.estado, "en proceso", "as it is now");
    assert.equal((await store.findByClave("k-9"))?.id, first.id);
    assert.equal(await store.findByClave("nope"), null);
  });

  test("insert() of one clave twice at once makes one order", async (store) => {
    const [a, b] = await Promise.all([
      store.insert(nuevo({ clave: "k-1", cliente: "primero" }), T0),
      store.insert(nuevo({ clave: "k-1", cliente: "segundo" }), T0),
    ]);
    assert.deepEqual([a.status, b.status].sort(), ["duplicate", "inserted"]);
    assert.equal(a.pedido.id, b.pedido.id);
    assert.equal((await store.list({ limit: 10 })).length, 1);
  });

  test("markStarted() then markFinished() record an attempt, its error and its result", async (store) => {
    const pedido = await insert(store);
    await store.markStarted(pedido.id, 2, T1);
    const running = await store.get(pedido.id);
    assert.deepEqual(
      [running?.estado, running?.fecha_inicio, running?.worker, running?.intentos],
      ["en proceso", T1, 2, 1],
    );
    await store.markFinished(pedido.id, { estado: "error", at: T2, detalle: "sin stock" });
    assert.deepEqual(await store.get(pedido.id), {
      ...pedido,
      estado: "error",
      fecha_inicio: T1,
      fecha_fin: T2,
      worker: 2,
      intentos: 1,
      detalle_error: "sin stock",
      duracion_ms: 643,
    });
    const ok = await insert(store);
    await store.markStarted(ok.id, 1, T1);
    await store.markFinished(ok.id, { estado: "listo", at: T2, resultado: '{"total":3}' });
    const done = await store.get(ok.id);
    assert.deepEqual([done?.estado, done?.resultado], ["listo", { total: 3 }]);
    // Any JSON text is stored: as given, or with U+FFFD for a NUL or an
    // unpaired surrogate where the store's JSON cannot hold them (jsonb).
    const odd = await insert(store);
    const value = { s: "a\u0000b", t: "\ud800x", n: [1, null] };
    await store.markRan(odd.id, 1, T1, {
      estado: "listo",
      at: T2,
      resultado: JSON.stringify(value),
    });
    const kept = (await store.get(odd.id))?.resultado;
    const replaced = { s: "a\ufffdb", t: "\ufffdx", n: [1, null] };
    assert.ok(
      [value, replaced].some((v) => isDeepStrictEqual(v, kept)),
      JSON.stringify(kept),
    );
    // And any error text: as given, or U+FFFD for what the store's text cannot hold.
    const failed = await insert(store);
    await store.markRan(failed.id, 1, T1, { estado: "error", at: T2, detalle: "x\u0000y\udc00" });
    const detalle = (await store.get(failed.id))?.detalle_error;
    assert.ok(["x\u0000y\udc00", "x\ufffdy\ufffd"].includes(detalle!), JSON.stringify(detalle));
  });

  test("markRan() records a whole attempt in one write; a failed one before still counts", async (store) => {
    const pedido = await insert(store);
    await store.markRan(pedido.id, 2, T1, { estado: "listo", at: T2 });
    assert.deepEqual(await store.get(pedido.id), {
      ...pedido,
      estado: "listo",
      fecha_inicio: T1,
      fecha_fin: T2,
      worker: 2,
      intentos: 1,
      duracion_ms: 643,
    });
    const second = await insert(store);
    await store.markStarted(second.id, 1, T0);
    await store.markRan(second.id, 1, T1, { estado: "error", at: T2, detalle: "sin stock" });
    const stored = await store.get(second.id);
    assert.deepEqual([stored?.intentos, stored?.detalle_error], [2, "sin stock"]);
  });

  test("state changes of an unknown order reject", async (store) => {
    await assert.rejects(store.markStarted(9999, 1, T1));
    await assert.rejects(store.markFinished(9999, { estado: "listo", at: T2 }));
    await assert.rejects(store.markRan(9999, 1, T1, { estado: "listo", at: T2 }));
  });

  test("markPending() puts an order back, attempt cleared, intentos kept", async (store) => {
    const pedido = await insert(store);
    await store.markStarted(pedido.id, 1, T1);
    await store.markPending(pedido.id);
    const back = await store.get(pedido.id);
    assert.deepEqual(
      [back?.estado, back?.fecha_inicio, back?.worker, back?.intentos],
      ["pendiente", null, null, 1],
    );
  });

  test("cancel() ends a pendiente order cancelado and refuses every other state", async (store) => {
    const pedido = await insert(store);
    const cancelled = await store.cancel(pedido.id, T1);
    assert.equal(cancelled.status, "changed");
    assert.deepEqual(await store.get(pedido.id), { ...pedido, estado: "cancelado", fecha_fin: T1 });
    const again = await store.cancel(pedido.id, T2);
    assert.equal(again.status, "refused");
    assert.equal(again.status === "refused" && again.pedido.fecha_fin, T1, "unchanged");
    const running = await insert(store);
    await store.markStarted(running.id, 1, T1);
    assert.equal((await store.cancel(running.id, T2)).status, "refused");
    assert.equal((await store.get(running.id))?.estado, "en proceso");
    assert.deepEqual(await store.cancel(9999, T2), { status: "not_found" });
    assert.deepEqual((await store.unfinished()).map((p) => p.id), [running.id]);
  });

  test("retry() puts an error order back pendiente, intentos kept, and refuses other states", async (store) => {
    const pedido = await insert(store);
    await store.markStarted(pedido.id, 1, T1);
    await store.markFinished(pedido.id, { estado: "error", at: T2, detalle: "roto" });
    const retried = await store.retry(pedido.id);
    assert.equal(retried.status, "changed");
    const expected = { ...pedido, intentos: 1 };
    assert.deepEqual(retried.status === "changed" && retried.pedido, expected);
    assert.deepEqual(await store.get(pedido.id), expected);
    assert.equal((await store.retry(pedido.id)).status, "refused", "pendiente now");
    const done = await insert(store);
    await store.markRan(done.id, 1, T1, { estado: "listo", at: T2 });
    assert.equal((await store.retry(done.id)).status, "refused");
    assert.deepEqual(await store.retry(9999), { status: "not_found" });
  });

  test("list() filters by estado and cliente, pages with antes_de, newest first", async (store) => {
    const a = await insert(store, { cliente: "Ana" });
    const b = await insert(store, { cliente: "Beto" });
    const c = await insert(store, { cliente: "Ana" });
    await store.cancel(b.id, T1);
    const ids = async (filter: Parameters<Store["list"]>[0]) =>
      (await store.list(filter)).map((p) => p.id);
    assert.deepEqual(await ids({ limit: 50 }), [c.id, b.id, a.id]);
    assert.deepEqual(await ids({ limit: 2 }), [c.id, b.id]);
    assert.deepEqual(await ids({ limit: 50, antesDe: c.id }), [b.id, a.id]);
    assert.deepEqual(await ids({ limit: 50, cliente: "Ana" }), [c.id, a.id]);
    assert.deepEqual(await ids({ limit: 50, cliente: "ana" }), [], "an exact match");
    assert.deepEqual(await ids({ limit: 50, cliente: "Ana\u0000" }), [], "a NUL matches nothing");
    assert.deepEqual(await ids({ limit: 50, estado: "cancelado" }), [b.id]);
    assert.deepEqual(await ids({ limit: 50, estado: "pendiente", cliente: "Ana" }), [c.id, a.id]);
  });

  test("unfinished() lists pendiente and en proceso orders, oldest first", async (store) => {
    const a = await insert(store);
    const b = await insert(store);
    const c = await insert(store);
    await store.markStarted(c.id, 1, T1);
    await store.markRan(a.id, 1, T1, { estado: "listo", at: T2 });
    assert.deepEqual((await store.unfinished()).map((p) => p.id), [b.id, c.id]);
  });

  test("unfinished() lists them in queue order: an order sent back by retry() comes after those stored before the retry, before those stored after", async (store) => {
    const failed = async () => {
      const pedido = await insert(store);
      await store.markRan(pedido.id, 1, T1, { estado: "error", at: T2, detalle: "roto" });
      return pedido;
    };
    const a = await failed();
    const b = await insert(store);
    const c = await failed();
    await store.retry(c.id);
    await store.retry(a.id);
    const d = await insert(store);
    assert.deepEqual((await store.unfinished()).map((p) => p.id), [b.id, c.id, a.id, d.id]);
  });

  test("prune() deletes finished orders older than the cutoff, a batch at a time, never reusing ids", async (store) => {
    const old: number[] = [];
    for (let i = 0; i < 5; i++) {
      const pedido = await insert(store);
      await store.markRan(pedido.id, 1, T0, { estado: i === 4 ? "error" : "listo", at: T1 });
      old.push(pedido.id);
    }
    const cancelled = await insert(store);
    await store.cancel(cancelled.id, T1);
    const waiting = await insert(store);
    const recent = await insert(store);
    await store.markRan(recent.id, 1, T2, { estado: "listo", at: LATER });
    assert.equal(await store.prune(T2, 4), 4, "a batch of at most 4");
    assert.equal(await store.prune(T2, 4), 2, "then the rest");
    assert.equal(await store.prune(T2, 4), 0);
    for (const id of [...old, cancelled.id]) assert.equal(await store.get(id), null);
    assert.equal((await store.get(waiting.id))?.estado, "pendiente", "unfinished orders stay");
    assert.equal((await store.get(recent.id))?.estado, "listo", "newer than the cutoff");
    // Everything finished and old: all of it goes, the newest order too (§4), and its
    // id is never handed out again.
    await store.cancel(waiting.id, T2);
    assert.equal(await store.prune("2100-01-01T00:00:00.000Z", 100), 2);
    assert.equal(await store.get(recent.id), null, "the newest order, finished and old, is gone");
    assert.equal(await store.get(waiting.id), null);
    const next = await insert(store, { clave: "new" });
    assert.ok(next.id > recent.id, `id ${next.id} reused`);
    // A pruned order's clave may be used again.
    const k = await insert(store, { clave: "reusable" });
    await store.cancel(k.id, T1);
    await insert(store);
    assert.equal(await store.prune(T2, 100), 1);
    assert.equal((await store.insert(nuevo({ clave: "reusable" }), T2)).status, "inserted");
  });

  test("createUser() stores an account once, names ignoring ASCII case", async (store) => {
    const id = await store.createUser("Ana", "hash-1", T0);
    assert.equal(typeof id, "number");
    assert.equal(await store.createUser("ana", "hash-2", T0), null);
    assert.equal(await store.createUser("ANA", "hash-3", T0), null);
    assert.deepEqual(await store.findUser("aNa"), {
      id,
      usuario: "Ana",
      hash: "hash-1",
      creado: T0,
      rol: "usuario",
    });
    assert.equal(await store.findUser("eva"), null);
    // Letters beyond ASCII are kept as they are and found as they are.
    const jose = await store.createUser("josé", "hash-4", T0);
    assert.equal(typeof jose, "number");
    assert.equal((await store.findUser("josé"))?.id, jose);
    assert.equal(await store.createUser("josé", "hash-5", T0), null);
    assert.equal((await store.findUser("JOSé"))?.id, jose, "its ASCII letters ignore case");
    assert.equal(await store.findUser("JOSÉ"), null, "other letters keep their case");
    assert.equal(typeof await store.createUser("JOSÉ", "hash-6", T0), "number", "another account");
  });

  test("findSession() finds a live session by token hash, not an expired one", async (store) => {
    const id = (await store.createUser("ana", "h", T0))!;
    await store.createSession("th-1", id, LATER);
    assert.deepEqual(await store.findSession("th-1", T0), {
      usuarioId: id,
      usuario: "ana",
      expira: LATER,
      rol: "usuario",
    });
    assert.equal(await store.findSession("th-1", LATER), null, "expired at its expiry");
    assert.equal(await store.findSession("th-2", T0), null);
  });

  test("deleteExpiredSessions() deletes only ended sessions", async (store) => {
    const id = (await store.createUser("ana", "h", T0))!;
    await store.createSession("old", id, T0);
    await store.createSession("new", id, LATER);
    assert.equal(await store.deleteExpiredSessions(T0), 1);
    assert.equal(await store.deleteExpiredSessions(T0), 0);
    assert.notEqual(await store.findSession("new", T0), null);
  });

  test("setRole() makes an account operador, and its live sessions say so at once", async (store) => {
    const id = (await store.createUser("Ana", "h", T0))!;
    await store.createSession("th", id, LATER);
    assert.equal(await store.setRole("ANA", "operador"), true, "names ignore ASCII case");
    assert.equal((await store.findUser("ana"))?.rol, "operador");
    assert.equal((await store.findSession("th", T0))?.rol, "operador");
    assert.equal(await store.setRole("ana", "usuario"), true);
    assert.equal((await store.findSession("th", T0))?.rol, "usuario");
    assert.equal(await store.setRole("nadie", "operador"), false);
  });

  test("orders placed by an account are its own: get, list, cancel and retry scoped by owner", async (store) => {
    const ana = (await store.createUser("ana", "h", T0))!;
    const beto = (await store.createUser("beto", "h", T0))!;
    const mine = await store.insert(nuevo({ cliente: "de Ana" }), T0, ana);
    const theirs = await store.insert(nuevo({ cliente: "de Beto" }), T0, beto);
    const anonymous = await store.insert(nuevo({ cliente: "de nadie" }), T0);
    const [m, t, a] = [mine.pedido.id, theirs.pedido.id, anonymous.pedido.id];
    assert.equal((await store.get(m, ana))?.cliente, "de Ana");
    assert.equal(await store.get(t, ana), null, "another account's order is not found");
    assert.equal(await store.get(a, ana), null, "an anonymous order is no account's");
    assert.equal((await store.get(t))?.cliente, "de Beto", "unscoped reads see every order");
    const ids = async (usuarioId?: number) =>
      (await store.list({ limit: 10, ...(usuarioId ? { usuarioId } : {}) })).map((p) => p.id);
    assert.deepEqual(await ids(ana), [m]);
    assert.deepEqual(await ids(beto), [t]);
    assert.deepEqual(await ids(), [a, t, m]);
    assert.deepEqual(await store.cancel(t, T1, ana), { status: "not_found" });
    assert.equal((await store.get(t))?.estado, "pendiente", "untouched");
    assert.equal((await store.cancel(m, T1, ana)).status, "changed");
    await store.markStarted(t, 1, T1);
    await store.markFinished(t, { estado: "error", at: T2, detalle: "x" });
    assert.deepEqual(await store.retry(t, ana), { status: "not_found" });
    assert.equal((await store.retry(t, beto)).status, "changed");
  });

  test("createSession() refuses an unknown account", async (store) => {
    await assert.rejects(store.createSession("th", 999, LATER));
  });

  test("close() is idempotent and later calls reject", async (store) => {
    const queued = store.insert(nuevo({ cliente: "justo a tiempo" }), T0);
    const first = store.close();
    await first;
    await store.close();
    assert.equal((await queued).status, "inserted", "a write queued before close() is committed");
    await assert.rejects(store.insert(nuevo(), T0), /closed/);
    await assert.rejects(store.get(1), /closed/);
    await assert.rejects(store.list({ limit: 1 }), /closed/);
  });
}
