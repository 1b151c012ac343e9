import assert from "node:assert/strict";
import { Capacity } from "../capacity.ts";
import { Logger } from "../log.ts";
import type { Pedido, PedidoNuevo } from "../protocol/messages.ts";
import type { CheckedInsert } from "../store/shared_queue.ts";
import { newPedido } from "../store/new_pedido.ts";
import { FinishWaiters } from "./finish_waiters.ts";
import { RunCounters } from "./run_counters.ts";
import { SharedIntake, type SharedIntakeOptions } from "./shared_intake.ts";

const ORDER: PedidoNuevo = {
  cliente: "Ana",
  productos: ["pan"],
  direccion: "Calle 1",
  clave: "k-1",
};

Deno.test(
  "SharedIntake.submit() answers duplicado for a clave whose insert commits while its lookup runs",
  async () => {
    // One slot: the first order is sent to the database while it is free,
    // then an order starting here takes it, so the second (same clave,
    // pipelined right after) looks the clave up. Its lookup reads the
    // database before the first commits and finds nothing; the first then
    // commits. As if it had waited for the first's reply, it must answer
    // duplicado, not queue_full.
    const insert = Promise.withResolvers<CheckedInsert>();
    const lookups: PromiseWithResolvers<Pedido | null>[] = [];
    const store = {
      insertWithinCapacity: () => insert.promise,
      findByClave: () => {
        const lookup = Promise.withResolvers<Pedido | null>();
        lookups.push(lookup);
        return lookup.promise;
      },
    };
    const capacity = Capacity.create(1);
    const intake = new SharedIntake({
      store: store as unknown as SharedIntakeOptions["store"],
      capacity,
      counters: new RunCounters(),
      waiters: new FinishWaiters(),
      logger: new Logger({ write: () => {} }),
      onQueued: () => {},
    });
    const first = intake.submit(ORDER);
    using _running = capacity.tryTake()!;
    const second = intake.submit(ORDER);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(lookups.length, 1, "the second looked the clave up");
    const stored = newPedido(7, ORDER, new Date().toISOString());
    insert.resolve({ status: "inserted", pedido: stored });
    assert.equal((await first).id, 7);
    lookups[0]!.resolve(null); // read before the first committed
    await new Promise((resolve) => setTimeout(resolve, 0));
    lookups[1]?.resolve(stored);
    const reply = await second;
    assert.deepEqual([reply.ok, reply.id, reply.duplicado], [true, 7, true]);
  },
);
