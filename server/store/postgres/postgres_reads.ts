/**
 * The PostgreSQL store's statements that do not go through its writer:
 * reads of orders, accounts and sessions (rare, one statement each), the
 * claim of a batch of orders, lease renewal, and the cluster's counts.
 *
 * @module
 */

import type { Sql } from "postgres";
import type { ListFilter, Pedido } from "../../protocol/messages.ts";
import type { ClaimedOrder, ClaimOptions, ClusterCounts, Lease } from "../shared_queue.ts";
import type { Rol, Sesion, Usuario } from "../store.ts";
import { type Heartbeat, heartbeat } from "./cluster_node.ts";
import { fencedUpdate, fenceParams } from "./order_writes.ts";
import {
  P_COLUMNS,
  PEDIDO_COLUMNS,
  type PedidoRow,
  type SesionRow,
  toPedido,
  toSesion,
  toUsuario,
  USUARIO_KEY,
  type UsuarioRow,
} from "./postgres_rows.ts";

/**
 * Sets a claimed order `en proceso` for a new attempt leased to `$2` for
 * `$3` ms, started at `$4`: the claim's time, taken before its turn on the
 * pool, so never before the order was received (an order inserted while
 * the claim waited for a connection would read as started before it arrived).
 */
const START_ATTEMPT = `estado = 'en proceso', intentos = p.intentos + 1,
  fecha_inicio = greatest($4::timestamptz, p.fecha_recibido),
  fecha_fin = NULL, worker = NULL, detalle_error = NULL, resultado = NULL, no_antes_de = NULL,
  nodo = $2, lease_hasta = clock_timestamp() + $3 * interval '1 millisecond'`;

/**
 * The oldest `pendiente` orders no one else is claiming right now (`SKIP
 * LOCKED`) and not waiting out a retry backoff (`no_antes_de`); the partial
 * index on pending rows keeps finished rows out of the way. The picked ids
 * reach the rows through the primary key (`= ANY(ARRAY(…))`): joined to
 * the table instead (`UPDATE … FROM picked`), a claim of a thousand was
 * planned as a hash of the whole table, read on every claim (42 ms a claim
 * of 1024 beside 80,000 rows, against 15 ms).
 */
const CLAIM = `UPDATE pedidos p SET ${START_ATTEMPT}
  WHERE p.id = ANY(ARRAY(
    SELECT id FROM pedidos
    WHERE estado = 'pendiente' AND (no_antes_de IS NULL OR no_antes_de <= clock_timestamp())
    ORDER BY coalesce(cola, id) LIMIT $1 FOR UPDATE SKIP LOCKED
  ))
  RETURNING ${P_COLUMNS}`;

/**
 * Orders whose lease ran out (their daemon died or stalled): taken over,
 * but for those this daemon still holds (`$5`, a JSON array of ids).
 * (`statement_timestamp()`, being stable, bounds the index of leases; the
 * volatile `clock_timestamp()` would make it read every entry.) Each comes
 * with the start and worker of the attempt cut short (`inicio_antes`,
 * `worker_antes`): an order that may not run again is ended with them, as
 * on SQLite. The few rows taken reach the table through the primary key.
 */
const TAKEOVER = `WITH cut AS (
    SELECT id, fecha_inicio AS inicio_antes, worker AS worker_antes FROM pedidos
    WHERE estado = 'en proceso' AND lease_hasta < statement_timestamp()
      AND id <> ALL(ARRAY(SELECT jsonb_array_elements_text($5::text::jsonb)::bigint))
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
  )
  UPDATE pedidos p SET ${START_ATTEMPT}
  FROM cut WHERE p.id = cut.id
  RETURNING ${P_COLUMNS}, cut.inicio_antes, cut.worker_antes`;

/**
 * Orders of the daemons found dead (`$5`, a JSON array of their ids: their
 * locks free, node_sentinel.ts), taken over before their leases run out,
 * as {@linkcode TAKEOVER} takes those whose lease did.
 */
const TAKEOVER_DEAD = `WITH cut AS (
    SELECT id, fecha_inicio AS inicio_antes, worker AS worker_antes FROM pedidos
    WHERE estado = 'en proceso'
      AND nodo = ANY(ARRAY(SELECT jsonb_array_elements_text($5::text::jsonb)))
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
  )
  UPDATE pedidos p SET ${START_ATTEMPT}
  FROM cut WHERE p.id = cut.id
  RETURNING ${P_COLUMNS}, cut.inicio_antes, cut.worker_antes`;

/**
 * Orders leased to this daemon (`$2`) that it does not hold (`$4`, a JSON
 * array of ids): claimed (or taken at their insert) by a statement whose
 * answer was lost. Their lease is extended for the attempt already
 * counted, which has not run.
 */
