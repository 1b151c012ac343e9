/**
 * The PostgreSQL targets of the bench, each on a fresh database of the
 * local PostgreSQL: N daemons on one database (`--db postgres://…`), and
 * the plain one-row-per-commit ceiling (`plain_insert_server.ts`).
 *
 * @module
 */

import postgres from "postgres";
import { ServiceProcess } from "./service_process.ts";
import { ROOT, runMain } from "./targets.ts";

/** The server the bench creates its databases on: `PEDIDOS_BENCH_PG`, else the local one. */
export const PG_ADMIN_URL: string =
  (Deno.permissions.querySync({ name: "env", variable: "PEDIDOS_BENCH_PG" }).state === "granted"
    ? Deno.env.get("PEDIDOS_BENCH_PG")
    : undefined) ?? "postgres://postgres@127.0.0.1:5432/postgres";

function admin(): postgres.Sql {
  return postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 });
}

/** The version of the PostgreSQL server, or null when it cannot be reached. */
export async function postgresVersion(): Promise<string | null> {
  const sql = admin();
  try {
    const [row] = await sql`SHOW server_version`;
    return String(row?.server_version ?? "?");
  } catch {
    return null;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** A new database; its URL. Drop it with {@linkcode dropDatabase}. */
export async function createDatabase(name: string): Promise<string> {
  const sql = admin();
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await sql.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await sql.end({ timeout: 1 });
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.href;
}

/** Drops a database made by {@linkcode createDatabase}. */
export async function dropDatabase(name: string): Promise<void> {
  const sql = admin();
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

function portOf(output: string): number | null {
  const match = /listening on \S*?:(\d+)/.exec(output);
  return match ? Number(match[1]) : null;
}

/** Several processes a load is spread over (one for the ceiling, N daemons). */
export interface MultiTarget extends AsyncDisposable {
  readonly name: string;
  readonly ports: number[];
  readonly processes: ServiceProcess[];
  /** Whether its orders are processed as they come (so a measurement may wait for them). */
  readonly processesOrders: boolean;
  /** Its PostgreSQL database, when it has one. */
  readonly url?: string;
}

/** What a daemon target does with the orders it takes. */
export type DaemonMode =
  /** Processed at once (`--process-ms 0`): intake and processing share the machine. */
  | "end to end"
  /**
   * Taken in and left waiting (`--process-ms 60000`: the workers hold one
   * order each for a minute): what intake alone costs, the commits.
   */
  | "intake";

function daemonArgs(db: string, mode: DaemonMode, workers: number): string[] {
  return [
    "server",
    "--host=127.0.0.1",
    "--port=0",
    `--db=${db}`,
    `--workers=${workers}`,
    "--max-pedidos=100000000",
    `--process-ms=${mode === "intake" ? 60_000 : 0}`,
    "--max-connections=1024",
    "--idle-timeout-ms=3600000",
    "--drain-timeout-ms=500",
    "--log=warn",
  ];
}

/**
 * Starts `count` daemons on a fresh database `db`: a capacity never reached,
 * 2 workers each, logs at `warn`, orders processed per `mode`.
 */
export async function startPgDaemons(
  db: string,
  count: number,
  mode: DaemonMode = "end to end",
): Promise<MultiTarget> {
  const url = await createDatabase(db);
  const processes: ServiceProcess[] = [];
  const dir = await Deno.makeTempDir({ prefix: "pedidos-bench-pg-" });
  const cleanUp = async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await dropDatabase(db);
    await Deno.remove(dir, { recursive: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      // One after the other: the first creates the schema.
      processes.push(
        await ServiceProcess.spawn(`daemon ${db} #${i + 1}`, Deno.execPath(), [
          ...runMain(ROOT, dir, { postgres: true }),
          ...daemonArgs(url, mode, 2),
        ], { cwd: dir, ready: (out) => portOf(out) !== null }),
      );
    }
  } catch (error) {
    await cleanUp();
    throw error;
  }
  return {
    name: `PostgreSQL, ${count} daemon${count === 1 ? "" : "s"}, ${mode}`,
    ports: processes.map((p) => portOf(p.output)!),
    processes,
    processesOrders: mode === "end to end",
    url,
    [Symbol.asyncDispose]: cleanUp,
  };
}

/** Starts our SQLite daemon (`--sync full`) in a fresh directory, orders processed per `mode`. */
export async function startSqliteDaemon(mode: DaemonMode): Promise<MultiTarget> {
  const dir = await Deno.makeTempDir({ prefix: "pedidos-bench-sqlite-" });
  let process: ServiceProcess;
  try {
    process = await ServiceProcess.spawn(`SQLite daemon ${mode}`, Deno.execPath(), [
      ...runMain(ROOT, dir),
      ...daemonArgs(`${dir}/pedidos.db`, mode, 2),
      "--sync=full",
    ], { cwd: dir, ready: (out) => portOf(out) !== null });
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  return {
    name: `SQLite daemon --sync full, ${mode}`,
    ports: [portOf(process.output)!],
    processes: [process],
    processesOrders: mode === "end to end",
    async [Symbol.asyncDispose]() {
      await process.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Starts the plain one-row-per-commit ceiling on a fresh database `db`. */
export async function startPlainInsert(db: string): Promise<MultiTarget> {
  const url = await createDatabase(db);
  let process: ServiceProcess;
  try {
    process = await ServiceProcess.spawn("plain insert", Deno.execPath(), [
      "run",
      "--frozen",
      `--config=${ROOT}deno.json`,
      "--allow-net=127.0.0.1",
      "--allow-env",
      `${ROOT}client/bench/plain_insert_server.ts`,
      "--db",
      url,
      "--port",
      "0",
    ], { ready: (out) => portOf(out) !== null });
  } catch (error) {
    await dropDatabase(db);
    throw error;
  }
  return {
    name: "plain INSERT per order (autocommit)",
    ports: [portOf(process.output)!],
    processes: [process],
    processesOrders: false,
    async [Symbol.asyncDispose]() {
      await process.stop();
      await dropDatabase(db);
    },
  };
}
