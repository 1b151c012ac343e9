/**
 * The PostgreSQL schema (§9) and its migrations: the columns of §5 in
 * PostgreSQL types (`id` bigint, dates `timestamptz`, `productos` `jsonb`,
 * `resultado` `jsonb`), accounts, and what the cluster needs: the lease of
 * an order `en proceso` (`nodo`, `lease_hasta`), the capacity in force
 * (`pedidos_cluster`) and the daemons alive (`pedidos_nodos`).
 *
 * The version is kept in `pedidos_esquema`. {@linkcode migrate} runs in one
 * transaction under an advisory lock, so several daemons starting at once
 * wait for each other and the second finds the work done.
 *
 * @module
 */

import type { Sql } from "postgres";
import type { Logger } from "../../log.ts";

/** The advisory lock key of migrations and of the capacity check at start. */
export const SCHEMA_LOCK = 0x70656469; // "pedi"

/** The advisory lock key taken by every transaction that adds unfinished orders. */
export const CAPACITY_LOCK = 0x63617061; // "capa"

/**
 * How many more unfinished orders the cluster has room for now: its
 * capacity, less the orders unfinished. Exact only under
 * {@linkcode CAPACITY_LOCK}, held until the commit.
 */
export const ROOM = `greatest(0, (SELECT capacidad FROM pedidos_cluster WHERE id = 1)
    - (SELECT coalesce(sum(n), 0) FROM pedidos_sin_terminar))`;

