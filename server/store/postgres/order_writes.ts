/**
 * The writes of orders, as kinds of the {@linkcode PostgresWriter}: new
 * orders (one multi-row insert per batch, with or without the capacity
 * check), attempts of claimed orders (one fenced update per batch and
 * kind), and the rarer changes (one statement each). Every kind sends all
 * its statements at once, and reads their rows after.
 *
 * Fenced writes match the order's attempt and lease holder: `intentos =
 * attempt AND nodo = this daemon` (only an order `en proceso` has a `nodo`). When another
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
import { ROOM } from "./postgres_schema.ts";
import { storableJsonText, storableText } from "../../../workers/storable_text.ts";

/** A new order to insert. */
export interface InsertArgs {
  pedido: PedidoNuevo;
  receivedAt: string;
  owner: number | null;
  /**
   * Start this daemon's attempt on it at once (`en proceso`, leased here) when
   * no older order is waiting to be claimed. @default false
   */
  take?: boolean;
}

/** Room for more orders, when `$1` (checked) is true; else no limit (NULL). */
const GRANTED = `CASE WHEN $1 THEN ${ROOM} END`;

/** Whether some `pendiente` order may be claimed now (one not waiting out a retry backoff). */
const CLAIMABLE = `EXISTS (SELECT 1 FROM pedidos WHERE estado = 'pendiente'
    AND (no_antes_de IS NULL OR no_antes_de <= clock_timestamp()))`;

/**
 * Inserts, oldest first, each clave's first new order not stored yet, as
 * many as fit ({@linkcode GRANTED}), and returns the ones chosen, by
 * position, with whether each was stored (a clave inserted meanwhile by
 * another daemon is not) and taken.
 *
 * An order asked to be taken (`take`) starts an attempt leased to this
 * daemon (`$3`, for `$4` ms) in the insert itself when no older order waits
 * in the queue, which would otherwise go first. That saves the claim: one
 * row version and one round trip per order.
 *
 * What it stored (`[n, id, taken]` of each order) is also kept as this
 * daemon's lane `$6`'s last batch, numbered `$5`, in `pedidos_lotes`: when
 * the answers are lost with the connection, {@linkcode LAST_BATCH} says
 * whether the batch committed and what it stored.
 */
const INSERT = `WITH input AS (
    SELECT x.*, min(x.n) OVER (PARTITION BY x.clave) AS first
    FROM jsonb_to_recordset($2::text::jsonb) AS x(n int, clave text, cliente text,
      productos jsonb, direccion text, fecha_recibido timestamptz, usuario_id bigint,
      take boolean)
  ), fresh AS (
    SELECT i.n, i.clave, i.cliente, i.productos, i.direccion, i.fecha_recibido, i.usuario_id,
      i.take
    FROM input i
    LEFT JOIN LATERAL (SELECT true AS stored FROM pedidos p WHERE p.clave = i.clave LIMIT 1) e
      ON true
    WHERE i.clave IS NULL OR (i.n = i.first AND e.stored IS NULL)
  ), chosen AS (
    SELECT f.*, nextval('pedidos_id_seq') AS id, nextval('pedidos_cola_seq') AS cola,
      coalesce(f.take, false) AND NOT (SELECT ${CLAIMABLE}) AS taken
    FROM (SELECT * FROM fresh ORDER BY n LIMIT (SELECT ${GRANTED})) f
  ), ins AS (
    INSERT INTO pedidos (id, cola, clave, cliente, productos, direccion, fecha_recibido, usuario_id,
      estado, intentos, fecha_inicio, nodo, lease_hasta)
    SELECT id, cola, clave, cliente, productos, direccion, fecha_recibido, usuario_id,
      CASE WHEN taken THEN 'en proceso' ELSE 'pendiente' END,
      CASE WHEN taken THEN 1 ELSE 0 END,
      CASE WHEN taken THEN fecha_recibido END,
      CASE WHEN taken THEN $3::text END,
      CASE WHEN taken THEN clock_timestamp() + $4::int * interval '1 millisecond' END
    FROM chosen ORDER BY n
    ON CONFLICT (clave) WHERE clave IS NOT NULL DO NOTHING
    RETURNING id
  ), lote AS (
    INSERT INTO pedidos_lotes (nodo, carril, lote, filas, visto)
    SELECT $3::text, $6::smallint, $5::bigint,
      coalesce(jsonb_agg(jsonb_build_array(c.n, c.id, c.taken)), '[]'), clock_timestamp()
    FROM chosen c WHERE c.id IN (SELECT id FROM ins)
    ON CONFLICT (nodo, carril) DO UPDATE
      SET lote = excluded.lote, filas = excluded.filas, visto = excluded.visto
  )
  SELECT n, id, taken, id IN (SELECT id FROM ins) AS stored FROM chosen`;

