import assert from "node:assert/strict";
import type { Pedido } from "../../../server/protocol/messages.ts";
import { newPedido } from "../../../server/store/new_pedido.ts";
import type { Ask } from "../ask.ts";
import { checkOperator } from "./operator_check.ts";

const RECIBIDO = "2026-11-23T12:00:00.000Z";

/** A daemon whose token `t` sees only the ids in `mine`; without a token, every order. */
function fakeDaemon(ids: number[], mine: number[] = []) {
  const pedidos = new Map<number, Pedido>();
  const order = { cliente: "Ana", productos: ["pan"], direccion: "C 1", clave: null };
  for (const id of ids) pedidos.set(id, newPedido(id, order, RECIBIDO));
  const asked: Record<string, unknown>[] = [];
  const daemon = {
    pedidos,
    asked,
    silent: false,
    /** ESTADO with a token gets no reply. */
    silentWithToken: false,
    ask: null as unknown as Ask,
  };
  daemon.ask = ((request: Record<string, unknown>) => {
    asked.push(request);
    if (daemon.silent) return Promise.resolve(null);
    if (daemon.silentWithToken && request.token !== undefined) return Promise.resolve(null);
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

/** What a token's lists returned: `ids`, every order of `estado` from the newest. */
const reads = (ids: number[], estado = "pendiente" as const) => ({
  ids: new Set(ids),
  from: new Map([[estado, 0]]),
});

Deno.test("checkOperator() is demoted for a token that does not see an order that exists", async () => {
  const daemon = fakeDaemon([1, 2, 3], [3]);
  const witnesses = [witness(3), witness(2)];
  const result = await checkOperator(daemon.ask, { token: "t", witnesses, reads: reads([3]) });
  assert.equal(result, "demoted");
});

Deno.test("checkOperator() is operador for a token that finds an order not known to be its own", async () => {
  const daemon = fakeDaemon([1, 2, 3], [1, 2, 3]);
  const result = await checkOperator(daemon.ask, {
    token: "t",
    witnesses: [],
    reads: reads([1, 2, 3]),
  });
  assert.equal(result, "operador");
  assert.ok(daemon.asked.filter((r) => r.op === "ESTADO").length <= 4);
});

Deno.test("checkOperator() tries the gaps of the token's lists first: its own newest orders prove nothing", async () => {
  // 11 and 12 are the account's own (placed over TCP, not known to the gateway as its own).
  const daemon = fakeDaemon([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [11, 12]);
  const witnesses = [witness(12), witness(11)];
  const result = await checkOperator(daemon.ask, { token: "t", witnesses, reads: reads([11, 12]) });
  assert.equal(result, "demoted");
  assert.deepEqual(daemon.asked.find((r) => r.op === "ESTADO")?.id, 10);
});

Deno.test("checkOperator() skips the account's own orders, by the gateway's record or its clave", async () => {
  const daemon = fakeDaemon([1, 2, 3], [2, 3]);
  daemon.pedidos.get(2)!.clave = "bob:k1";
  const result = await checkOperator(daemon.ask, {
    token: "t",
    witnesses: [witness(3), witness(2)],
    placedBy: (id) => id === 3 ? "own" : null,
    ownClave: (clave) => clave.startsWith("bob:"),
  });
  // 3 is never asked; 2 is found but its own; 1 is not found: demoted.
  assert.equal(result, "demoted");
  assert.ok(daemon.asked.every((r) => r.id !== 3));
});

Deno.test("checkOperator() is unknown, never demoted, for a witness gone (retention) or from another store", async () => {
  const daemon = fakeDaemon([1, 2], []);
  daemon.pedidos.delete(1);
  // 3 was pruned; 2 is another order of a new store, received at another time.
  const witnesses = [witness(3), witness(2, "2026-11-23T11:00:00.000Z")];
  const result = await checkOperator(daemon.ask, { token: "t", witnesses, newest: 0 });
  assert.equal(result, "unknown");
});

Deno.test("checkOperator() is unknown when the daemon does not answer, or only the token's ESTADO", async () => {
  const daemon = fakeDaemon([1, 2], []);
  daemon.silent = true;
  assert.equal(await checkOperator(daemon.ask, { token: "t", witnesses: [witness(2)] }), "unknown");
  const operador = fakeDaemon([1, 2, 3], [1, 2, 3]);
  operador.silentWithToken = true;
  assert.equal(
    await checkOperator(operador.ask, { token: "t", witnesses: [witness(3)] }),
    "unknown",
  );
  assert.ok(operador.asked.filter((r) => r.op === "ESTADO").length <= 4, "at most 4 ESTADO");
});

Deno.test("checkOperator() is operador by an order another account placed through the gateway", async () => {
  const daemon = fakeDaemon([1, 2, 3], [1, 2, 3]);
  const result = await checkOperator(daemon.ask, {
    token: "t",
    witnesses: [witness(3), witness(2), witness(1)],
    placedBy: (id) => id === 1 ? "other" : null,
    ownClave: () => true, // every clave looks its own: only the gateway's record proves
    newest: 0,
  });
  assert.equal(result, "operador");
  assert.equal(daemon.asked.find((r) => r.op === "ESTADO")?.id, 1);
});

Deno.test("checkOperator() is operador when every order there is was placed by the account itself (a new daemon, one operador): nothing else to show or miss", async () => {
  const daemon = fakeDaemon([1, 2], [1, 2]);
  const placedBy = (id: number) => (id <= 2 ? "own" : null);
  assert.equal(
    await checkOperator(daemon.ask, { token: "t", witnesses: [witness(2)], placedBy }),
    "operador",
  );
  // No orders at all: the same.
  const empty = fakeDaemon([]);
  assert.equal(await checkOperator(empty.ask, { token: "t", witnesses: [] }), "operador");
  // But not when the daemon did not answer the listing: nothing is known then.
  const silent = fakeDaemon([1, 2], [1, 2]);
  silent.silent = true;
  assert.equal(await checkOperator(silent.ask, { token: "t", witnesses: [], placedBy }), "unknown");
});
