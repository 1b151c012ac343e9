/**
 * Starting the metrics endpoint (§10) for a daemon: the collector, the HTTP
 * server, and the SQLite writer reporting its batches to them.
 *
 * @module
 */

import type { ServerConfig } from "../config/server_config.ts";
import { V11_DEFAULTS } from "../config/server_config.ts";
import { formatAddr, isMissingFamily } from "../listen.ts";
import type { Logger } from "../log.ts";
import { observesBatches, type Store } from "../store/store.ts";
import { DaemonMetrics } from "./daemon_metrics.ts";
import { MetricsServer, type MetricsServerOptions } from "./metrics_server.ts";

/** A running metrics endpoint and the collector it renders. */
export interface MetricsEndpoint {
  /** The HTTP server; close it to stop. */
  server: MetricsServer;
  /** What it renders; the daemon attaches its sources once it is up. */
  collector: DaemonMetrics;
}

/**
 * Starts the metrics endpoint when `--metrics-port` is set (before the store
 * is opened: a bad address fails the start first; see {@linkcode reportBatches}).
 *
 * @param listen Starts the HTTP server on one address (tests simulate the
 * system's refusals). @default {MetricsServer.start}
 * @returns The endpoint, or null when `--metrics-port` is off.
 * @throws {Deno.errors.AddrInUse} (and the like) when it cannot listen.
 */
export function startMetrics(
  config: Pick<ServerConfig, "metricsPort" | "metricsHost">,
  logger: Logger,
  listen: (options: MetricsServerOptions) => MetricsServer = MetricsServer.start,
): MetricsEndpoint | null {
  const port = config.metricsPort ?? V11_DEFAULTS.metricsPort;
  if (port === null) return null;
  const collector = new DaemonMetrics();
  const hostname = config.metricsHost ?? V11_DEFAULTS.metricsHost;
  let server: MetricsServer;
  const start = (host: string) =>
    listen({
      hostname: host,
      port,
      render: () => collector.render(),
      ready: () => collector.attached,
      logger,
    });
  try {
    if (hostname === V11_DEFAULTS.metricsHost) {
      // The default loopback, on a machine without IPv4: the IPv6 one, as the
      // daemon's own port does with its default hosts (§7).
      try {
        server = start(hostname);
      } catch (error) {
        if (!isMissingFamily(error)) throw error;
        server = start("::1");
        logger.warn("listen.skipped", {
          address: formatAddr({ transport: "tcp", hostname, port: server.addr.port }),
          error: (error as Error).message,
          advice: "this machine lacks IPv4; metrics are on ::1; name --metrics-host to require one",
        });
      }
    } else if (hostname !== "*") {
      server = start(hostname);
    } else {
      // Every address, as `--host *`: `::` (IPv4 too where the system maps
      // it, as Linux does), or 0.0.0.0 on a machine without IPv6.
      try {
        server = start("::");
      } catch (error) {
        if (!isMissingFamily(error)) throw error;
        server = start("0.0.0.0");
      }
    }
  } catch (error) {
    // Say which listener: the daemon's own port may be fine.
    const where = `the metrics endpoint (--metrics-host ${hostname} --metrics-port ${port})`;
    const reason = error instanceof Error ? error.message : String(error);
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Deno.errors.AddrInUse(`${where}: ${reason}`, { cause: error });
    }
    throw new Error(`${where}: ${reason}`, { cause: error });
  }
  logger.info("metrics.listening", { url: `http://${formatAddr(server.addr)}/metrics` });
  return { server, collector };
}

/** Has the store's writer (SQLite's) report its batches to the endpoint. */
export function reportBatches(metrics: MetricsEndpoint, store: Store): void {
  if (observesBatches(store)) {
    store.observeBatches((batch) => metrics.collector.observeWriterBatch(batch));
  }
}