/** The last batch of new orders of this daemon's (`$1`) lane `$2`, as {@linkcode INSERT} kept it. */
const LAST_BATCH = `SELECT lote, filas FROM pedidos_lotes WHERE nodo = $1 AND carril = $2`;

const BY_CLAVES = `SELECT ${PEDIDO_COLUMNS} FROM pedidos
  WHERE clave = ANY(ARRAY(SELECT jsonb_array_elements_text($1::text::jsonb)))`;

/** The order by id, when `$2` (the owner) is null or placed it. */
const GET_SCOPED = `SELECT ${PEDIDO_COLUMNS} FROM pedidos
  WHERE id = $1 AND ($2::bigint IS NULL OR usuario_id = $2::bigint)`;

const FINISHED = "('listo', 'error', 'cancelado')";

/** Waits for whoever changes the order now, and keeps others from changing it until the commit. */
const LOCK_ORDER = `SELECT 1 FROM pedidos WHERE id = $1 FOR UPDATE`;

/**
 * Each new order's result, from the rows its batch stored (`n`, its place in
 * the batch) and the orders of its claves as stored after it.
 */
function answer(
  ctx: { newWork(): void },
  args: InsertArgs[],
  inserted: { n: number; id: number; taken: boolean }[],
  stored: PedidoRow[],
): CheckedInsert[] {
  // (A hashed lookup of the inserted ids, where a join would compare each row with each.)
  const byN = new Map(inserted.map((row) => [row.n, row]));
  const byClave = new Map<string, Pedido>(stored.map((row) => [row.clave!, toPedido(row)]));
  if (inserted.some((row) => !row.taken)) ctx.newWork();
  return args.map(({ pedido, receivedAt }, n): CheckedInsert => {
    const row = byN.get(n);
    if (row !== undefined) {
      const fresh = newPedido(row.id, pedido, receivedAt);
      if (!row.taken) return { status: "inserted", pedido: fresh };
      const started: Pedido = {
        ...fresh,
        estado: "en proceso",
        intentos: 1,
        fecha_inicio: receivedAt,
      };
      return {
        status: "inserted",
        pedido: started,
        claimed: { id: row.id, attempt: 1, pedido: started, takenOver: false },
      };
    }
    const existing = pedido.clave === null ? undefined : byClave.get(pedido.clave);
    if (existing !== undefined) return { status: "duplicate", pedido: existing };
    return { status: "full" };
  });
}

/**
 * New orders. A write whose clave is stored (before, or by an earlier order
 * of the batch) answers `duplicate` with that order, even when full; a new
 * one that did not fit answers `full`; one taken at its insert answers
 * `inserted` with its attempt (`claimed`).
 */
