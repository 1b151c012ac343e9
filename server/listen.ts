/**
 * Binding the daemon's listeners: every configured host on one port, both
 * address families, with `*` meaning every address.
 *
 * @module
 */

/** Formats a listening address: `127.0.0.1:8888`, `[::1]:8888`. */
export function formatAddr(addr: Deno.NetAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

function bind(hostname: string, port: number): Deno.TcpListener {
  return Deno.listen({ hostname, port, transport: "tcp" });
}

function closeAll(listeners: Deno.TcpListener[]): void {
  for (const listener of listeners) {
    try {
      listener.close();
    } catch {
      // already closed
    }
  }
}

/**
 * `*`: `::` is dual-stack on Linux unless `bindv6only=1`, in which case
 * `0.0.0.0` binds beside it; without IPv6, `0.0.0.0` alone.
 */
function bindWildcard(port: number): Deno.TcpListener[] {
  let v6: Deno.TcpListener;
  try {
    v6 = bind("::", port);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied) {
      throw error;
    }
    return [bind("0.0.0.0", port)]; // no IPv6 on this host
  }
  try {
    return [v6, bind("0.0.0.0", (v6.addr as Deno.NetAddr).port)];
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return [v6]; // dual-stack: `::` serves IPv4 too
    v6.close();
    throw error;
  }
}

function bindOnce(hosts: string[], port: number): Deno.TcpListener[] {
  const listeners: Deno.TcpListener[] = [];
  try {
    for (const host of hosts) {
      const shared = listeners.length > 0 ? (listeners[0]!.addr as Deno.NetAddr).port : port;
      if (host === "*") listeners.push(...bindWildcard(shared));
      else listeners.push(bind(host, shared));
    }
    return listeners;
  } catch (error) {
    closeAll(listeners);
    throw error;
  }
}

/**
 * Listens on every host on one port. With port 0 the first listener picks
 * a free port and the others share it (retried when another program holds
 * that port on one of the other addresses).
 *
 * @throws {Deno.errors.AddrInUse} when the port is taken.
 */
export function listenAll(hosts: readonly string[], port: number): Deno.TcpListener[] {
  const bare = hosts.map((host) => host.replace(/^\[(.*)\]$/, "$1"));
  const unique = bare.includes("*") ? ["*"] : [...new Set(bare)];
  for (let attempt = 1;; attempt++) {
    try {
      return bindOnce(unique, port);
    } catch (error) {
      if (port !== 0 || !(error instanceof Deno.errors.AddrInUse) || attempt >= 20) throw error;
    }
  }
}
