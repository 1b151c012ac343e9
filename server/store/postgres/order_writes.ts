/**
 * The writes of orders, as kinds of the {@linkcode PostgresWriter}: new
 * orders (one multi-row insert per batch, with or without the capacity
 * check), attempts of claimed orders (one fenced update per batch and
 * kind), and the rarer changes (one statement each).
 *
 * Fenced writes match the order's attempt and lease holder: `intentos =
 * attempt AND nodo = this daemon AND estado = 'en proceso'`. When another
 * daemon took the order over (its lease ran out), nothing matches, nothing
 * is written, and the write answers false.
 *
 * @module
 */

import type { Pedido, PedidoNuevo } from "../../protocol/messages.ts";
import { newPedido } from "../new_pedido.ts";
import type { AttemptEnd, CheckedChange, CheckedInsert, Lease } from "../shared_queue.ts";
import type { ChangeResult, Outcome } from "../store.ts";
import { PEDIDO_COLUMNS, type PedidoRow, toPedido } from "./postgres_rows.ts";
import type { BatchContext, WriteKind } from "./postgres_writer.ts";

/** A new order to insert. */
export interface InsertArgs {
  pedido: PedidoNuevo;
  receivedAt: string;
  owner: number | null;
}

const FINISHED = "('listo', 'error', 'cancelado')";

const INSERT = `WITH input AS (
    SELECT r.n, nextval('pedidos_id_seq') AS id, r.clave, r.cliente, r.productos, r.direccion,
      r.fecha_recibido, r.usuario_id
    FROM (SELECT * FROM jsonb_to_recordset($1::text::jsonb) AS x(n int, clave text, cliente text,
      productos jsonb, direccion text, fecha_recibido timestamptz, usuario_id bigint)
      ORDER BY n) r
  ), ins AS (
    INSERT INTO pedidos (id, clave, cliente, productos, direccion, fecha_recibido, usuario_id)
    SELECT id, clave, cliente, productos, direccion, fecha_recibido, usuario_id
    FROM input ORDER BY n
    ON CONFLICT (clave) DO NOTHING
    RETURNING id
  )
  SELECT input.n, input.id, (ins.id IS NOT NULL) AS inserted
  FROM input LEFT JOIN ins USING (id)`;

const BY_CLAVES = `SELECT ${PEDIDO_COLUMNS} FROM pedidos
  WHERE clave IN (SELECT jsonb_array_elements_text($1::text::jsonb))`;

/** The order by id, when `$2` (the owner) is null or placed it. */
const GET_SCOPED = `SELECT ${PEDIDO_COLUMNS} FROM pedidos
  WHERE id = $1 AND ($2::bigint IS NULL OR usuario_id = $2::bigint)`;

/** Applies the writes of a kind one at a time. */
function oneByOne<A, R>(
  name: string,
  apply: (ctx: BatchContext, args: A) => Promise<R>,
): WriteKind<A, R> {
  return {
    name,
    async apply(ctx, args) {
      const results: R[] = [];
      for (const one of args) results.push(await apply(ctx, one));
      return results;
    },
  };
}

async function insertOrders(
  ctx: BatchContext,
  args: InsertArgs[],
  checked: boolean,
): Promise<CheckedInsert[]> {
  const { tx } = ctx;
  const results: (CheckedInsert | undefined)[] = new Array(args.length);
  const claves = [...new Set(args.flatMap((a) => a.pedido.clave === null ? [] : [a.pedido.clave]))];
  const stored = new Map<string, Pedido>();
  if (claves.length > 0) {
    const rows = await tx.unsafe<PedidoRow[]>(BY_CLAVES, [JSON.stringify(claves)], {
      prepare: true,
    });
    for (const row of rows) stored.set(row.clave!, toPedido(row));
  }
  // Each clave's first new order is inserted; repeats in the batch follow its fate.
  const fresh: number[] = [];
  const leader = new Map<string, number>();
  const followers: [at: number, leader: number][] = [];
  args.forEach(({ pedido }, i) => {
    const clave = pedido.clave;
    const existing = clave === null ? undefined : stored.get(clave);
    if (existing !== undefined) results[i] = { status: "duplicate", pedido: existing };
    else if (clave !== null && leader.has(clave)) followers.push([i, leader.get(clave)!]);
    else {
      if (clave !== null) leader.set(clave, i);
      fresh.push(i);
    }
  });
  let fits = fresh.length;
  if (checked && fresh.length > 0) {
    const room = await ctx.room();
    fits = Math.min(room.free, fresh.length);
    room.free -= fits;
  }
  for (const i of fresh.slice(fits)) results[i] = { status: "full" };
  const chosen = fresh.slice(0, fits);
  if (chosen.length > 0) {
    const input = chosen.map((i, n) => {
      const { pedido, receivedAt, owner } = args[i]!;
      return {
        n,
        clave: pedido.clave,
        cliente: pedido.cliente,
        productos: pedido.productos,
        direccion: pedido.direccion,
        fecha_recibido: receivedAt,
        usuario_id: owner,
      };
    });
    const rows = await tx.unsafe<{ n: number; id: number; inserted: boolean }[]>(
      INSERT,
      [JSON.stringify(input)],
      { prepare: true },
    );
    for (const row of rows) {
      const i = chosen[row.n]!;
      const { pedido, receivedAt } = args[i]!;
      if (row.inserted) {
        results[i] = { status: "inserted", pedido: newPedido(row.id, pedido, receivedAt) };
        continue;
      }
      // Only a clave stored meanwhile (by a write that skipped the capacity lock) gets here.
      const [again] = await tx.unsafe<PedidoRow[]>(BY_CLAVES, [JSON.stringify([pedido.clave])]);
      if (again === undefined) throw new Error("no row was stored");
      results[i] = { status: "duplicate", pedido: toPedido(again) };
    }
    if (rows.some((row) => row.inserted)) ctx.newWork();
  }
  for (const [at, first] of followers) {
    const lead = results[first]!;
    results[at] = lead.status === "full" ? lead : { status: "duplicate", pedido: lead.pedido };
  }
  return results as CheckedInsert[];
}

