/**
 * A daemon joining the cluster of one database: one capacity for all
 * (§9). The daemons alive are the rows of `pedidos_nodos` seen within their
 * lease; while any is alive, a daemon with another `--max-pedidos` is
 * refused, naming the value in force. When none is, the newcomer's value
 * becomes the one in force (`pedidos_cluster`), which is what every insert
 * counts against.
 *
 * @module
 */

import type { Sql } from "postgres";
import { SCHEMA_LOCK } from "./postgres_schema.ts";

/** Another capacity is in force in the cluster. */
export class ClusterCapacityError extends Error {
  /** The capacity in force. */
  readonly inForce: number;

  /**
   * @param alive The daemons with another capacity seen alive.
   * @param leaseLeftS Seconds until the last of them counts as gone, if it
   * was killed rather than stopped.
   */
  constructor(inForce: number, mine: number, alive = 1, leaseLeftS = 0) {
    const daemons = alive === 1 ? "the daemon" : `the ${alive} daemons`;
    super(
      `the cluster's capacity in force is ${inForce} (--max-pedidos of ${daemons} alive on this database), not ${mine}: start with --max-pedidos ${inForce}, or stop them all first (a daemon killed or cut off, not stopped, counts as alive until its lease runs out: ${leaseLeftS} s more here)`,
    );
    this.name = "ClusterCapacityError";
    this.inForce = inForce;
  }
}

/** Who joins. */
export interface NodeOptions {
  nodeId: string;
  capacity: number;
  leaseMs: number;
  /** The key of the lock it holds while it runs (`node_sentinel.ts`). @default {none} */
  lockKey?: number;
}

/**
 * Registers this daemon, after checking its capacity against the daemons
 * alive, under the schema's advisory lock (so two daemons starting at once
 * with different values cannot both win).
 *
 * A daemon alive with another capacity refuses the newcomer, unless the
 * newcomer's is the one in force: then that daemon is one that was cut off
 * (or paused) past its lease while the value changed, and it stops on its
 * own at its next heartbeat ({@linkcode heartbeat}).
 *
 * @throws {ClusterCapacityError} When another capacity is in force.
 */
export async function registerNode(sql: Sql, node: NodeOptions): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`;
    // Rows of daemons gone for a day are of no use to anyone.
    await tx`DELETE FROM pedidos_nodos WHERE visto < clock_timestamp() - interval '1 day'`;
    await tx`DELETE FROM pedidos_lotes WHERE visto < clock_timestamp() - interval '1 day'`;
    const [row] = await tx<{ capacidad: number }[]>`
      SELECT capacidad FROM pedidos_cluster WHERE id = 1`;
    const inForce = row?.capacidad;
    const [alive] = await tx<{ n: number; left_s: number | null }[]>`
      SELECT count(*)::int AS n,
        ceil(extract(epoch FROM max(visto + lease_ms * interval '1 millisecond')
          - clock_timestamp()))::int AS left_s
      FROM pedidos_nodos
      WHERE visto > clock_timestamp() - lease_ms * interval '1 millisecond'
        AND capacidad <> ${node.capacity}`;
    if ((alive?.n ?? 0) > 0 && inForce !== node.capacity) {
      throw new ClusterCapacityError(
        inForce ?? NaN,
        node.capacity,
        alive!.n,
        alive!.left_s ?? 0,
      );
    }
    await tx`INSERT INTO pedidos_cluster (id, capacidad) VALUES (1, ${node.capacity})
      ON CONFLICT (id) DO UPDATE SET capacidad = EXCLUDED.capacidad`;
    await upsertNode(tx as unknown as Sql, node);
  });
}

/** What a {@linkcode heartbeat} found. */
export interface Heartbeat {
  /** How many other daemons are alive. */
  peers: number;
  /** The capacity in force in the cluster now (null: none recorded). */
  capacity: number | null;
}

/**
 * Says this daemon is alive now (registering it again if its row was
 * cleaned away), and reads the capacity in force: another than this
 * daemon's means a daemon with another `--max-pedidos` joined while this
 * one counted as gone (cut off or paused past its lease), and this one
 * must stop ({@linkcode ClusterCapacityChangedError}).
 */
export async function heartbeat(sql: Sql, node: NodeOptions): Promise<Heartbeat> {
  const [row] = await sql<{ yo: number; otros: number; capacidad: number | null }[]>`
    WITH yo AS (
      UPDATE pedidos_nodos SET visto = clock_timestamp() WHERE id = ${node.nodeId} RETURNING id
    )
    SELECT (SELECT count(*) FROM yo) AS yo,
      (SELECT count(*) FROM pedidos_nodos
        WHERE id <> ${node.nodeId}
          AND visto > clock_timestamp() - lease_ms * interval '1 millisecond') AS otros,
      (SELECT capacidad FROM pedidos_cluster WHERE id = 1) AS capacidad`;
  if ((row?.yo ?? 0) === 0) await upsertNode(sql, node);
  return { peers: Number(row?.otros ?? 0), capacity: row?.capacidad ?? null };
}

/** The capacity in force changed under a running daemon (see {@linkcode heartbeat}). */
export class ClusterCapacityChangedError extends Error {
  /** The capacity in force now. */
  readonly inForce: number;

  constructor(inForce: number, mine: number) {
    super(
      `the cluster's capacity in force is now ${inForce}, not this daemon's ${mine}: a daemon started with --max-pedidos ${inForce} while this one counted as gone (cut off from the database or paused past its lease). This daemon stops; start it again with --max-pedidos ${inForce}`,
    );
    this.name = "ClusterCapacityChangedError";
    this.inForce = inForce;
  }
}

async function upsertNode(sql: Sql, node: NodeOptions): Promise<void> {
  await sql`INSERT INTO pedidos_nodos (id, capacidad, lease_ms, inicio, visto, pid, candado)
    VALUES (${node.nodeId}, ${node.capacity}, ${node.leaseMs}, clock_timestamp(),
      clock_timestamp(), ${Deno.pid}, ${node.lockKey ?? null})
    ON CONFLICT (id) DO UPDATE SET visto = EXCLUDED.visto`;
}