/**
 * The DDL of each version: `MIGRATIONS[0]` makes version 1. Append new
 * versions; never edit a released one.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE usuarios (
    id      bigserial PRIMARY KEY,
    usuario text NOT NULL,
    hash    text NOT NULL,
    creado  timestamptz NOT NULL,
    rol     text NOT NULL DEFAULT 'usuario' CHECK (rol IN ('usuario', 'operador'))
  );
  -- Names are one account ignoring ASCII case, as SQLite's NOCASE.
  CREATE UNIQUE INDEX usuarios_usuario ON usuarios
    (translate(usuario, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));
  CREATE TABLE sesiones (
    token_hash text PRIMARY KEY,
    usuario_id bigint NOT NULL REFERENCES usuarios (id),
    expira     timestamptz NOT NULL
  );
  CREATE INDEX sesiones_usuario_id ON sesiones (usuario_id);
  CREATE TABLE pedidos (
    id             bigserial PRIMARY KEY,
    clave          text,
    cliente        text NOT NULL,
    productos      jsonb NOT NULL,
    direccion      text NOT NULL,
    estado         text NOT NULL DEFAULT 'pendiente'
                   CHECK (estado IN ('pendiente', 'en proceso', 'listo', 'error', 'cancelado')),
    fecha_recibido timestamptz NOT NULL,
    fecha_inicio   timestamptz,
    fecha_fin      timestamptz,
    worker         integer,
    intentos       integer NOT NULL DEFAULT 0,
    detalle_error  text,
    resultado      jsonb,
    usuario_id     bigint REFERENCES usuarios (id),
    -- The lease of an order en proceso: which daemon holds it, until when.
    nodo           text,
    lease_hasta    timestamptz
  );
  -- A queue table: vacuumed often, so that the dead entries its updates leave
  -- in the partial indexes below are cleared soon.
  ALTER TABLE pedidos SET (autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_insert_scale_factor = 0.05);
  -- Idempotency keys, unique; orders without one are not in this index, so
  -- their every change costs one index entry less.
  CREATE UNIQUE INDEX pedidos_clave ON pedidos (clave) WHERE clave IS NOT NULL;
  -- The queue: only pending rows, so finished ones cost the claim nothing.
  CREATE INDEX pedidos_pendientes ON pedidos (id) WHERE estado = 'pendiente';
  -- Leases, for takeover and for counting what is unfinished.
  CREATE INDEX pedidos_en_proceso ON pedidos (lease_hasta) WHERE estado = 'en proceso';
  CREATE INDEX pedidos_cliente_id ON pedidos (cliente, id);
  CREATE INDEX pedidos_usuario_id ON pedidos (usuario_id, id) WHERE usuario_id IS NOT NULL;
  -- How many orders are unfinished (pendiente or en proceso): the sum of the
  -- rows, kept by the triggers below in the same transaction as every change,
  -- so that the capacity check reads 16 rows instead of counting the queue. A
  -- transaction adds to the row of its backend (pid % 16): daemons do not wait
  -- for each other's commits on one row.
  CREATE TABLE pedidos_sin_terminar (
    parte integer PRIMARY KEY,
    n     bigint NOT NULL
  );
  INSERT INTO pedidos_sin_terminar SELECT g, 0 FROM generate_series(0, 15) AS g;
  -- (plpgsql, whose statements keep their plans for the session.)
  CREATE FUNCTION pedidos_contar_insert() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE d bigint;
  BEGIN
    SELECT count(*) INTO d FROM nuevas WHERE estado IN ('pendiente', 'en proceso');
    IF d <> 0 THEN
      UPDATE pedidos_sin_terminar SET n = n + d WHERE parte = pg_backend_pid() % 16;
    END IF;
    RETURN NULL;
  END $$;
  CREATE FUNCTION pedidos_contar_update() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE d bigint;
  BEGIN
    SELECT (SELECT count(*) FROM nuevas WHERE estado IN ('pendiente', 'en proceso'))
      - (SELECT count(*) FROM viejas WHERE estado IN ('pendiente', 'en proceso')) INTO d;
    IF d <> 0 THEN
      UPDATE pedidos_sin_terminar SET n = n + d WHERE parte = pg_backend_pid() % 16;
    END IF;
    RETURN NULL;
  END $$;
  CREATE FUNCTION pedidos_contar_delete() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE d bigint;
  BEGIN
    SELECT count(*) INTO d FROM viejas WHERE estado IN ('pendiente', 'en proceso');
    IF d <> 0 THEN
      UPDATE pedidos_sin_terminar SET n = n - d WHERE parte = pg_backend_pid() % 16;
    END IF;
    RETURN NULL;
  END $$;
  CREATE TRIGGER pedidos_contar_insert AFTER INSERT ON pedidos
    REFERENCING NEW TABLE AS nuevas FOR EACH STATEMENT EXECUTE FUNCTION pedidos_contar_insert();
  CREATE TRIGGER pedidos_contar_update AFTER UPDATE ON pedidos
    REFERENCING OLD TABLE AS viejas NEW TABLE AS nuevas
    FOR EACH STATEMENT EXECUTE FUNCTION pedidos_contar_update();
  CREATE TRIGGER pedidos_contar_delete AFTER DELETE ON pedidos
    REFERENCING OLD TABLE AS viejas FOR EACH STATEMENT EXECUTE FUNCTION pedidos_contar_delete();
  -- The capacity in force (--max-pedidos of the daemons alive), one row.
  CREATE TABLE pedidos_cluster (
    id        integer PRIMARY KEY CHECK (id = 1),
    capacidad integer NOT NULL CHECK (capacidad >= 1)
  );
  -- The daemons: each start registers one and says it is alive while it runs.
  -- It is alive while visto is less than lease_ms old.
  CREATE TABLE pedidos_nodos (
    id        text PRIMARY KEY,
    capacidad integer NOT NULL,
    lease_ms  integer NOT NULL,
    inicio    timestamptz NOT NULL,
    visto     timestamptz NOT NULL,
    pid       integer NOT NULL
  );`,
  // 2: a failed attempt's retry backoff (§11): a pendiente order is not
  // claimed before no_antes_de.
  `ALTER TABLE pedidos ADD COLUMN no_antes_de timestamptz;`,
  // 3: a processor's result kept as the JSON it is (json, not jsonb): jsonb
  // refuses \u0000 in a string, and an unpaired surrogate escape, which
  // JSON.stringify writes and SQLite keeps.
  `ALTER TABLE pedidos ALTER COLUMN resultado TYPE json USING resultado::json;`,
  // 4: back to jsonb, as §9 has it: results are now stored with U+FFFD for a
  // NUL or a lone surrogate. One stored before that jsonb cannot hold is kept
  // as a JSON string of its text.
  `CREATE FUNCTION pg_temp.pedidos_resultado_jsonb(r json) RETURNS jsonb LANGUAGE plpgsql AS $$
  BEGIN
    RETURN r::jsonb;
  EXCEPTION WHEN untranslatable_character OR invalid_text_representation
    OR invalid_parameter_value THEN
    RETURN to_jsonb(r::text);
  END $$;
  ALTER TABLE pedidos ALTER COLUMN resultado TYPE jsonb
    USING pg_temp.pedidos_resultado_jsonb(resultado);`,
  // 5: the queue's order apart from the id: a REINTENTAR puts the order back
  // at the end of the queue (§2.9), not at its id's place. Each new order
  // takes the next place (the column's default: also the inserts of a daemon
  // of version 4 still running during an upgrade); one stored before has
  // none, and its id is its place (the sequence starts past every id).
  `CREATE SEQUENCE pedidos_cola_seq;
  SELECT setval('pedidos_cola_seq', coalesce((SELECT max(id) FROM pedidos), 0) + 1, false);
  ALTER TABLE pedidos ADD COLUMN cola bigint;
  ALTER TABLE pedidos ALTER COLUMN cola SET DEFAULT nextval('pedidos_cola_seq');
  DROP INDEX pedidos_pendientes;
  CREATE INDEX pedidos_pendientes ON pedidos ((coalesce(cola, id))) WHERE estado = 'pendiente';`,
  // 6: reads that went through every order kept. LISTAR of the orders in
  // error or cancelled, newest first: rare among the finished ones, they were
  // found by reading the primary key backwards (only rows in those states are
  // in their index, so orders that end `listo` add no entry to it). And
  // retention: a pass with nothing old enough left read every order to find
  // none, each minute, on the writer's lane of attempt ends; finished orders
  // by the time they ended, as on SQLite.
  `CREATE INDEX pedidos_fallidos ON pedidos (id) WHERE estado IN ('error', 'cancelado');
  CREATE INDEX pedidos_fin ON pedidos (fecha_fin) WHERE estado IN ('listo', 'error', 'cancelado');`,
  // 7: what the last batch of new orders of each daemon's writer lane stored,
  // written in that batch's transaction: when the connection breaks after its
  // COMMIT was sent, the daemon reads here whether it committed, and which
  // orders it stored (order_writes.ts, lost_commit.ts). One row per lane,
  // overwritten by each batch (HOT updates: no index changes); a daemon's rows
  // go with it, or a day after it was last seen.
  `CREATE TABLE pedidos_lotes (
    nodo   text NOT NULL,
    carril smallint NOT NULL,
    lote   bigint NOT NULL,
    filas  jsonb NOT NULL,
    visto  timestamptz NOT NULL,
    PRIMARY KEY (nodo, carril)
  ) WITH (fillfactor = 50);`,
  // 8: `TRUNCATE pedidos` (an operator emptying the table with psql) fires no
  // row-change trigger, and left the count of unfinished orders as it was:
  // every new order was refused with queue_full for good, restarts or not,
  // while STATS, which counts the rows, said every slot was free. The count
  // now goes to 0 with it. A count already off is set right: the trigger's
  // creation locks out every write of pedidos until this transaction commits,
  // so the rows counted are the rows there are.
  `CREATE FUNCTION pedidos_contar_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    UPDATE pedidos_sin_terminar SET n = 0 WHERE n <> 0;
    RETURN NULL;
  END $$;
  CREATE TRIGGER pedidos_contar_truncate AFTER TRUNCATE ON pedidos
    FOR EACH STATEMENT EXECUTE FUNCTION pedidos_contar_truncate();
  UPDATE pedidos_sin_terminar SET n = CASE WHEN parte = 0
    THEN (SELECT count(*) FROM pedidos WHERE estado IN ('pendiente', 'en proceso')) ELSE 0 END;`,
  // 9: the daemons hear of a TRUNCATE (channel `pedidos_vaciado`), so that
  // each checks the leases of the orders it holds at once: until its next
  // renewal (a third of the lease), a daemon running orders the TRUNCATE
  // took away kept their slots of its local gate, and refused new orders
  // with queue_full while STATS said every slot was free.
  `CREATE OR REPLACE FUNCTION pedidos_contar_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    UPDATE pedidos_sin_terminar SET n = 0 WHERE n <> 0;
    PERFORM pg_notify('pedidos_vaciado', '');
    RETURN NULL;
  END $$;`,
  // 10: the key of each daemon's session advisory lock (node_sentinel.ts),
  // held while it runs: a daemon whose lock is free died, and its orders are
  // taken over without waiting out their leases. NULL: a daemon that holds
  // none (an older version), never found dead early.
  `ALTER TABLE pedidos_nodos ADD COLUMN candado integer;`,
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * Refuses a database whose encoding cannot hold every order: one made with
 * `-E LATIN1` (say) would fail the insert of a name in Greek or an emoji,
 * answered `internal`, long after the start. UTF8 holds all of Unicode;
 * SQL_ASCII stores the bytes it is given, which are UTF-8 here.
 *
 * @param sql A connection pool.
 * @throws {Error} Naming the encoding and how to make a database that fits.
 */
