/**
 * Opening the TCP connection to a daemon, with a timeout and errors that
 * name the address.
 *
 * @module
 */

import { ClientError } from "./client_error.ts";
import { formatAddress } from "./format_address.ts";

/** Options of {@linkcode dial}. */
export interface DialOptions {
  /** The daemon's host. @default {"localhost"} */
  hostname?: string;
  /** The daemon's port. @default {8888} */
  port?: number;
  /** Aborts connecting; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Gives up connecting after this long, with a `timeout` error. @default {5000} */
  connectTimeoutMs?: number;
}

/**
 * Connects to one daemon.
 *
 * @example Usage
 * ```ts ignore
 * using conn = await dial({ hostname: "127.0.0.1", port: 8888 });
 * ```
 * @throws {ClientError} `connect_failed` (refused, unknown host, …) or `timeout`.
 */
export async function dial(options: DialOptions = {}): Promise<Deno.TcpConn> {
  const { hostname = "localhost", port = 8888, signal, connectTimeoutMs = 5000 } = options;
  signal?.throwIfAborted();
  const address = formatAddress(hostname, port);
  const timeout = AbortSignal.timeout(connectTimeoutMs);
  try {
    return await Deno.connect({
      hostname,
      port,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (timeout.aborted) {
      throw new ClientError(
        "timeout",
        `Cannot connect to ${address}: no answer within ${connectTimeoutMs} ms`,
        { cause: error },
      );
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new ClientError("connect_failed", `Cannot connect to ${address}: ${reason}`, {
      cause: error,
    });
  }
}

/**
 * Tries each host in order; the first that connects wins.
 *
 * @throws {RangeError} When `hosts` is empty.
 * @throws {ClientError} `connect_failed` naming every address tried, when none connects.
 */
export async function dialAny(
  hosts: string[],
  port: number,
  options: Omit<DialOptions, "hostname" | "port"> = {},
): Promise<Deno.TcpConn> {
  if (hosts.length === 0) throw new RangeError("Cannot connect: no hosts given");
  return (await firstToConnect(hosts, (hostname) => dial({ ...options, hostname, port }))).value;
}

/**
 * Calls `connect` with each of `hosts` in order until one succeeds; a
 * failure other than a {@linkcode ClientError} (an abort) ends the tries.
 *
 * @returns What it connected, and the place of its host in `hosts`.
 * @throws {ClientError} The one failure, or `connect_failed` naming every address tried.
 */
export async function firstToConnect<T>(
  hosts: readonly string[],
  connect: (host: string) => Promise<T>,
): Promise<{ value: T; index: number }> {
  const failures: ClientError[] = [];
  for (const [index, host] of hosts.entries()) {
    try {
      return { value: await connect(host), index };
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      failures.push(error);
    }
  }
  if (failures.length === 1) throw failures[0];
  const reasons = failures.map((error) => error.message.replace(/^Cannot connect to /, ""));
  throw new ClientError("connect_failed", `Cannot connect to any host: ${reasons.join("; ")}`, {
    cause: failures,
  });
}
