/**
 * Binding the daemon's listeners: every configured host on one port, both
 * address families, with `*` meaning every address.
 *
 * Hosts may overlap: `127.0.0.1,localhost` name one address, `0.0.0.0`
 * takes every IPv4 address, and `::` every IPv6 address and, where it is
 * dual-stack (Linux by default), every IPv4 address too. The kernel refuses
 * a second listener on an address one of ours already covers, so each host
 * is first resolved to the address it binds, wildcards are bound first, and
 * an address a wildcard (or an earlier host) of ours covers is not bound
 * again: the daemon listens on the union. A port held by another program
 * still fails with `AddrInUse`.
 *
 * @module
 */

import type { Logger } from "./log.ts";

/** Formats a listening address: `127.0.0.1:8888`, `[::1]:8888`. */
export function formatAddr(addr: Deno.NetAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** An address not bound because one bound before it covers it. */
export interface Covered {
  /** The host as configured, e.g. `localhost`. */
  host: string;
  /** The address bound before it that covers it, e.g. `::`. */
  by: string;
}

/** What {@linkcode planListeners} decides: the addresses to bind, in order, and the rest. */
export interface ListenPlan {
  /** Addresses to bind, wildcards first. */
  bind: string[];
  /** Hosts left out, each with the address that covers it. */
  covered: Covered[];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function isIpv6(address: string): boolean {
  return address.includes(":");
}

/**
 * An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as the IPv4 address it
 * names: a dual-stack socket bound on it takes that address's connections,
 * so the two cannot both be bound on one port. Any other address as it is.
 */
function unmapped(address: string): string {
  return address.replace(/^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i, "$1");
}

/** Whether a listener on `by` takes the connections to `address` (same port). */
function covers(mappedBy: string, mappedAddress: string, dualStack: boolean): boolean {
  const by = unmapped(mappedBy);
  const address = unmapped(mappedAddress);
  if (by === address) return true;
  if (by === "0.0.0.0") return IPV4.test(address);
  if (by === "::") return isIpv6(address) || (dualStack && IPV4.test(address));
  return false;
}

/**
 * Decides which addresses to bind for hosts already resolved to the address
 * each one binds. Pure.
 *
 * @example Usage
 * ```ts
 * import { planListeners } from "./listen.ts";
 * const plan = planListeners(
 *   [{ host: "0.0.0.0", address: "0.0.0.0" }, { host: "::", address: "::" }],
 *   { dualStack: true },
 * );
 * console.log(plan.bind, plan.covered); // ["::"] [{ host: "0.0.0.0", by: "::" }]
 * ```
 * @param hosts Each configured host and the address it resolves to (or the
 * host itself when it could not be resolved: it is then only matched as is).
 * @param options Whether `::` takes IPv4 connections too.
 * @returns `::` first, then `0.0.0.0`, then the others in their order; an
 * address covered by one before it is left out.
 */
export function planListeners(
  hosts: readonly { host: string; address: string }[],
  options: { dualStack: boolean },
): ListenPlan {
  const rank = (address: string) => address === "::" ? 0 : unmapped(address) === "0.0.0.0" ? 1 : 2;
  const ordered = [...hosts].sort((a, b) => rank(a.address) - rank(b.address)); // stable
  const plan: ListenPlan = { bind: [], covered: [] };
  for (const { host, address } of ordered) {
    const by = plan.bind.find((bound) => covers(bound, address, options.dualStack));
    if (by === undefined) plan.bind.push(address);
    else plan.covered.push({ host, by });
  }
  return plan;
}

/** Binds one address: `Deno.listen`, or a test's stand-in ({@linkcode ListenOptions.bind}). */
type Bind = (hostname: string, port: number) => Deno.TcpListener;

function listenTcp(hostname: string, port: number): Deno.TcpListener {
  return Deno.listen({ hostname, port, transport: "tcp" });
}

/**
 * `bind`, with an error that names the address: one taken (`AddrInUse`), one
 * this machine does not have (`AddrNotAvailable`), a port below 1024 without
 * the privilege (`PermissionDenied`), a host name that does not resolve, …;
 * of the same class as the system's.
 */
function bindNamed(bind: Bind, hostname: string, port: number): Deno.TcpListener {
  try {
    return bind(hostname, port);
  } catch (error) {
    // Port 0's AddrInUse is retried (listenAll), and Deno's own refusal
    // (`NotCapable`, no --allow-net for it) already names the address. The
    // system's refusal (`PermissionDenied`: a port below 1024) does not.
    if (!(error instanceof Error) || error instanceof Deno.errors.NotCapable) throw error;
    if (error instanceof Deno.errors.AddrInUse && port === 0) throw error;
    const where = formatAddr({ transport: "tcp", hostname, port });
    const Named = error.constructor as new (message: string, options: ErrorOptions) => Error;
    throw new Named(`Cannot listen on ${where}: ${error.message}`, { cause: error });
  }
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
 * The address `host` binds, as the system resolves it (`localhost` →
 * `127.0.0.1`, `0:0::1` → `::1`): learnt by binding it on a free port for
 * a moment. The host itself when that fails (the real bind will say why).
 */
function resolveAddress(bind: Bind, host: string): string {
  try {
    const probe = bind(host, 0);
    const { hostname } = probe.addr as Deno.NetAddr;
    probe.close();
    return hostname;
  } catch {
    return host;
  }
}

/**
 * Whether `::` takes IPv4 connections too: then `ipv4` cannot be bound on a
 * port `::` holds. Tried on a free port, not the daemon's.
 */
function isDualStack(bind: Bind, ipv4: string): boolean {
  let v6: Deno.TcpListener;
  try {
    v6 = bind("::", 0);
  } catch {
    return false; // no IPv6 here; binding `::` will say so
  }
  try {
    bind(ipv4, (v6.addr as Deno.NetAddr).port).close();
    return false;
  } catch (error) {
    return error instanceof Deno.errors.AddrInUse;
  } finally {
    v6.close();
  }
}

/**
 * `*`: `::` is dual-stack on Linux unless `bindv6only=1`, in which case
 * `0.0.0.0` binds beside it; without IPv6, `0.0.0.0` alone.
 */
function bindWildcard(bind: Bind, port: number): Deno.TcpListener[] {
  let v6: Deno.TcpListener;
  try {
    v6 = bindNamed(bind, "::", port);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied) {
      throw error;
    }
    return [bindNamed(bind, "0.0.0.0", port)]; // no IPv6 on this host
  }
  try {
    return [v6, bind("0.0.0.0", (v6.addr as Deno.NetAddr).port)];
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return [v6]; // dual-stack: `::` serves IPv4 too
    v6.close();
    throw error;
  }
}

/**
 * Whether `error` says this machine has no such address family: IPv6
 * turned off (`::1` is then `AddrNotAvailable`), or no IPv4 or IPv6 stack at
 * all (EAFNOSUPPORT, os error 97).
 */
export function isMissingFamily(error: unknown): boolean {
  if (error instanceof Deno.errors.AddrNotAvailable) return true;
  return error instanceof Error &&
    /\(os error 97\)|address family not supported/i.test(error.message);
}

/** The default hosts, one per family: either may be left out where its family is missing. */
const LOOPBACKS = ["127.0.0.1", "::1"];

/** An address left out because this machine lacks its family, and why. */
interface Skipped {
  address: string;
  error: Error;
}

function bindOnce(
  bind: Bind,
  addresses: string[],
  port: number,
  skipMissingFamily: boolean,
): { listeners: Deno.TcpListener[]; skipped: Skipped[] } {
  const listeners: Deno.TcpListener[] = [];
  const skipped: Skipped[] = [];
  try {
    for (const address of addresses) {
      const shared = listeners.length > 0 ? (listeners[0]!.addr as Deno.NetAddr).port : port;
      try {
        if (address === "*") listeners.push(...bindWildcard(bind, shared));
        else listeners.push(bindNamed(bind, address, shared));
      } catch (error) {
        if (!skipMissingFamily || !LOOPBACKS.includes(address) || !isMissingFamily(error)) {
          throw error;
        }
        skipped.push({ address, error: error as Error });
      }
    }
    // Neither family: nothing to serve on, the first failure says why.
    if (listeners.length === 0 && skipped.length > 0) throw skipped[0]!.error;
    return { listeners, skipped };
  } catch (error) {
    closeAll(listeners);
    throw error;
  }
}

/** Options of {@linkcode listenAll}. */
export interface ListenOptions {
  /**
   * Where a host left out as covered is logged (`listen.covered`, info), and
   * a default host skipped (`listen.skipped`, warn). @default {none}
   */
  logger?: Logger;
  /**
   * Whether `hosts` is the default list (`127.0.0.1,::1`), not one the
   * operator named: then a loopback of an address family this machine does
   * not have (IPv6 turned off) is skipped with a warning, as long as the
   * other is bound, rather than stopping the start. A host the operator
   * named must be bound, or the start fails.
   *
   * @default {false}
   */
  defaultHosts?: boolean;
  /** Binds one address (tests simulate the system's refusals). @default {Deno.listen} */
  bind?: (hostname: string, port: number) => Deno.TcpListener;
}

/** The plan for `hosts`: `*` alone, or each host resolved and the overlaps left out. */
function planHosts(bind: Bind, hosts: readonly string[]): ListenPlan {
  const bare = hosts.map((host) => host.replace(/^\[(.*)\]$/, "$1"));
  if (bare.includes("*")) return { bind: ["*"], covered: [] }; // every address already

  const resolved = [...new Set(bare)].map((host) => ({
    host,
    address: resolveAddress(bind, host),
  }));
  const addresses = resolved.map(({ address }) => address);
  const ipv4 = addresses.find((address) => IPV4.test(unmapped(address)));
  const dualStack = addresses.includes("::") && ipv4 !== undefined && isDualStack(bind, ipv4);
  return planListeners(resolved, { dualStack });
}

/**
 * Listens on every host on one port. With port 0 the first listener picks
 * a free port and the others share it (retried when another program holds
 * that port on one of the other addresses). Hosts that overlap are bound
 * once (see the module's documentation).
 *
 * @param hosts The configured hosts; `*` means every address.
 * @param port The port; 0 picks a free one.
 * @param options Where to log the hosts left out, and whether `hosts` is the default list.
 * @returns One listener per address bound, in the order bound.
 * @throws {Deno.errors.AddrInUse} when another program holds the port on
 * one of the addresses; the message names it, as every failure to bind does
 * (`Cannot listen on 127.0.0.1:80: Permission denied ...`).
 */
export function listenAll(
  hosts: readonly string[],
  port: number,
  options: ListenOptions = {},
): Deno.TcpListener[] {
  const bind = options.bind ?? listenTcp;
  const plan = planHosts(bind, hosts);
  for (let attempt = 1;; attempt++) {
    try {
      const { listeners, skipped } = bindOnce(bind, plan.bind, port, options.defaultHosts ?? false);
      const shared = (listeners[0]!.addr as Deno.NetAddr).port;
      for (const { address, error } of skipped) {
        options.logger?.warn("listen.skipped", {
          address: formatAddr({ transport: "tcp", hostname: address, port: shared }),
          error: error.message,
          advice: "this machine lacks its address family; name --host to require it",
        });
      }
      for (const { host, by } of plan.covered) {
        options.logger?.info("listen.covered", {
          host,
          by: formatAddr({ transport: "tcp", hostname: by, port: shared }),
        });
      }
      return listeners;
    } catch (error) {
      if (port !== 0 || !(error instanceof Deno.errors.AddrInUse) || attempt >= 20) throw error;
    }
  }
}