export async function checkEncoding(sql: Sql): Promise<void> {
  const [row] = await sql<{ encoding: string }[]>`
    SELECT pg_encoding_to_char(encoding) AS encoding FROM pg_database
    WHERE datname = current_database()`;
  const encoding = row?.encoding ?? "UTF8";
  if (encoding !== "UTF8" && encoding !== "SQL_ASCII") {
    throw new Error(
      `the database's encoding is ${encoding}, which cannot hold every order (names in any script, emoji): pedidos needs UTF8; create one with CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0 (createdb -E UTF8 -T template0)`,
    );
  }
}

/** Options of {@linkcode migrate}. */
export interface MigrateOptions {
  /** Where an upgrade of an older schema is logged (`store.migrated`, info). @default {none} */
  logger?: Logger;
  /** The database as shown in that line (a URL without its password). @default {none} */
  db?: string;
}

/**
 * Creates or upgrades the schema, in one transaction under
 * {@linkcode SCHEMA_LOCK}. Idempotent. An upgrade of an older schema (not the
 * creation of a new one) is logged once committed, with `from` and `to`.
 *
 * @param sql A connection pool.
 * @param options Where to log an upgrade.
 * @returns The schema version after migrating.
 * @throws {Error} When the database's version is newer than this code knows.
 */
export async function migrate(sql: Sql, options: MigrateOptions = {}): Promise<number> {
  let from = SCHEMA_VERSION;
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS pedidos_esquema (version integer NOT NULL)`;
    const rows = await tx<{ version: number }[]>`SELECT version FROM pedidos_esquema`;
    const current = rows[0]?.version ?? 0;
    from = current;
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `Cannot migrate database: its schema version ${current} is newer than version ${SCHEMA_VERSION} known to this program`,
      );
    }
    for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
      await tx.unsafe(MIGRATIONS[version - 1]!);
    }
    if (rows.length === 0) {
      await tx`INSERT INTO pedidos_esquema (version) VALUES (${SCHEMA_VERSION})`;
    } else if (current < SCHEMA_VERSION) {
      await tx`UPDATE pedidos_esquema SET version = ${SCHEMA_VERSION}`;
    }
  });
  // Another daemon may have done it first (then `from` is already the latest).
  if (from > 0 && from < SCHEMA_VERSION) {
    options.logger?.info("store.migrated", { db: options.db, from, to: SCHEMA_VERSION });
  }
  return SCHEMA_VERSION;
}
