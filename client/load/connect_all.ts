/**
 * Opening the connections of a load run, bounded in number and in time;
 * failures are counted, not thrown.
 *
 * @module
 */

import { LoadConnection, type RunContext } from "./load_connection.ts";
import { openSocket } from "./open_socket.ts";
import { errorMessage } from "./error_message.ts";

/**
 * Opens `clientes` connections, at most 128 at once, each to the first of
 * `hosts` that answers within `connectTimeoutMs`; one that fails counts a
 * failed connection (incident `conexion`). A connection opened may move to
 * another host later ({@linkcode LoadConnection}).
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
        const { conn, host } = await openSocket(settings, signal);
        result[client] = new LoadConnection(conn, client, ctx, host);
        tally.conexiones.abiertas++;
      } catch (error) {
        if (signal.aborted) return;
        tally.conexiones.fallidas++;
        tally.incident("conexion", errorMessage(error));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(128, settings.clientes) }, opener));
  return result;
}
