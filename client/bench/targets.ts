/**
 * The bench's targets, each a process of its own started on a free
 * loopback port and stopped after: the echo ceiling, the daemon, and Redis.
 *
 * @module
 */

import { type LoadProtocol, PEDIDOS_PROTOCOL } from "../load/mod.ts";
import { PedidosClient } from "../client.ts";
import { redisLpushProtocol } from "./redis_protocol.ts";
import { ServiceProcess } from "./service_process.ts";

/** The repository root. */
export const ROOT: string = new URL("../../", import.meta.url).pathname;

/**
 * `deno run` of the checkout `root`'s `main.ts` with the daemon's least
 * permissions, its files in `dir`: what follows is `main.ts`'s arguments.
 * With `postgres`, no files to write and the driver's `PG*` variables.
 */
export function runMain(root: string, dir: string, options: { postgres?: boolean } = {}): string[] {
  return [
    "run",
    "--frozen",
    `--config=${root}deno.json`,
    "--allow-net=127.0.0.1",
    `--allow-read=${root},${dir}`,
    ...(options.postgres ? ["--allow-env=PEDIDOS_*,NO_COLOR,PG*"] : [
      `--allow-write=${dir}`,
      "--allow-env=PEDIDOS_*,NO_COLOR",
    ]),
    `${root}main.ts`,
  ];
}

/** Something the load generator can drive. */
export interface Target extends AsyncDisposable {
  /** For the report, e.g. `daemon --sync full`. */
  readonly name: string;
  readonly port: number;
  /** The wire the load generator speaks to it. */
  readonly protocol: LoadProtocol;
  /** The process, for its memory. */
  readonly process: ServiceProcess;
  /** Waits until work accepted earlier is done (a daemon's backlog), so rounds do not overlap. */
  settle(): Promise<void>;
}

const decoder = new TextDecoder();

function portFromReadyLine(output: string): number | null {
  const match = /listening on \S*?:(\d+)/.exec(output);
  return match ? Number(match[1]) : null;
}

function simpleTarget(
  name: string,
  process: ServiceProcess,
  port: number,
  protocol: LoadProtocol,
  settle: () => Promise<void> = () => Promise.resolve(),
): Target {
  return {
    name,
    port,
    protocol,
    process,
    settle,
    async [Symbol.asyncDispose]() {
      await process.stop();
    },
  };
}

/** Starts the echo ceiling (`echo_server.ts`) as its own Deno process. */
export async function startEcho(): Promise<Target> {
  const process = await ServiceProcess.spawn("echo", Deno.execPath(), [
    "run",
    "--allow-net=127.0.0.1",
    `${ROOT}client/bench/echo_server.ts`,
    "--port",
    "0",
  ], { ready: (out) => portFromReadyLine(out) !== null });
  return simpleTarget(
    "echo (ceiling)",
    process,
    portFromReadyLine(process.output)!,
    PEDIDOS_PROTOCOL,
  );
}

/** Options of {@linkcode startDaemon}. */
export interface DaemonOptions {
  /** Where its database goes (a temp dir, removed by the caller). */
  dir: string;
  sync: "full" | "normal";
  /** @default {2} */
  workers?: number;
  /** @default {1024} */
  maxConnections?: number;
  /** Capacity. @default {100000000: intake is never refused} */
  maxPedidos?: number;
  /** `--process-ms`: how long each order holds a worker. @default {0} */
  processMs?: number;
  /** The report's name. @default {`daemon --sync ${sync}`} */
  name?: string;
  /** The checkout whose `main.ts` runs (for before/after comparisons). @default {ROOT} */
  root?: string;
}

/** Waits until the daemon has nothing pending or in process (bounded). */
async function settleDaemon(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port });
  while (Date.now() < deadline) {
    const reply = await client.call("STATS");
    if (!reply.ok || reply.stats.pendientes + reply.stats.en_proceso === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts `main.ts server` on 127.0.0.1, port 0, intake-ready: capacity
 * effectively unlimited (unless given), `--process-ms 0` (unless given), logs at `warn`.
 */
export async function startDaemon(options: DaemonOptions): Promise<Target> {
  const { dir, sync, workers = 2, maxConnections = 1024, maxPedidos = 100_000_000 } = options;
  const { processMs = 0 } = options;
  const root = options.root ?? ROOT;
  const process = await ServiceProcess.spawn(`daemon ${sync}`, Deno.execPath(), [
    ...runMain(root, dir),
    "server",
    "--host=127.0.0.1",
    "--port=0",
    `--db=${dir}/pedidos.db`,
    `--sync=${sync}`,
    `--workers=${workers}`,
    `--max-pedidos=${maxPedidos}`,
    `--process-ms=${processMs}`,
    `--max-connections=${maxConnections}`,
    "--idle-timeout-ms=3600000",
    "--drain-timeout-ms=2000",
    "--log=warn",
  ], { cwd: dir, ready: (out) => portFromReadyLine(out) !== null });
  const port = portFromReadyLine(process.output)!;
  return simpleTarget(
    options.name ?? `daemon --sync ${sync}`,
    process,
    port,
    PEDIDOS_PROTOCOL,
    () => settleDaemon(port),
  );
}

/** The version of `redis-server`, or null when it is not installed (or not allowed). */
export async function redisVersion(): Promise<string | null> {
  try {
    const { stdout, success } = await new Deno.Command("redis-server", {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!success) return null;
    return /v=(\S+)/.exec(decoder.decode(stdout))?.[1] ?? "?";
  } catch {
    return null;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function redisAnswersPing(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | null = null;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    return n !== null && decoder.decode(buffer.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    try {
      conn?.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Starts a private `redis-server` on a free 127.0.0.1 port with a durable
 * ack: `appendonly yes`, `appendfsync always`, no RDB snapshots, files in `dir`.
 */
export async function startRedis(dir: string): Promise<Target> {
  const port = freePort();
  const process = await ServiceProcess.spawn("redis", "redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--dir",
    dir,
    "--daemonize",
    "no",
  ], { cwd: dir, ready: () => redisAnswersPing(port) });
  return simpleTarget("Redis LPUSH, AOF always", process, port, redisLpushProtocol());
}