const RECOVER =
  `UPDATE pedidos p SET lease_hasta = clock_timestamp() + $3 * interval '1 millisecond'
  WHERE p.id = ANY(ARRAY(
    SELECT id FROM pedidos
    WHERE estado = 'en proceso' AND nodo = $2
      AND id <> ALL(ARRAY(SELECT jsonb_array_elements_text($4::text::jsonb)::bigint))
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
  ))
  RETURNING ${P_COLUMNS}`;

/** Extends leases still held (`$4`: the lease's length, ms). */
const RENEW = fencedUpdate("lease_hasta = clock_timestamp() + $4::int * interval '1 millisecond'");

/** What claims and renewals are made for. */
export interface Holder {
  nodeId: string;
  leaseMs: number;
}

/** Reads and the statements outside the writer. */
export class PostgresReads {
  readonly #pool: () => Sql;

  /** Reads on the pool `pool()` returns at each read. */
  constructor(pool: () => Sql) {
    this.#pool = pool;
  }

  get #sql(): Sql {
    return this.#pool();
  }

  async get(id: number, owner?: number): Promise<Pedido | null> {
    const rows = await this.#sql.unsafe<PedidoRow[]>(
      `SELECT ${PEDIDO_COLUMNS} FROM pedidos
      WHERE id = $1 AND ($2::bigint IS NULL OR usuario_id = $2::bigint)`,
      [id, owner ?? null],
      { prepare: true },
    );
    return rows[0] === undefined ? null : toPedido(rows[0]);
  }

  async findByClave(clave: string): Promise<Pedido | null> {
    const rows = await this.#sql.unsafe<PedidoRow[]>(
      `SELECT ${PEDIDO_COLUMNS} FROM pedidos WHERE clave = $1`,
      [clave],
      { prepare: true },
    );
    return rows[0] === undefined ? null : toPedido(rows[0]);
  }

  async list(filter: ListFilter): Promise<Pedido[]> {
    // No stored cliente holds a NUL (orders with one are refused), and PostgreSQL
    // refuses one in a text parameter: such a filter matches nothing, as on SQLite.
    if (filter.cliente?.includes("\u0000")) return [];
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (condition: string, value: string | number) => {
      params.push(value);
      where.push(condition.replace("?", `$${params.length}`));
    };
    if (filter.estado !== undefined) add("estado = ?", filter.estado);
    if (filter.cliente !== undefined) add("cliente = ?", filter.cliente);
    if (filter.antesDe !== undefined) add("id < ?", filter.antesDe);
    if (filter.usuarioId !== undefined) add("usuario_id = ?", filter.usuarioId);
    params.push(filter.limit);
    // Only constant fragments are joined; every value is a bound parameter.
    const text = `SELECT ${PEDIDO_COLUMNS} FROM pedidos` +
      (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
      ` ORDER BY id DESC LIMIT $${params.length}`;
    const rows = await this.#sql.unsafe<PedidoRow[]>(text, params, { prepare: true });
    return rows.map(toPedido);
  }

  async unfinished(): Promise<Pedido[]> {
    const rows = await this.#sql.unsafe<PedidoRow[]>(
      `SELECT ${PEDIDO_COLUMNS} FROM pedidos
      WHERE estado IN ('pendiente', 'en proceso') ORDER BY coalesce(cola, id)`,
      [],
      { prepare: true },
    );
    return rows.map(toPedido);
  }

  async createUser(usuario: string, hash: string, at: string): Promise<number | null> {
    const rows = await this.#sql<{ id: number }[]>`
      INSERT INTO usuarios (usuario, hash, creado) VALUES (${usuario}, ${hash}, ${at})
      ON CONFLICT DO NOTHING RETURNING id`;
    return rows[0]?.id ?? null;
  }

  async findUser(usuario: string): Promise<Usuario | null> {
    const rows = await this.#sql.unsafe<UsuarioRow[]>(
      `SELECT id, usuario, hash, creado, rol FROM usuarios
      WHERE ${USUARIO_KEY} = ${USUARIO_KEY.replace("usuario", "$1::text")}`,
      [usuario],
      { prepare: true },
    );
    return rows[0] === undefined ? null : toUsuario(rows[0]);
  }

  async setRole(usuario: string, rol: Rol): Promise<boolean> {
    const rows = await this.#sql.unsafe(
      `UPDATE usuarios SET rol = $2
      WHERE ${USUARIO_KEY} = ${USUARIO_KEY.replace("usuario", "$1::text")} RETURNING id`,
      [usuario, rol],
      { prepare: true },
    );
    return rows.length > 0;
  }

  async createSession(tokenHash: string, usuarioId: number, expira: string): Promise<void> {
    await this.#sql`INSERT INTO sesiones (token_hash, usuario_id, expira)
      VALUES (${tokenHash}, ${usuarioId}, ${expira})`;
  }

  async findSession(tokenHash: string, now: string): Promise<Sesion | null> {
    const rows = await this.#sql<SesionRow[]>`
      SELECT s.usuario_id, u.usuario, s.expira, u.rol
      FROM sesiones s JOIN usuarios u ON u.id = s.usuario_id
      WHERE s.token_hash = ${tokenHash} AND s.expira > ${now}`;
    return rows[0] === undefined ? null : toSesion(rows[0]);
  }

  async deleteExpiredSessions(now: string): Promise<number> {
    const rows = await this.#sql`DELETE FROM sesiones WHERE expira <= ${now} RETURNING 1`;
    return rows.length;
  }

  /**
   * Claims orders on `sql`: first those leased here and not held (with
   * `recover`), then those whose lease ran out (with `takeover`) and those
   * of daemons found dead (`dead`, their ids), then the oldest pending
   * ones, up to `limit` in all.
   */
  async claim(
    sql: Sql,
    options: ClaimOptions & Holder & { dead?: readonly string[] },
  ): Promise<ClaimedOrder[]> {
    const { at, nodeId, leaseMs } = options;
    let { limit } = options;
    const params = (n: number) => [n, nodeId, leaseMs, at];
    const holding = JSON.stringify(options.holding ?? []);
    const recovered: PedidoRow[] = options.recover
      ? [
        ...await sql.unsafe<PedidoRow[]>(RECOVER, [limit, nodeId, leaseMs, holding], {
          prepare: true,
        }),
      ]
      : [];
    limit -= recovered.length;
    type CutRow = PedidoRow & { inicio_antes: Date | null; worker_antes: number | null };
    const taken: CutRow[] = options.takeover && limit > 0
      ? [
        ...await sql.unsafe<CutRow[]>(TAKEOVER, [...params(limit), holding], {
          prepare: true,
        }),
      ]
      : [];
    const dead = options.dead ?? [];
    if (dead.length > 0 && taken.length < limit) {
      taken.push(
        ...await sql.unsafe<CutRow[]>(
          TAKEOVER_DEAD,
          [...params(limit - taken.length), JSON.stringify(dead)],
          { prepare: true },
        ),
      );
    }
    const fresh: PedidoRow[] = taken.length < limit
      ? [...await sql.unsafe<PedidoRow[]>(CLAIM, params(limit - taken.length), { prepare: true })]
      : [];
    const order = (row: PedidoRow, takenOver: boolean): ClaimedOrder => ({
      id: row.id,
      pedido: toPedido(row),
      attempt: row.intentos,
      takenOver,
    });
    return [
      ...recovered.map((row): ClaimedOrder => ({ ...order(row, false), recovered: true })),
      ...taken.map((row): ClaimedOrder => ({
        ...order(row, true),
        cutShort: { startedAt: row.inicio_antes?.toISOString() ?? null, worker: row.worker_antes },
      })),
      ...fresh.map((row) => order(row, false)),
    ].sort((a, b) => a.id - b.id);
  }

  /**
   * Renews the leases still held, and the daemon's own heartbeat.
   *
   * @returns The ids renewed, how many other daemons are alive, and the capacity in force.
   */
  async renew(
    sql: Sql,
    leases: Lease[],
    node: Holder & { capacity: number },
  ): Promise<{ kept: number[] } & Heartbeat> {
    const [rows, beat] = await Promise.all([
      leases.length === 0 ? Promise.resolve([]) : sql.unsafe<{ id: number }[]>(RENEW, [
        ...fenceParams(leases.map((lease) => [lease, {}]), node.nodeId),
        node.leaseMs,
      ], {
        prepare: true,
      }),
      heartbeat(sql, node),
    ]);
    return { kept: rows.map((row) => row.id), ...beat };
  }

  async clusterCounts(): Promise<ClusterCounts> {
    const [row] = await this.#sql<
      { capacidad: number | null; pendientes: number; en_proceso: number }[]
    >`SELECT (SELECT capacidad FROM pedidos_cluster WHERE id = 1) AS capacidad,
        (SELECT count(*) FROM pedidos WHERE estado = 'pendiente') AS pendientes,
        (SELECT count(*) FROM pedidos WHERE estado = 'en proceso') AS en_proceso`;
    return {
      capacidad: row?.capacidad ?? 0,
      pendientes: row?.pendientes ?? 0,
      enProceso: row?.en_proceso ?? 0,
    };
  }
}
