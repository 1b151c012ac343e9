/**
 * Opening one socket of a load run to the first of some of its hosts that
 * accepts it within `connectTimeoutMs`. Used by `connect_all.ts` and by a
 * connection that moves to another host (`load_connection.ts`).
 *
 * @module
 */

import type { LoadSettings } from "./load_settings.ts";
import { errorMessage } from "./error_message.ts";

/** A socket opened, and the place of its host in the settings' `hosts`. */
export interface OpenedSocket {
  conn: Deno.TcpConn;
  host: number;
}

/**
 * Tries the hosts of `settings` at the places `order`, in that order; the
 * first that accepts wins.
 *
 * @throws {Error} Naming the hosts tried when none accepts; the signal's
 *   reason (or the connect error) when `signal` aborted.
 */
export async function openSocket(
  settings: LoadSettings,
  signal: AbortSignal,
  order: readonly number[] = [...settings.hosts.keys()],
): Promise<OpenedSocket> {
  let last: unknown = null;
  for (const host of order) {
    const hostname = settings.hosts[host]!;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), settings.connectTimeoutMs);
    try {
      const conn = await Deno.connect({
        hostname,
        port: settings.port,
        signal: AbortSignal.any([signal, timeout.signal]),
      });
      try {
        conn.setNoDelay(true);
      } catch {
        // not fatal
      }
      return { conn, host };
    } catch (error) {
      if (signal.aborted) throw error;
      last = timeout.signal.aborted
        ? new Error(`no answer within ${settings.connectTimeoutMs} ms`)
        : error;
    } finally {
      clearTimeout(timer);
    }
  }
  const where = order.map((host) => settings.hosts[host]).join(", ");
  throw new Error(`Cannot connect to ${where} port ${settings.port}: ${errorMessage(last)}`);
}
