import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { MetricsServer, type MetricsServerOptions } from "./metrics_server.ts";
import { startMetrics } from "./start_metrics.ts";

/** Listens as the system would on a machine without IPv4 (no 127.0.0.1). */
function withoutIpv4(options: MetricsServerOptions): MetricsServer {
  if (options.hostname === "127.0.0.1") {
    throw new Deno.errors.AddrNotAvailable("Cannot assign requested address (os error 99)");
  }
  return MetricsServer.start(options);
}

Deno.test("on a machine without IPv4 the default metrics host falls back to ::1 and says so", async () => {
  const lines: string[] = [];
  const logger = new Logger({ write: (line) => lines.push(line) });
  const endpoint = startMetrics({ metricsPort: 0 }, logger, withoutIpv4);
  assert.ok(endpoint !== null);
  await using _server = endpoint.server;
  assert.equal(endpoint.server.addr.hostname, "::1");
  const port = endpoint.server.addr.port;
  const skipped = lines.find((line) => / WARN listen\.skipped /.test(line));
  assert.match(skipped ?? lines.join("\n"), new RegExp(`address=127\\.0\\.0\\.1:${port} `));
  assert.match(
    lines.join("\n"),
    new RegExp(` metrics\\.listening url=http://\\[::1\\]:${port}/metrics`),
  );
});

Deno.test("a metrics host the operator named must be bound: no fallback, the start fails naming it", () => {
  const logger = new Logger({ write: () => {} });
  const bind = (options: MetricsServerOptions) => {
    throw new Deno.errors.AddrNotAvailable(`Cannot assign requested address (${options.hostname})`);
  };
  assert.throws(
    () => startMetrics({ metricsPort: 9464, metricsHost: "10.1.2.3" }, logger, bind),
    /^Error: the metrics endpoint \(--metrics-host 10\.1\.2\.3 --metrics-port 9464\): Cannot assign/,
  );
});
