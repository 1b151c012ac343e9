/**
 * Helpers for the cluster tests (§9): several real daemons (`main.ts
 * server` subprocesses) on one fresh PostgreSQL database, their logs read
 * as they come, and one-off requests to any of them.
 *
 * @module
 */

import { freshDatabase, type TestDatabase } from "./postgres_util.ts";
import { rawConnect, ROOT, serverPermissions, tempDir } from "./test_util.ts";

/** A daemon subprocess on the cluster's database. */
export interface ClusterDaemon extends AsyncDisposable {
  /** `A`, `B`, `C`… */
  readonly name: string;
  /** The port it listens on (127.0.0.1 and ::1). */
  readonly port: number;
  readonly pid: number;
  /** Everything it wrote to stderr (its log) and stdout so far. */
  output(): string;
  /** Waits until a line of its output matches `pattern`; returns the line. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal (ignored when it is gone). */
  kill(signal?: Deno.Signal): void;
  /** Resolves with its exit status once it has exited. */
  readonly exited: Promise<number>;
}

/** Options of {@linkcode spawnDaemon}. */
export interface SpawnOptions {
  /** Wait for the ready line. @default true */
  ready?: boolean;
  /** @default 20000 */
  timeoutMs?: number;
}

const decoder = new TextDecoder();

/**
 * Starts `main.ts server --port 0 --db <url> ...args` in `dir`, reading its
 * output as it comes, and (by default) waits for its ready line.
 */
export async function spawnDaemon(
  name: string,
  dir: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<ClusterDaemon> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...serverPermissions(dir), `${ROOT}main.ts`, "server", "--port", "0", ...args],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let text = "";
  const listeners = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      for (const listener of listeners) listener();
    }
  };
  const pumping = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const exited = child.status.then(async (status) => {
    await pumping;
    for (const listener of listeners) listener();
    return status.code;
  });
  let gone = false;
  exited.then(() => gone = true);

  function waitForLine(pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = text.split("\n").find((l) => pattern.test(l));
        if (line !== undefined) return done(() => resolve(line));
        if (gone) done(() => reject(new Error(`${name} exited before ${pattern}:\n${text}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`${name}: timed out waiting for ${pattern}:\n${text}`))),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });
  }

  const kill = (signal: Deno.Signal = "SIGTERM") => {
    if (gone) return;
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  };
  const daemon = {
    name,
    pid: child.pid,
    port: 0,
    output: () => text,
    waitForLine,
    kill,
    exited,
    async [Symbol.asyncDispose]() {
      kill("SIGCONT");
      kill("SIGKILL");
      await exited;
    },
  };
  if (options.ready ?? true) {
    try {
      const line = await waitForLine(/^listening on /, options.timeoutMs);
      daemon.port = Number(/:(\d+)(?:\s|$)/.exec(line)![1]);
    } catch (error) {
      await daemon[Symbol.asyncDispose]();
      throw error;
    }
  }
  return daemon;
}

/** A JSON request over a fresh connection; its reply. */
export async function ask(
  port: number,
  request: Record<string, unknown>,
  timeoutMs = 10_000,
  // deno-lint-ignore no-explicit-any -- tests read any field of any reply
): Promise<any> {
  await using conn = await rawConnect(port);
  await conn.write(JSON.stringify(request) + "\n");
  return await conn.readLine(timeoutMs);
}

/** A new order with `clave`, for requests. */
export function order(clave?: string): Record<string, unknown> {
  return {
    cliente: "Ana",
    productos: ["pan"],
    direccion: "Calle 1",
    ...(clave === undefined ? {} : { clave }),
  };
}

/** Several daemons on one fresh database. */
export interface Cluster extends AsyncDisposable {
  db: TestDatabase;
  dir: string;
  daemons: ClusterDaemon[];
  /** Starts one more daemon (or a replacement) with the cluster's arguments plus `extra`. */
  start(name: string, extra?: string[], options?: SpawnOptions): Promise<ClusterDaemon>;
}

/**
 * Starts `n` daemons named A, B, C… with `--db <fresh database> ...args`.
 * Disposing it kills every daemon started through it and drops the database.
 */
export async function startCluster(n: number, args: string[]): Promise<Cluster> {
  const db = await freshDatabase();
  const dir = await tempDir();
  const all: ClusterDaemon[] = [];
  const cluster: Cluster = {
    db,
    dir: dir.path,
    daemons: [],
    async start(name, extra = [], options = {}) {
      const daemon = await spawnDaemon(
        name,
        dir.path,
        ["--db", db.url, ...args, ...extra],
        options,
      );
      all.push(daemon);
      return daemon;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(all.map((daemon) => daemon[Symbol.asyncDispose]()));
      await db[Symbol.asyncDispose]();
      await dir[Symbol.asyncDispose]();
    },
  };
  try {
    // One after the other would be slower; all at once also shows migrations are safe together.
    const names = Array.from({ length: n }, (_, i) => String.fromCharCode(65 + i));
    cluster.daemons = await Promise.all(names.map((name) => cluster.start(name)));
  } catch (error) {
    await cluster[Symbol.asyncDispose]();
    throw error;
  }
  return cluster;
}

/** A row of `pedidos`, as the cluster tests look at it. */
export interface PgRow {
  id: number;
  clave: string | null;
  estado: string;
  intentos: number;
  worker: number | null;
  fecha_inicio: Date | null;
  fecha_fin: Date | null;
  detalle_error: string | null;
}

/** Every order in the database, by id. */
export async function readPgRows(db: TestDatabase): Promise<PgRow[]> {
  const rows = await db.sql<PgRow[]>`SELECT id::int AS id, clave, estado, intentos, worker,
    fecha_inicio, fecha_fin, detalle_error FROM pedidos ORDER BY id`;
  return [...rows];
}