function insertKind(
  checked: boolean,
  holder: { nodeId: string; leaseMs: number },
): WriteKind<InsertArgs, CheckedInsert> {
  // Each order's row of the INSERT's input, made once: its length sizes the
  // batch (PostgresWriter's maxBatchBytes), and apply joins the rows.
  const rows = new WeakMap<InsertArgs, string>();
  const rowOf = (args: InsertArgs): string => {
    let row = rows.get(args);
    if (row === undefined) {
      const { pedido, receivedAt, owner, take } = args;
      row = JSON.stringify({
        clave: pedido.clave,
        cliente: pedido.cliente,
        productos: pedido.productos,
        direccion: pedido.direccion,
        fecha_recibido: receivedAt,
        usuario_id: owner,
        take: take === true,
      });
      rows.set(args, row);
    }
    return row;
  };
  return {
    name: "insert",
    checked,
    size: (args) => rowOf(args).length,
    async apply(ctx, args) {
      // `n`, the order's place in the batch, first in each row.
      const input = `[${args.map((a, n) => `{"n":${n},${rowOf(a).slice(1)}`).join(",")}]`;
      const claves = [...new Set(args.flatMap((a) => a.pedido.clave ?? []))];
      const inserting = ctx.query<{ n: number; id: number; taken: boolean; stored: boolean }>(
        INSERT,
        [checked, input, holder.nodeId, holder.leaseMs, ctx.batch, checked ? 0 : 1],
      );
      // After the insert, in the same transaction: sees the orders just stored too.
      const reading = claves.length === 0
        ? Promise.resolve([])
        : ctx.query<PedidoRow>(BY_CLAVES, [JSON.stringify(claves)]);
      const [inserted, stored] = await Promise.all([inserting, reading]);
      return answer(ctx, args, inserted.filter((row) => row.stored), stored);
    },
    async recover(ctx, args) {
      const [last] = await ctx.query<{ lote: number | string; filas: [number, number, boolean][] }>(
        LAST_BATCH,
        [holder.nodeId, checked ? 0 : 1],
      );
      if (last === undefined || Number(last.lote) !== ctx.batch) return null;
      const claves = [...new Set(args.flatMap((a) => a.pedido.clave ?? []))];
      const stored = claves.length === 0
        ? []
        : await ctx.query<PedidoRow>(BY_CLAVES, [JSON.stringify(claves)]);
      const inserted = last.filas.map(([n, id, taken]) => ({ n, id, taken }));
      return answer(ctx, args, inserted, stored);
    },
  };
}

/**
 * A fenced update of claimed orders, for every write of its kind in the
 * batch at once: `set` assigns from `v`, each order's row of `$1` (its
 * `columns`, typed as given).
 */
function fenced<A extends { lease: Lease }>(
  name: string,
  nodeId: string,
  columns: Record<string, string>,
  set: string,
  record: (args: A) => Record<string, unknown>,
  after: (ctx: BatchContext, ids: number[]) => void = () => {},
): WriteKind<A, boolean> {
  const sql = fencedUpdate(set, columns);
  return {
    name,
    async apply(ctx, args) {
      const params = fenceParams(args.map((a) => [a.lease, record(a)]), nodeId);
      const rows = await ctx.query<{ id: number; n: number }>(sql, params);
      if (rows.length > 0) after(ctx, rows.map((row) => row.id));
      // By place: of two writes for one order in a batch, only the one applied answers true.
      const applied = new Set(rows.map((row) => row.n));
      return args.map((_, n) => applied.has(n));
    },
  };
}

/**
 * An update of leased orders, fenced ({@linkcode FENCE}): `set` assigns
 * from `v`, each order's row of `$1` (a JSON array of objects with `n`, its
 * place, `id`, `intento` and `columns`, typed as given); `$2` is this daemon,
 * `$3` the ids; answers the ids changed, each with the place of the row
 * applied (`n`). Further parameters from `$4`.
 *
 * The rows are read with `jsonb_to_recordset` and joined by id: half the
 * time of looking each order's values up by id in one JSON object, seven
 * lookups a row (a batch of 1024 attempts' ends: 16 ms against 33 in
 * PostgreSQL 15 here, most of the rest the row versions and their index
 * entries). An order named twice is changed once, by one of its rows that
 * passes the fence (a stale attempt's never does), and only that row's
 * place is answered.
 */
export function fencedUpdate(set: string, columns: Record<string, string> = {}): string {
  const row = Object.entries({ n: "int", id: "bigint", intento: "int", ...columns })
    .map(([column, type]) => `${column} ${type}`).join(", ");
  return `UPDATE pedidos p SET ${set}
    FROM jsonb_to_recordset($1::text::jsonb) AS v(${row})
    WHERE ${FENCE}
    RETURNING p.id, v.n`;
}

/** The first three parameters of a {@linkcode fencedUpdate}: each lease with its values, in order. */
export function fenceParams(
  entries: [Lease, Record<string, unknown>][],
  nodeId: string,
): [string, string, string] {
  const rows = entries.map(([lease, values], n) => ({
    n,
    id: lease.id,
    intento: lease.attempt,
    ...values,
  }));
  const ids = `{${[...new Set(entries.map(([lease]) => lease.id))].join(",")}}`;
  return [JSON.stringify(rows), nodeId, ids];
}

/** One statement per write, all sent at once; `check` reads each write's rows. */
function each<A, R>(
  name: string,
  statement: (args: A) => [text: string, params: unknown[]],
  check: (ctx: BatchContext, args: A, rows: PedidoRow[]) => R | Error,
): WriteKind<A, R> {
  return {
    name,
    async apply(ctx, args) {
      const sent = args.map((a) => ctx.query<PedidoRow>(...statement(a)));
      const rows = await Promise.all(sent);
      return args.map((a, i) => check(ctx, a, rows[i]!));
    },
  };
}

/**
 * The fence: the order's attempt and lease holder. `nodo` is set only while
 * an order is `en proceso` (a claim sets it, every way out clears it), so it
 * stands for the state too; leaving `estado` out keeps the planner on the
 * primary key rather than the partial index of orders `en proceso`, whose
 * dead entries a busy queue keeps many of. The orders are found by their ids
 * (`$3`, an array) in the primary key as well as joined to their rows `v`:
 * whichever way the planner joins them, at any size of the table and with
 * any statistics, it reads only the batch's orders, never the whole index.
 */
const FENCE = `p.id = ANY($3::text::bigint[]) AND p.id = v.id AND p.nodo = $2
      AND p.intentos = v.intento`;

/**
 * The result's JSON text (or null), carried as a string inside a fenced
 * update's `$1` and parsed as `jsonb` there, with its strings made
 * storable: a NUL or a lone surrogate left in it would fail the whole
 * statement, every order of the batch, at every retry. (A processor's
 * results are made so already, and pass through unparsed.)
 */
function resultado(outcome: Outcome): string | null {
  return outcome.resultado === undefined || outcome.resultado === null
    ? null
    : storableJsonText(outcome.resultado);
}

function notFound(verb: string, id: number): Error {
  return new Error(`Cannot ${verb} order ${id}: not found`);
}

/**
 * CANCELAR (and REINTENTAR, with `retry`): the order's row locked, the
 * change, then the order as it is, in one go; what happened is read from
 * the three. The lock comes first so that the change and the read see the
 * same version of the order: each statement reads the database as it is
 * when it starts, and without it an attempt ending elsewhere between the
 * two (`en proceso` when the change looked, `error` when the read did)
 * made a REINTENTAR answer `queue_full` with room to spare. An order the
 * lock did not find was not there for the change either (its insert
 * committed after): `not_found`, whatever the read saw later.
 */
function changeKind(
  name: string,
  change: string,
  params: (a: { id: number; owner: number | null; at?: string }) => unknown[],
  onChanged: (ctx: BatchContext, id: number) => void,
  checked = false,
): WriteKind<{ id: number; owner: number | null; at?: string }, CheckedChange> {
  return {
    name,
    checked,
    async apply(ctx, args) {
      const sent = args.map((a) => [
        ctx.query<PedidoRow>(LOCK_ORDER, [a.id]),
        ctx.query<PedidoRow>(change, params(a)),
        ctx.query<PedidoRow>(GET_SCOPED, [a.id, a.owner]),
      ]);
      const rows = await Promise.all(sent.map((three) => Promise.all(three)));
      return args.map((a, i): CheckedChange => {
        const [locked, changed, current] = rows[i]!;
        if (changed![0] !== undefined) {
          onChanged(ctx, a.id);
          return { status: "changed", pedido: toPedido(changed![0]) };
        }
        const row = current![0];
        // Not there when the lock and the change looked: an order whose insert
        // committed only between them and the read (a cancel for an id not yet
        // answered). The change saw no such order, so neither does its answer:
        // `not_cancellable` with a `pendiente` order would tell a client to stop.
        if (row === undefined || locked!.length === 0) return { status: "not_found" };
        // Still `error` yet not changed: the only reason left is capacity.
        if (checked && row.estado === "error") return { status: "full" };
        return { status: "refused", pedido: toPedido(row) };
      });
    },
  };
}

const RETRY = (checked: boolean) =>
  `UPDATE pedidos SET estado = 'pendiente', fecha_inicio = NULL, fecha_fin = NULL,
    worker = NULL, detalle_error = NULL, resultado = NULL, nodo = NULL, lease_hasta = NULL,
    cola = nextval('pedidos_cola_seq')
  WHERE id = $2 AND ($3::bigint IS NULL OR usuario_id = $3::bigint) AND estado = 'error'
    AND $1::boolean${checked ? ` AND ${ROOM} >= 1` : ""}
  RETURNING ${PEDIDO_COLUMNS}`;

/** Every kind of write of orders, for the daemon `nodeId` (whose leases last `leaseMs`). */
export function orderWrites(nodeId: string, leaseMs: number) {
  return {
    insert: insertKind(false, { nodeId, leaseMs }),
    insertChecked: insertKind(true, { nodeId, leaseMs }),

    attemptStarted: fenced<{ lease: Lease; worker: number; at: string }>(
      "record attempt start",
      nodeId,
      { worker: "int", inicio: "timestamptz" },
      `worker = v.worker, fecha_inicio = v.inicio`,
      (a) => ({ worker: a.worker, inicio: a.at }),
    ),
    attemptFinished: fenced<{ lease: Lease; end: AttemptEnd }>(
      "finish attempt",
      nodeId,
      {
        estado: "text",
        inicio: "timestamptz",
        fin: "timestamptz",
        worker: "int",
        detalle: "text",
        resultado: "text",
        no_corrio: "boolean",
      },
      `estado = v.estado, fecha_inicio = v.inicio, fecha_fin = v.fin, worker = v.worker,
        detalle_error = v.detalle, resultado = v.resultado::jsonb, nodo = NULL, lease_hasta = NULL,
        intentos = p.intentos - CASE WHEN v.no_corrio THEN 1 ELSE 0 END`,
      ({ end }) => ({
        estado: end.outcome.estado,
        inicio: end.startedAt,
        fin: end.outcome.at,
        worker: end.worker,
        no_corrio: end.notRun === true,
        detalle: storableText(end.outcome.estado === "error" ? end.outcome.detalle ?? null : null),
        resultado: resultado(end.outcome),
      }),
      (ctx, ids) => ctx.finished(ids),
    ),
    attemptReleased: fenced<{ lease: Lease; started: boolean; retryInMs: number | null }>(
      "release attempt",
      nodeId,
      { started: "boolean", retry_in_ms: "int" },
      `estado = 'pendiente', intentos = p.intentos - CASE WHEN v.started THEN 0 ELSE 1 END,
        fecha_inicio = NULL, fecha_fin = NULL, worker = NULL, detalle_error = NULL,
        resultado = NULL, nodo = NULL, lease_hasta = NULL,
        no_antes_de = clock_timestamp() + v.retry_in_ms * interval '1 millisecond'`,
      (a) => ({ started: a.started, retry_in_ms: a.retryInMs }),
      (ctx) => ctx.newWork(),
    ),

    markStarted: each<{ id: number; worker: number; at: string }, void>(
      "markStarted",
      ({ id, worker, at }) => [
        `UPDATE pedidos SET estado = 'en proceso', fecha_inicio = $2, worker = $3,
          intentos = intentos + 1, fecha_fin = NULL, detalle_error = NULL
        WHERE id = $1 RETURNING id`,
        [id, at, worker],
      ],
      (_ctx, { id }, rows) => rows.length === 0 ? notFound("start", id) : undefined,
    ),
    markFinished: each<{ id: number; outcome: Outcome; run?: AttemptEnd }, void>(
      "markFinished",
      ({ id, outcome, run }) => {
        const detalle = storableText(outcome.estado === "error" ? outcome.detalle ?? null : null);
        const json = resultado(outcome);
        // With `run`: the whole attempt at once (markRan).
        return [
          `UPDATE pedidos SET estado = $2, fecha_fin = $3, detalle_error = $4,
            resultado = $5::text::jsonb, nodo = NULL, lease_hasta = NULL,
            fecha_inicio = CASE WHEN $6 THEN $7::timestamptz ELSE fecha_inicio END,
            worker = CASE WHEN $6 THEN $8::integer ELSE worker END,
            intentos = intentos + CASE WHEN $6 THEN 1 ELSE 0 END
          WHERE id = $1 RETURNING id`,
          [
            id,
            outcome.estado,
            outcome.at,
            detalle,
            json,
            run !== undefined,
            run?.startedAt ?? null,
            run?.worker ?? null,
          ],
        ];
      },
      (ctx, { id }, rows) => {
        if (rows.length === 0) return notFound("finish", id);
        ctx.finished([id]);
        return undefined;
      },
    ),
    markPending: each<number, void>(
      "markPending",
      (id) => [
        `UPDATE pedidos
        SET estado = 'pendiente', fecha_inicio = NULL, fecha_fin = NULL, worker = NULL,
          detalle_error = NULL, resultado = NULL, nodo = NULL, lease_hasta = NULL
        WHERE id = $1 RETURNING id`,
        [id],
      ],
      (ctx, id, rows) => {
        if (rows.length === 0) return notFound("reset", id);
        ctx.newWork();
        return undefined;
      },
    ),
    cancel: changeKind(
      "cancel",
      `UPDATE pedidos SET estado = 'cancelado', fecha_fin = $3
      WHERE id = $1 AND ($2::bigint IS NULL OR usuario_id = $2::bigint) AND estado = 'pendiente'
      RETURNING ${PEDIDO_COLUMNS}`,
      (a) => [a.id, a.owner, a.at],
      (ctx, id) => ctx.finished([id]),
    ) as WriteKind<{ id: number; owner: number | null; at?: string }, ChangeResult>,
    retry: changeKind(
      "retry",
      RETRY(false),
      (a) => [true, a.id, a.owner],
      (ctx) => ctx.newWork(),
    ),
    retryChecked: changeKind(
      "retry",
      RETRY(true),
      (a) => [true, a.id, a.owner],
      (ctx) => ctx.newWork(),
      true,
    ),
    prune: each<{ before: string; limit: number }, number>(
      "prune",
      ({ before, limit }) => [
        // Those that ended first, through the index of finished orders by their end (a
        // pass with none left reads none); the newest order too: ids come from a sequence,
        // never handed out twice.
        // The outer conditions are checked again on a row changed meanwhile (an order a
        // REINTENTAR made pendiente again, committed while this pass waited for its lock):
        // such an order stays.
        `DELETE FROM pedidos WHERE id = ANY(ARRAY(
          SELECT id FROM pedidos
          WHERE estado IN ${FINISHED} AND fecha_fin < $1
          ORDER BY fecha_fin LIMIT $2))
          AND estado IN ${FINISHED} AND fecha_fin < $1
        RETURNING id`,
        [before, limit],
      ],
      (_ctx, _args, rows) => rows.length,
    ),
  };
}
