import assert from "node:assert/strict";
import { orderWrites } from "./order_writes.ts";
import { WRITE_AGAIN } from "./postgres_writer.ts";

const AT = "2026-12-01T10:00:00.000Z";
const pedido = { cliente: "Ana", productos: [{ nombre: "pan", cantidad: 1 }], direccion: "C 1" };

/** A batch context whose statements answer `rows` (the insert's), in order. */
function answering(rows: object[], reservation: number | null) {
  return {
    query: () => Promise.resolve(rows),
    newWork() {},
    finished() {},
    reservation,
  };
}

Deno.test("an insert whose reservation was taken back stores nothing and asks to be written again", async () => {
  const { insertChecked } = orderWrites("nodo-a", 30_000);
  const args = [
    { pedido: { ...pedido, clave: null }, receivedAt: AT, owner: null },
    { pedido: { ...pedido, clave: null }, receivedAt: AT, owner: null },
  ];
  // Nothing chosen, and the reservation row was not there to spend.
  const lost = await insertChecked.apply(
    answering([{ n: -1, id: null, taken: null, stored: false }], 7) as never,
    args,
  );
  assert.deepEqual(lost, [WRITE_AGAIN, WRITE_AGAIN]);
  // Spent, but it granted none: the cluster is full.
  const full = await insertChecked.apply(
    answering([{ n: -1, id: null, taken: null, stored: true }], 7) as never,
    args,
  );
  assert.deepEqual(full, [{ status: "full" }, { status: "full" }]);
});
