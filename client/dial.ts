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
  const failures: ClientError[] = [];
  for (const hostname of hosts) {
    try {
      return await dial({ ...options, hostname, port });
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      failures.push(error);
    }
  }
  throw anyHostFailure(failures);
}

/**
 * The error for connecting to several hosts, none of which accepted: the
 * one failure, or one naming each address tried.
 */
export function anyHostFailure(failures: ClientError[]): ClientError {
  if (failures.length === 1) return failures[0]!;
  const reasons = failures.map((error) => error.message.replace(/^Cannot connect to /, ""));
  return new ClientError("connect_failed", `Cannot connect to any host: ${reasons.join("; ")}`, {
    cause: failures,
  });
}
