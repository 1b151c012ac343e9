import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { ListFilter, Pedido } from "../protocol/messages.ts";
import { ReplyStream } from "../protocol/reply_stream.ts";
import { newPedido } from "../store/new_pedido.ts";
import { listOrders } from "./list_orders.ts";

function pedido(id: number, size: number): Pedido {
  const nuevo = {
    cliente: "x".repeat(size),
    productos: [{ nombre: "pan", cantidad: 1 }],
    direccion: "C 1",
    clave: null,
  };
  return newPedido(id, nuevo, "2026-12-04T00:00:00.000Z");
}

/** A store of `stored` (oldest first) that records the rows each query asked for. */
function storeOf(stored: Pedido[]) {
  const queries: number[] = [];
  return {
    queries,
    list(filter: ListFilter): Promise<Pedido[]> {
      queries.push(filter.limit);
      const newest = stored.toReversed().filter((p) => !filter.antesDe || p.id < filter.antesDe);
      return Promise.resolve(newest.slice(0, filter.limit));
    },
  };
}

Deno.test("listOrders() answers a list that fits one piece as a plain reply", async () => {
  const store = storeOf(Array.from({ length: 30 }, (_, i) => pedido(i + 1, 10)));
  const reply = await listOrders(store, { limit: 20 }, {
    pieceBytes: 100_000,
    largestOrderBytes: 1_000,
  });
  assert.ok(!(reply instanceof ReplyStream));
  assert.deepEqual(reply.pedidos.map((p) => p.id), Array.from({ length: 20 }, (_, i) => 30 - i));
});

Deno.test("listOrders() streams a long list: every order up to limit, one valid line, no piece over pieceBytes, read a piece at a time", async () => {
  const stored = Array.from({ length: 50 }, (_, i) => pedido(i + 1, 900 + (i % 7) * 10));
  const store = storeOf(stored);
  const pieceBytes = 5_000;
  const reply = await listOrders(store, { limit: 45, antesDe: 50 }, {
    pieceBytes,
    largestOrderBytes: 1_200,
  });
  assert.ok(reply instanceof ReplyStream);
  const queriesForFirst = store.queries.length;
  const pieces = [reply.first];
  for (let piece = await reply.next(); piece !== null; piece = await reply.next()) {
    pieces.push(piece);
  }
  assert.ok(queriesForFirst < store.queries.length / 3, "the rest is read as it is asked for");
  for (const piece of pieces) {
    assert.ok(Buffer.byteLength(piece) <= pieceBytes, `a piece of ${Buffer.byteLength(piece)}`);
  }
  assert.ok(store.queries.every((rows) => rows <= 4), "at most pieceBytes / largest per query");
  const line = pieces.join("");
  assert.ok(line.endsWith("]}\n") && line.indexOf("\n") === line.length - 1, "one line");
  const parsed = JSON.parse(line);
  assert.deepEqual(Object.keys(parsed), ["ok", "pedidos"]);
  assert.deepEqual(
    parsed.pedidos.map((p: Pedido) => p.id),
    Array.from({ length: 45 }, (_, i) => 49 - i),
  );
  assert.deepEqual(parsed.pedidos[3], stored[45], "orders whole");
});

Deno.test("listOrders() ends a stream whose last query finds nothing more with valid JSON", async () => {
  // 8 orders, 4 per piece: the piece after the second is empty.
  const store = storeOf(Array.from({ length: 8 }, (_, i) => pedido(i + 1, 1000)));
  const reply = await listOrders(store, { limit: 100 }, {
    pieceBytes: 4_800,
    largestOrderBytes: 1_200,
  });
  assert.ok(reply instanceof ReplyStream);
  const parsed = JSON.parse(await reply.text());
  assert.equal(parsed.pedidos.length, 8);
});

Deno.test("listOrders() stops reading when the stream is disposed", async () => {
  const store = storeOf(Array.from({ length: 100 }, (_, i) => pedido(i + 1, 1000)));
  const reply = await listOrders(store, { limit: 100 }, {
    pieceBytes: 2_400,
    largestOrderBytes: 1_200,
  });
  assert.ok(reply instanceof ReplyStream);
  await reply.next();
  const read = store.queries.length;
  await reply[Symbol.asyncDispose]();
  assert.equal(await reply.next(), null, "nothing more after dispose");
  assert.equal(store.queries.length, read, "no query after dispose");
});
