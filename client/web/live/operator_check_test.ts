import assert from "node:assert/strict";
import type { Pedido } from "../../../server/protocol/messages.ts";
import { newPedido } from "../../../server/store/new_pedido.ts";
import type { Ask } from "../ask.ts";
import { seesEveryOrder } from "./operator_check.ts";

const RECIBIDO = "2026-11-23T12:00:00.000Z";

/** A daemon whose token `t` sees only the ids in `mine`; without a token, every order. */
function fakeDaemon(ids: number[], mine: number[] = []) {
  const pedidos = new Map<number, Pedido>();
  const order = { cliente: "Ana", productos: ["pan"], direccion: "C 1", clave: null };
  for (const id of ids) pedidos.set(id, newPedido(id, order, RECIBIDO));
  const asked: Record<string, unknown>[] = [];
  const daemon = { pedidos, asked, silent: false, ask: null as unknown as Ask };
  daemon.ask = ((request: Record<string, unknown>) => {
    asked.push(request);
    if (daemon.silent) return Promise.resolve(null);
    const sees = (id: number) => request.token === undefined || mine.includes(id);
    if (request.op === "LISTAR") {
      const listed = [...pedidos.values()].filter((p) => sees(p.id)).reverse();
      return Promise.resolve({ ok: true, pedidos: listed.slice(0, request.limit as number) });
    }
    const pedido = pedidos.get(request.id as number);
    return Promise.resolve(
      pedido && sees(pedido.id)
        ? { ok: true, pedido }
        : { ok: false, error: "not_found", mensaje: "❌ No existe." },
    );
  }) as unknown as Ask;
  return daemon;
}

const witness = (id: number, recibido = RECIBIDO) => ({ id, recibido });

Deno.test("seesEveryOrder() is false for a token that does not see an order that exists", async () => {
  const daemon = fakeDaemon([1, 2, 3], [3]);
  const witnesses = [witness(3), witness(2)];
  assert.equal(await seesEveryOrder(daemon.ask, { token: "t", witnesses }), false);
});

Deno.test("seesEveryOrder() skips the account's own orders, which prove nothing", async () => {
  const daemon = fakeDaemon([1, 2, 3], [3]);
  const isOwn = (id: number) => id === 3;
  const witnesses = [witness(3), witness(2)];
  assert.equal(await seesEveryOrder(daemon.ask, { token: "t", witnesses, isOwn }), false);
  assert.ok(daemon.asked.every((r) => r.id !== 3));
});

Deno.test("seesEveryOrder() takes a witness gone (retention) or from another store for no proof", async () => {
  const daemon = fakeDaemon([1, 2], []);
  // 3 was pruned; 2 is another order of a new store, received at another time.
  const witnesses = [witness(3), witness(2, "2026-11-23T11:00:00.000Z")];
  assert.equal(await seesEveryOrder(daemon.ask, { token: "t", witnesses }), true);
});

Deno.test("seesEveryOrder() is true when the daemon does not answer", async () => {
  const daemon = fakeDaemon([1, 2], []);
  daemon.silent = true;
  assert.equal(await seesEveryOrder(daemon.ask, { token: "t", witnesses: [witness(2)] }), true);
});

Deno.test("seesEveryOrder() finds witnesses among the newest orders when it knows none", async () => {
  const daemon = fakeDaemon([1, 2, 3], [3]);
  const isOwn = (id: number) => id === 3;
  assert.equal(await seesEveryOrder(daemon.ask, { token: "t", witnesses: [], isOwn }), false);
  assert.deepEqual(daemon.asked[0], { op: "LISTAR", limit: 5 });
  const operador = fakeDaemon([1, 2, 3], [1, 2, 3]);
  assert.equal(await seesEveryOrder(operador.ask, { token: "t", witnesses: [] }), true);
});
