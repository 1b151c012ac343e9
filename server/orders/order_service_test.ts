import assert from "node:assert/strict";
import { Capacity } from "../capacity.ts";
import { Logger } from "../log.ts";
import { InlinePool } from "../processing/inline_pool.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { OrderService } from "./order_service.ts";

Deno.test("OrderService.status() with esperar answers an order that finished while it was being read, not at its timeout", async () => {
  const store = new MemoryStore();
  // Each read is answered 100 ms late, with the order as it was when asked for.
  const get = store.get.bind(store);
  store.get = async (id, owner) => {
    const seen = await get(id, owner);
    await new Promise((resolve) => setTimeout(resolve, 100));
    return seen;
  };
  await using pool = new InlinePool(1);
  const service = new OrderService({
    store,
    capacity: Capacity.create(10),
    pool,
    logger: new Logger({ level: "error" }),
    processMs: { min: 50, max: 50 },
    pollMs: 60_000, // orders not held here would be read again only after a minute
  });
  try {
    const { id } = await service.submit({
      cliente: "Ana",
      productos: ["pan"],
      direccion: "C 1",
      clave: null,
    });
    // Read while it runs; it finishes (and wakes no one yet) before the read is answered.
    // Without a wake-up it would be read again only at the end of its 20 s wait.
    const stop = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = await Promise.race([
      service.status(id, { esperar: true, timeoutMs: 20_000, signal: stop.signal }),
      new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), 10_000)),
    ]).finally(() => {
      clearTimeout(timer);
      stop.abort();
    });
    assert.notEqual(reply, "late", "answered as it finished, not at the end of its wait");
    assert.equal(reply !== "late" && reply.pedido.estado, "listo");
  } finally {
    await service.drain(1000);
  }
});
