/**
 * The conformance suite of {@linkcode SharedQueue}: what a store shared by
 * several daemons must do, seen through the interface only, with several
 * stores open on one database as several daemons have them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import type { PedidoNuevo } from "../protocol/messages.ts";
import type { SharedQueue } from "./shared_queue.ts";
import type { Store } from "./store.ts";

/** One empty database, on which stores may be opened as daemons would. */
export interface SharedDatabase extends AsyncDisposable {
  /** Opens a store on it (a daemon joining). */
  open(options?: { capacity?: number; leaseMs?: number }): Promise<Store & SharedQueue>;
}

/** Options of {@linkcode runSharedQueueConformance}. */
export interface SharedQueueConformanceOptions {
  /** Names the store in test names. */
  name: string;
  /** A new, empty database; the suite disposes it after closing its stores. */
  database: () => Promise<SharedDatabase>;
  /** Why the suite cannot run here; its tests are then ignored with it. */
  ignore?: string | false;
}

function nuevo(fields: Partial<PedidoNuevo> = {}): PedidoNuevo {
  return { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null, ...fields };
}

const T0 = "2026-11-23T13:16:00.123Z";
const T1 = "2026-11-23T13:16:01.000Z";
const T2 = "2026-11-23T13:16:02.000Z";

/** Waits for `promise`, or fails after `ms` naming `what`. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), ms)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Registers the suite's tests with `Deno.test`. */
export function runSharedQueueConformance(options: SharedQueueConformanceOptions): void {
  const { name } = options;
  const ignore = Boolean(options.ignore);
  // An ignored test says why in its name, where `deno test` prints it.
  const why = options.ignore ? ` [${options.ignore}]` : "";

  function test(
    title: string,
    fn: (open: SharedDatabase["open"]) => Promise<void>,
  ): void {
    Deno.test({
      name: `${name}: ${title}${why}`,
      ignore,
      async fn() {
        await using database = await options.database();
        const stores: Store[] = [];
        try {
          await fn(async (o) => {
            const store = await database.open(o);
            stores.push(store);
            return store;
          });
        } finally {
          await Promise.all(stores.map((store) => store.close()));
        }
      },
    });
  }

  test("insertWithinCapacity() never lets the cluster hold more unfinished orders than its capacity", async (open) => {
    const [a, b] = [await open({ capacity: 5 }), await open({ capacity: 5 })];
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).insertWithinCapacity(nuevo(), T0)),
    );
    assert.equal(results.filter((r) => r.status === "inserted").length, 5);
    assert.equal(results.filter((r) => r.status === "full").length, 19);
    assert.deepEqual(await a.clusterCounts(), { capacidad: 5, pendientes: 5, enProceso: 0 });
    // A finished order frees its slot for anyone.
    const [claimed] = await b.claim({ limit: 1, at: T1 });
    assert.ok(claimed);
    const end = { outcome: { estado: "listo" as const, at: T2 }, worker: 1, startedAt: T1 };
    assert.equal(await b.finishAttempt(claimed, end), true);
    assert.equal((await a.insertWithinCapacity(nuevo(), T0)).status, "inserted");
    assert.equal((await b.insertWithinCapacity(nuevo(), T0)).status, "full");
  });

  test("insertWithinCapacity() answers a stored clave as duplicate even when full", async (open) => {
    const store = await open({ capacity: 1 });
    const first = await store.insertWithinCapacity(nuevo({ clave: "k" }), T0);
    assert.equal(first.status, "inserted");
    const [again, other] = await Promise.all([
      store.insertWithinCapacity(nuevo({ clave: "k" }), T0),
      store.insertWithinCapacity(nuevo({ clave: "otra" }), T0),
    ]);
    assert.equal(again.status, "duplicate");
    assert.equal(
      again.status === "duplicate" && again.pedido.id,
      first.status === "inserted" && first.pedido.id,
    );
    assert.equal(other.status, "full");
  });

  test("finishAttempt() stores any JSON result, one with a NUL beside others finished at once", async (open) => {
    const store = await open({ capacity: 3 });
    for (let i = 0; i < 3; i++) await store.insertWithinCapacity(nuevo(), T0);
    const claimed = await store.claim({ limit: 3, at: T1 });
    assert.equal(claimed.length, 3);
    const results = [{ s: "a\u0000b" }, { t: "\ud800x" }, { total: 3 }];
    const written = await within(
      10_000,
      "the three ends",
      Promise.all(claimed.map((order, i) =>
        store.finishAttempt(order, {
          outcome: { estado: "listo", at: T2, resultado: JSON.stringify(results[i]) },
          worker: 1,
          startedAt: T1,
        })
      )),
    );
    assert.deepEqual(written, [true, true, true]);
    // As given, or with U+FFFD where the store's JSON cannot hold a character (jsonb).
    const replaced = [{ s: "a\ufffdb" }, { t: "\ufffdx" }, { total: 3 }];
    for (const [i, order] of claimed.entries()) {
      const stored = await store.get(order.pedido.id);
      assert.equal(stored?.estado, "listo");
      assert.ok(
        [results[i], replaced[i]].some((v) => isDeepStrictEqual(v, stored?.resultado)),
        JSON.stringify(stored?.resultado),
      );
    }
  });

  test("finishAttempt() stores any error text, one with a NUL beside others failed at once", async (open) => {
    const store = await open({ capacity: 3 });
    for (let i = 0; i < 3; i++) await store.insertWithinCapacity(nuevo(), T0);
    const claimed = await store.claim({ limit: 3, at: T1 });
    assert.equal(claimed.length, 3);
    // A processor's error message is its own text: a NUL, an unpaired surrogate.
    const detalles = ["boom\u0000tail", "mal \ud800 formado", "boom"];
    const written = await within(
      10_000,
      "the three ends",
      Promise.all(claimed.map((order, i) =>
        store.finishAttempt(order, {
          outcome: { estado: "error", at: T2, detalle: detalles[i]! },
          worker: 1,
          startedAt: T1,
        })
      )),
    );
    assert.deepEqual(written, [true, true, true]);
    const stored = await Promise.all(claimed.map((order) => store.get(order.pedido.id)));
    assert.deepEqual(stored.map((p) => p?.estado), ["error", "error", "error"]);
    assert.equal(stored[2]?.detalle_error, "boom");
    // As given, or as close as the store's text can hold: U+FFFD for the NUL, the lone surrogate.
    assert.ok(["boom\u0000tail", "boom\ufffdtail"].includes(stored[0]?.detalle_error!));
    assert.ok(["mal \ud800 formado", "mal \ufffd formado"].includes(stored[1]?.detalle_error!));
  });

  test("finishAttempt() twice for one attempt at once: one end is stored, and only it answers true; a stale attempt's beside it stops nothing", async (open) => {
    const store = await open({ capacity: 2 });
    for (let i = 0; i < 2; i++) await store.insertWithinCapacity(nuevo(), T0);
    const [c, d] = await store.claim({ limit: 2, at: T1 });
    assert.ok(c && d);
    const ends = [
      { outcome: { estado: "listo" as const, at: T2 }, worker: 1, startedAt: T1 },
      { outcome: { estado: "error" as const, at: T2, detalle: "dos" }, worker: 2, startedAt: T1 },
    ];
    const twice = await within(
      10_000,
      "two ends of one attempt",
      Promise.all(ends.map((end) => store.finishAttempt(c, end))),
    );
    assert.equal(twice.filter((written) => written).length, 1, JSON.stringify(twice));
    const stored = await store.get(c.pedido.id);
    assert.equal(stored?.estado, ends[twice.indexOf(true)]!.outcome.estado);

    const beside = await within(
      10_000,
      "the end of a stale attempt beside the current one",
      Promise.all([
        store.finishAttempt(d, ends[0]!),
        store.finishAttempt({ id: d.id, attempt: d.attempt + 98 }, ends[1]!),
      ]),
    );
    assert.deepEqual(beside, [true, false]);
    assert.equal((await store.get(d.pedido.id))?.estado, "listo");
  });

  test("retryWithinCapacity() takes a slot like a new order, or answers full and changes nothing", async (open) => {
    const store = await open({ capacity: 1 });
    const inserted = await store.insertWithinCapacity(nuevo(), T0);
    assert.equal(inserted.status, "inserted");
    const [claimed] = await store.claim({ limit: 1, at: T1 });
    const failed = {
      outcome: { estado: "error" as const, at: T2, detalle: "x" },
      worker: 1,
      startedAt: T1,
    };
    assert.equal(await store.finishAttempt(claimed!, failed), true);
    assert.equal((await store.insertWithinCapacity(nuevo(), T0)).status, "inserted");
    assert.deepEqual(await store.retryWithinCapacity(claimed!.pedido.id), { status: "full" });
    assert.equal((await store.get(claimed!.pedido.id))?.estado, "error", "unchanged");
  });

  test("retryWithinCapacity() racing the attempts of another daemon never answers full while there is room", async (open) => {
    const [a, b] = [await open({ capacity: 50 }), await open({ capacity: 50 })];
    const inserted = await a.insertWithinCapacity(nuevo(), T0);
    assert.equal(inserted.status, "inserted");
    const id = inserted.status === "inserted" ? inserted.pedido.id : 0;
    // A runs the order again and again, each attempt failing; B keeps asking to retry it.
    let running = true;
    const attempts = (async () => {
      let ended = 0;
      while (running) {
        const [lease] = await a.claim({ limit: 1, at: T1 });
        if (lease === undefined) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          continue;
        }
        const failed = { estado: "error" as const, at: T2, detalle: "x" };
        await a.finishAttempt(lease, { outcome: failed, worker: 1, startedAt: T1 });
        ended++;
      }
      return ended;
    })();
    const answers = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const answer = await b.retryWithinCapacity(id);
      const key = answer.status === "refused" ? `refused ${answer.pedido.estado}` : answer.status;
      answers.set(key, (answers.get(key) ?? 0) + 1);
    }
    running = false;
    const ended = await attempts;
    const seen = JSON.stringify([...answers]);
    assert.ok(ended > 10 && (answers.get("changed") ?? 0) > 10, `the race ran: ${seen}`);
    assert.equal(answers.get("full"), undefined, `one order and room for 50: ${seen}`);
  });

  test("insertWithinCapacity({take}) starts this daemon's attempt at once, unless an older order waits", async (open) => {
    const [a, b] = [await open({ capacity: 3 }), await open({ capacity: 3 })];
    const taken = await a.insertWithinCapacity(nuevo({ cliente: "uno" }), T0, null, { take: true });
    assert.equal(taken.status, "inserted");
    const claimed = taken.status === "inserted" ? taken.claimed : undefined;
    assert.ok(claimed, "nothing waited: taken at its insert");
    assert.deepEqual([claimed.attempt, claimed.pedido.estado, claimed.takenOver], [
      1,
      "en proceso",
      false,
    ]);
    const stored = await b.get(claimed.id);
    assert.deepEqual([stored?.estado, stored?.intentos], ["en proceso", 1]);
    assert.deepEqual(await b.claim({ limit: 5, at: T1 }), [], "no one else can claim it");
    assert.deepEqual(await b.renew([claimed]), [], "its lease is the taker's, not b's");
    // Not asked to be taken: it waits in the queue; then an order asked to is
    // not taken either, since an older one waits.
    const queued = await a.insertWithinCapacity(nuevo({ cliente: "dos" }), T0);
    assert.ok(queued.status === "inserted" && queued.claimed === undefined);
    const behind = await a.insertWithinCapacity(nuevo({ cliente: "tres" }), T0, null, {
      take: true,
    });
    assert.ok(behind.status === "inserted" && behind.claimed === undefined);
    assert.equal(behind.pedido.estado, "pendiente");
    assert.deepEqual(await b.clusterCounts(), { capacidad: 3, pendientes: 2, enProceso: 1 });
    // A taken order counts against the capacity like any other.
    const full = await a.insertWithinCapacity(nuevo(), T0, null, { take: true });
    assert.equal(full.status, "full");
    // Its attempt is fenced like a claimed one: it ends once, by its taker.
    const end = { outcome: { estado: "listo" as const, at: T2 }, worker: 1, startedAt: T1 };
    assert.equal(await b.finishAttempt(claimed, end), false, "b holds no lease on it");
    assert.equal(await a.finishAttempt(claimed, end), true);
    assert.equal((await b.get(claimed.id))?.estado, "listo");
  });

  test("claim() takes the oldest pendiente orders, each by one daemon only, and starts an attempt", async (open) => {
    const [a, b, c] = [await open(), await open(), await open()];
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await a.insert(nuevo({ cliente: `c${i}` }), T0);
      ids.push(r.pedido.id);
    }
    const claims = await Promise.all(
      Array.from({ length: 12 }, (_, i) => [a, b, c][i % 3]!.claim({ limit: 4, at: T1 })),
    );
    const claimed = claims.flat().map((x) => x.pedido.id).sort((x, y) => x - y);
    assert.deepEqual(claimed, ids, "every order claimed once, none twice");
    const first = claims[0]!;
    assert.deepEqual(
      first.map((x) => x.pedido.id),
      [...first.map((x) => x.pedido.id)].sort((x, y) => x - y),
    );
    assert.ok(claims.flat().every((c) => c.takenOver === false));
    const stored = await b.get(ids[0]!);
    assert.deepEqual([stored?.estado, stored?.intentos, stored?.fecha_inicio], [
      "en proceso",
      1,
      T1,
    ]);
    assert.deepEqual(await a.claim({ limit: 5, at: T1 }), [], "nothing left");
  });

  test("an expired lease is taken over by another daemon: a new attempt, and the old one is fenced", async (open) => {
    const paused = await open({ leaseMs: 150 });
    const rescuer = await open({ leaseMs: 150 });
    const { pedido } = await paused.insert(nuevo(), T0);
    const [old] = await paused.claim({ limit: 1, at: T1 });
    assert.equal(old?.attempt, 1);
    assert.deepEqual(
      await rescuer.claim({ limit: 1, at: T1, takeover: true }),
      [],
      "lease still held",
    );
    let taken: Awaited<ReturnType<typeof rescuer.claim>> = [];
    await within(
      5000,
      "the lease to run out",
      (async () => {
        while (taken.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          taken = await rescuer.claim({ limit: 1, at: T2, takeover: true });
        }
      })(),
    );
    assert.equal(taken[0]?.attempt, 2, "intentos counts the takeover");
    assert.equal(taken[0]?.takenOver, true);
    const listo = { outcome: { estado: "listo" as const, at: T2 }, worker: 1, startedAt: T2 };
    assert.equal(await rescuer.finishAttempt(taken[0]!, listo), true);
    // The paused daemon comes back: none of its writes land (River#1302).
    const late = {
      outcome: { estado: "error" as const, at: T2, detalle: "tarde" },
      worker: 9,
      startedAt: T1,
    };
    assert.equal(await paused.finishAttempt(old!, late), false);
    assert.equal(await paused.markAttemptStarted(old!, 9, T1), false);
    assert.equal(await paused.releaseAttempt(old!, { started: true }), false);
    assert.deepEqual(await paused.renew([old!]), []);
    const after = await paused.get(pedido.id);
    assert.deepEqual([after?.estado, after?.intentos, after?.worker, after?.detalle_error], [
      "listo",
      2,
      1,
      null,
    ]);
  });

  test("claim() with takeover passes over the expired leases the claimer names as its own; renew() extends them", async (open) => {
    const store = await open({ leaseMs: 150 });
    await store.insert(nuevo(), T0);
    await store.insert(nuevo(), T0);
    const held = await store.claim({ limit: 2, at: T1 });
    assert.equal(held.length, 2);
    await new Promise((resolve) => setTimeout(resolve, 300)); // both leases run out
    const [own] = held;
    const taken = await store.claim({ limit: 2, at: T2, takeover: true, holding: [own!.id] });
    assert.deepEqual(taken.map((o) => [o.id, o.attempt]), [[held[1]!.id, 2]], "only the other one");
    assert.deepEqual(await store.renew([own!]), [own!.id], "still its lease to renew");
    const end = { outcome: { estado: "listo" as const, at: T2 }, worker: 1, startedAt: T1 };
    assert.equal(await store.finishAttempt(own!, end), true);
    assert.equal((await store.get(own!.id))?.intentos, 1);
  });

  test("claim({recover}) takes back, with their attempt, the orders leased to this daemon that it does not hold, and no other daemon's", async (open) => {
    const a = await open();
    const b = await open();
    for (let i = 0; i < 3; i++) await a.insert(nuevo(), T0);
    // A claim whose answer was lost: the orders are leased to a, which does not know it.
    const lost = await a.claim({ limit: 2, at: T1 });
    const [others] = await b.claim({ limit: 1, at: T1 });
    const [held] = lost;
    const recovered = await a.claim({ limit: 5, at: T2, recover: true, holding: [held!.id] });
    assert.deepEqual(
      recovered.map((o) => [o.id, o.attempt, o.recovered, o.takenOver]),
      [[lost[1]!.id, 1, true, false]],
      "the one it does not hold, its attempt as claimed; not b's",
    );
    assert.equal((await a.get(others!.id))?.intentos, 1);
    assert.deepEqual(await a.renew(recovered), [lost[1]!.id], "its lease, renewed as any");
    assert.deepEqual(
      await a.claim({ limit: 5, at: T2, recover: true, holding: [] }).then((o) =>
        o.map((x) => x.id)
      ),
      [held!.id, lost[1]!.id],
      "without holding, every order leased here",
    );
  });

  test("claim() never dates an attempt before its order was received (a claim that waited for its turn)", async (open) => {
    const store = await open();
    const { pedido } = await store.insert(nuevo(), T2);
    const [claimed] = await store.claim({ limit: 1, at: T1 });
    assert.equal(claimed!.pedido.fecha_inicio, T2);
    assert.equal((await store.get(pedido.id))?.fecha_inicio, T2);
  });

  test("renew() keeps a lease alive past its length; a finished attempt is not taken over", async (open) => {
    const holder = await open({ leaseMs: 600 });
    const other = await open({ leaseMs: 600 });
    await holder.insert(nuevo(), T0);
    const [claimed] = await holder.claim({ limit: 1, at: T1 });
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.deepEqual(await holder.renew([claimed!]), [claimed!.pedido.id]);
      assert.deepEqual(await other.claim({ limit: 1, at: T1, takeover: true }), []);
    }
    const end = { outcome: { estado: "listo" as const, at: T2 }, worker: 2, startedAt: T1 };
    assert.equal(await holder.finishAttempt(claimed!, end), true);
    await new Promise((resolve) => setTimeout(resolve, 650));
    assert.deepEqual(await other.claim({ limit: 1, at: T1, takeover: true }), []);
  });

  test("releaseAttempt() puts an order back pendiente; an attempt that never started does not count", async (open) => {
    const store = await open();
    const { pedido } = await store.insert(nuevo(), T0);
    const [first] = await store.claim({ limit: 1, at: T1 });
    assert.equal(await store.releaseAttempt(first!, { started: false }), true);
    assert.deepEqual(
      [(await store.get(pedido.id))?.estado, (await store.get(pedido.id))?.intentos],
      ["pendiente", 0],
    );
    const [second] = await store.claim({ limit: 1, at: T1 });
    assert.equal(await store.markAttemptStarted(second!, 2, T2), true);
    assert.equal((await store.get(pedido.id))?.worker, 2);
    assert.equal(await store.releaseAttempt(second!, { started: true }), true);
    const back = await store.get(pedido.id);
    assert.deepEqual([back?.estado, back?.intentos, back?.worker], ["pendiente", 1, null]);
  });

  test("cancel() and a claim of the same order: exactly one wins", async (open) => {
    const [a, b] = [await open(), await open()];
    for (let round = 0; round < 10; round++) {
      const { pedido } = await a.insert(nuevo(), T0);
      const [cancelled, claimed] = await Promise.all([
        a.cancel(pedido.id, T1),
        b.claim({ limit: 1, at: T1 }),
      ]);
      assert.equal(
        (cancelled.status === "changed" ? 1 : 0) + claimed.length,
        1,
        `round ${round}: ${cancelled.status}, ${claimed.length} claimed`,
      );
      for (const c of claimed) {
        const end = { outcome: { estado: "listo" as const, at: T2 }, worker: 1, startedAt: T1 };
        await b.finishAttempt(c, end);
      }
    }
  });

  test("onWork() hears this daemon's new work and work announced elsewhere; onFinished() every finish", async (open) => {
    const [a, b] = [await open(), await open()];
    const here = Promise.withResolvers<string>();
    const work = Promise.withResolvers<string>();
    const finished = Promise.withResolvers<number[]>();
    using _h = a.onWork((origin) => here.resolve(origin));
    using _w = b.onWork((origin) => work.resolve(origin));
    using _f = b.onFinished((ids) => finished.resolve(ids));
    const { pedido } = await a.insert(nuevo(), T0);
    assert.equal(await within(5000, "onWork here", here.promise), "here");
    a.announceWork();
    assert.equal(await within(5000, "onWork on the other daemon", work.promise), "elsewhere");
    const [claimed] = await a.claim({ limit: 1, at: T1 });
    const end = { outcome: { estado: "listo" as const, at: T2 }, worker: 1, startedAt: T1 };
    await a.finishAttempt(claimed!, end);
    assert.deepEqual(await within(5000, "onFinished", finished.promise), [pedido.id]);
  });

  test("a daemon with another capacity than the daemons alive cannot join; alone, it sets it", async (open) => {
    const first = await open({ capacity: 6 });
    await assert.rejects(open({ capacity: 7 }), /capacity in force is 6\b/);
    await first.close();
    const next = await open({ capacity: 7 });
    assert.equal((await next.clusterCounts()).capacidad, 7);
  });
}