/** A fenced update of claimed orders, for every write of its kind in the batch at once. */
function fenced<A extends { lease: Lease }>(
  name: string,
  nodeId: string,
  sql: string,
  record: (args: A) => Record<string, unknown>,
  after: (ctx: BatchContext, ids: number[]) => void = () => {},
): WriteKind<A, boolean> {
  return {
    name,
    async apply(ctx, args) {
      const input = args.map((a) => ({ id: a.lease.id, intento: a.lease.attempt, ...record(a) }));
      const rows = await ctx.tx.unsafe<{ id: number }[]>(sql, [JSON.stringify(input), nodeId], {
        prepare: true,
      });
      const done = new Set(rows.map((row) => row.id));
      if (done.size > 0) after(ctx, [...done]);
      return args.map((a) => done.has(a.lease.id));
    },
  };
}

const FENCE = "p.id = r.id AND p.intentos = r.intento AND p.estado = 'en proceso' AND p.nodo = $2";

function resultado(outcome: Outcome): unknown {
  return outcome.resultado === undefined ? null : JSON.parse(outcome.resultado);
}

/** Every kind of write of orders, for the daemon `nodeId`. */
export function orderWrites(nodeId: string) {
  return {
    insert: {
      name: "insert",
      apply: (ctx, args) => insertOrders(ctx, args, false),
    } satisfies WriteKind<InsertArgs, CheckedInsert>,
    insertChecked: {
      name: "insert",
      apply: (ctx, args) => insertOrders(ctx, args, true),
    } satisfies WriteKind<InsertArgs, CheckedInsert>,

    attemptStarted: fenced<{ lease: Lease; worker: number; at: string }>(
      "record attempt start",
      nodeId,
      `UPDATE pedidos p SET worker = r.worker, fecha_inicio = r.inicio
      FROM jsonb_to_recordset($1::text::jsonb) AS r(id bigint, intento int, worker int, inicio timestamptz)
      WHERE ${FENCE} RETURNING p.id`,
      (a) => ({ worker: a.worker, inicio: a.at }),
    ),
    attemptFinished: fenced<{ lease: Lease; end: AttemptEnd }>(
      "finish attempt",
      nodeId,
      `UPDATE pedidos p SET estado = r.estado, fecha_inicio = r.inicio, fecha_fin = r.fin,
        worker = r.worker, detalle_error = r.detalle, resultado = r.resultado,
        nodo = NULL, lease_hasta = NULL
      FROM jsonb_to_recordset($1::text::jsonb) AS r(id bigint, intento int, estado text,
        inicio timestamptz, fin timestamptz, worker int, detalle text, resultado jsonb)
      WHERE ${FENCE} RETURNING p.id`,
      ({ end }) => ({
        estado: end.outcome.estado,
        inicio: end.startedAt,
        fin: end.outcome.at,
        worker: end.worker,
        detalle: end.outcome.estado === "error" ? end.outcome.detalle ?? null : null,
        resultado: resultado(end.outcome),
      }),
      (ctx, ids) => ctx.finished(ids),
    ),
    attemptReleased: fenced<{ lease: Lease; started: boolean }>(
      "release attempt",
      nodeId,
      `UPDATE pedidos p SET estado = 'pendiente',
        intentos = p.intentos - CASE WHEN r.started THEN 0 ELSE 1 END,
        fecha_inicio = NULL, fecha_fin = NULL, worker = NULL, detalle_error = NULL,
        resultado = NULL, nodo = NULL, lease_hasta = NULL
      FROM jsonb_to_recordset($1::text::jsonb) AS r(id bigint, intento int, started boolean)
      WHERE ${FENCE} RETURNING p.id`,
      (a) => ({ started: a.started }),
      (ctx) => ctx.newWork(),
    ),

    markStarted: oneByOne<{ id: number; worker: number; at: string }, void>(
      "markStarted",
      async ({ tx }, { id, worker, at }) => {
        const rows = await tx`UPDATE pedidos
          SET estado = 'en proceso', fecha_inicio = ${at}, worker = ${worker},
            intentos = intentos + 1, fecha_fin = NULL, detalle_error = NULL
          WHERE id = ${id} RETURNING id`;
        if (rows.length === 0) throw new Error(`Cannot start order ${id}: not found`);
      },
    ),
    markFinished: oneByOne<{ id: number; outcome: Outcome; run?: AttemptEnd }, void>(
      "markFinished",
      async (ctx, { id, outcome, run }) => {
        const detalle = outcome.estado === "error" ? outcome.detalle ?? null : null;
        const json = outcome.resultado ?? null;
        const rows = run === undefined
          ? await ctx.tx`UPDATE pedidos SET estado = ${outcome.estado}, fecha_fin = ${outcome.at},
              detalle_error = ${detalle}, resultado = ${json}::text::jsonb, nodo = NULL, lease_hasta = NULL
            WHERE id = ${id} RETURNING id`
          : await ctx.tx`UPDATE pedidos SET estado = ${outcome.estado}, fecha_fin = ${outcome.at},
              fecha_inicio = ${run.startedAt}, worker = ${run.worker}, intentos = intentos + 1,
              detalle_error = ${detalle}, resultado = ${json}::text::jsonb, nodo = NULL, lease_hasta = NULL
            WHERE id = ${id} RETURNING id`;
        if (rows.length === 0) throw new Error(`Cannot finish order ${id}: not found`);
        ctx.finished([id]);
      },
    ),
    markPending: oneByOne<number, void>("markPending", async (ctx, id) => {
      const rows = await ctx.tx`UPDATE pedidos
        SET estado = 'pendiente', fecha_inicio = NULL, fecha_fin = NULL, worker = NULL,
          detalle_error = NULL, resultado = NULL, nodo = NULL, lease_hasta = NULL
        WHERE id = ${id} RETURNING id`;
      if (rows.length === 0) throw new Error(`Cannot reset order ${id}: not found`);
      ctx.newWork();
    }),
    cancel: oneByOne<{ id: number; at: string; owner: number | null }, ChangeResult>(
      "cancel",
      async (ctx, { id, at, owner }) => {
        const [changed] = await ctx.tx.unsafe<PedidoRow[]>(
          `UPDATE pedidos SET estado = 'cancelado', fecha_fin = $3
          WHERE id = $1 AND ($2::bigint IS NULL OR usuario_id = $2::bigint)
            AND estado = 'pendiente'
          RETURNING ${PEDIDO_COLUMNS}`,
          [id, owner, at],
          { prepare: true },
        );
        if (changed !== undefined) {
          ctx.finished([id]);
          return { status: "changed", pedido: toPedido(changed) };
        }
        const [row] = await ctx.tx.unsafe<PedidoRow[]>(GET_SCOPED, [id, owner], { prepare: true });
        return row === undefined
          ? { status: "not_found" }
          : { status: "refused", pedido: toPedido(row) };
      },
    ),
    retry: retryKind(false),
    retryChecked: retryKind(true),
    prune: oneByOne<{ before: string; limit: number }, number>(
      "prune",
      async ({ tx }, { before, limit }) => {
        // Oldest first; never the newest order, whose id must stay the highest ever given.
        const rows = await tx.unsafe(
          `DELETE FROM pedidos WHERE id IN (
            SELECT id FROM pedidos
            WHERE estado IN ${FINISHED} AND fecha_fin < $1
              AND id < (SELECT max(id) FROM pedidos)
            ORDER BY id LIMIT $2)
          RETURNING id`,
          [before, limit],
          { prepare: true },
        );
        return rows.length;
      },
    ),
  };
}

function retryKind(
  checked: boolean,
): WriteKind<{ id: number; owner: number | null }, CheckedChange> {
  return oneByOne("retry", async (ctx, { id, owner }) => {
    const room = checked ? await ctx.room() : null;
    const [row] = await ctx.tx.unsafe<PedidoRow[]>(`${GET_SCOPED} FOR UPDATE`, [id, owner], {
      prepare: true,
    });
    if (row === undefined) return { status: "not_found" };
    if (row.estado !== "error") return { status: "refused", pedido: toPedido(row) };
    if (room !== null && room.free < 1) return { status: "full" };
    if (room !== null) room.free--;
    const [changed] = await ctx.tx.unsafe<PedidoRow[]>(
      `UPDATE pedidos SET estado = 'pendiente', fecha_inicio = NULL, fecha_fin = NULL,
        worker = NULL, detalle_error = NULL, resultado = NULL, nodo = NULL, lease_hasta = NULL
      WHERE id = $1 RETURNING ${PEDIDO_COLUMNS}`,
      [id],
      { prepare: true },
    );
    ctx.newWork();
    return { status: "changed", pedido: toPedido(changed!) };
  });
}
