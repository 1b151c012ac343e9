/**
 * Opening the connections of a load run, bounded in number and in time;
 * failures are counted, not thrown.
 *
 * @module
 */

import { LoadConnection, type RunContext } from "./load_connection.ts";
import type { LoadSettings } from "./load_settings.ts";

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function connectOne(
  settings: LoadSettings,
  signal: AbortSignal,
): Promise<Deno.TcpConn> {
  let last: unknown = null;
  for (const hostname of settings.hosts) {
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
      return conn;
    } catch (error) {
      if (signal.aborted) throw error;
      last = timeout.signal.aborted
        ? new Error(`no answer within ${settings.connectTimeoutMs} ms`)
        : error;
    } finally {
      clearTimeout(timer);
    }
  }
  const where = settings.hosts.join(", ");
  throw new Error(`Cannot connect to ${where} port ${settings.port}: ${message(last)}`);
}

/**
 * Opens `clientes` connections, at most 128 at once, each to the first of
 * `hosts` that answers within `connectTimeoutMs`; one that fails counts a
 * failed connection (incident `conexion`).
 *
 * @returns One entry per client: its connection, or null when it failed.
 */
export async function connectAll(
  ctx: RunContext,
  signal: AbortSignal,
): Promise<(LoadConnection | null)[]> {
  const { settings, tally } = ctx;
  const result: (LoadConnection | null)[] = new Array(settings.clientes).fill(null);
  let next = 0;
  async function opener(): Promise<void> {
    while (next < settings.clientes && !signal.aborted) {
      const client = next++;
      try {
        const conn = await connectOne(settings, signal);
        result[client] = new LoadConnection(conn, client, ctx);
        tally.conexiones.abiertas++;
      } catch (error) {
        if (signal.aborted) return;
        tally.conexiones.fallidas++;
        tally.incident("conexion", message(error));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(128, settings.clientes) }, opener));
  return result;
}
