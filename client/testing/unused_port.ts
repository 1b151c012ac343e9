/**
 * A port to fail to connect to, for tests.
 *
 * @module
 */

/**
 * A loopback port nobody listens on (it was free a moment ago).
 *
 * @example Usage
 * ```ts ignore
 * await assert.rejects(PedidosClient.connect({ hostname: "127.0.0.1", port: unusedPort() }));
 * ```
 */
export function unusedPort(hostname = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
