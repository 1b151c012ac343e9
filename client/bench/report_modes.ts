/**
 * The report's tables beyond request/response throughput: the latency of
 * one durable ack at one connection, the one-order-per-connection mode (the
 * seeds' own client pattern) and the pipelined mode, with the performance
 * targets they are checked against. Pure: no I/O.
 *
 * @module
 */

import { type BenchResult, type Check, fixed, ratio, row, TARGET_NAMES } from "./report.ts";
import type { Row } from "./driver.ts";

function modeRow(rows: Row[], target: string): Row | undefined {
  return rows.find((r) => r.target === target);
}

/** The targets of the issue that these modes measure. */
export function modeChecks(result: BenchResult): Check[] {
  const { full, redis } = TARGET_NAMES;
  const list: Check[] = [];
  if (result.perConnection.length > 0) {
    const clients = result.perConnection[0]!.conns;
    const value = ratio(
      modeRow(result.perConnection, full)?.reqPerS,
      modeRow(result.perConnection, redis)?.reqPerS,
    );
    list.push({
      what: `one order per connection, ${clients} clients, --sync full vs Redis`,
      wanted: "≥ 1.00×",
      measured: value === null ? "—" : `${value.toFixed(2)}×`,
      met: value === null ? null : value >= 1,
    });
  }
  if (result.conns.includes(1)) {
    const value = ratio(row(result, full, 1)?.p50, row(result, redis, 1)?.p50);
    list.push({
      what: "p50 latency of one durable ack, one connection, --sync full vs Redis",
      wanted: "≤ 1.20×",
      measured: value === null ? "—" : `${value.toFixed(2)}×`,
      met: value === null ? null : value <= 1.2,
    });
  }
  return list;
}

/** The Markdown sections of the other modes (empty when they were skipped). */
export function renderModes(result: BenchResult): string[] {
  const { echo, redis } = TARGET_NAMES;
  const lines: string[] = [];
  if (result.conns.includes(1)) {
    const redisP50 = row(result, redis, 1)?.p50;
    lines.push("## Latency at one connection", "");
    lines.push(
      "One client, request/response: from writing a request to reading its reply (for the " +
        "daemon with `--sync full` and for Redis, a durable acknowledgement).",
      "",
    );
    lines.push("| target | req/s | p50 ms | p99 ms | p50 × Redis |");
    lines.push("| --- | ---: | ---: | ---: | ---: |");
    for (const r of result.rows.filter((r) => r.conns === 1 && r.target !== TARGET_NAMES.e2e)) {
      lines.push(
        `| ${r.target} | ${fixed(r.reqPerS, 0)} | ${fixed(r.p50, 2)} | ${fixed(r.p99, 2)} | ` +
          `${fixed(ratio(r.p50, redisP50), 2)} |`,
      );
    }
    lines.push("");
  }
  const table = (title: string, intro: string, rows: Row[], unit: string) => {
    if (rows.length === 0) return;
    const e = modeRow(rows, echo)?.reqPerS;
    const x = modeRow(rows, redis)?.reqPerS;
    lines.push(`## ${title}`, "", intro, "");
    lines.push(`| target | conns | ${unit} | p50 ms | p99 ms | × echo | × Redis |`);
    lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const r of rows) {
      lines.push(
        `| ${r.target} | ${r.conns} | ${fixed(r.reqPerS, 0)} | ${fixed(r.p50, 2)} | ` +
          `${fixed(r.p99, 2)} | ${fixed(ratio(r.reqPerS, e), 2)} | ${
            fixed(ratio(r.reqPerS, x), 2)
          } |` +
          (r.errors > 0 ? ` ${r.errors} errors` : ""),
      );
    }
    lines.push("");
  };
  table(
    "One order per connection",
    "The seeds' own client pattern: each of `conns` loops connects, sends one order, reads its " +
      "reply and closes, then starts over. Latency is from `connect` to the reply.",
    result.perConnection,
    "orders/s",
  );
  table(
    "Pipelined (32 in flight per connection)",
    "Each connection keeps 32 requests in flight (`deno task load --pipeline 32`); Redis gets " +
      "the same depth.",
    result.pipelined,
    "req/s",
  );
  return lines;
}

/**
 * The report followed by every section of `previous` written by another
 * bench between `<!-- NAME:start -->` and `<!-- NAME:end -->` markers (e.g.
 * `deno task bench:pg`'s), so that rerunning this bench keeps them; a
 * section the report has itself (e.g. `many-waits`) is its own, not kept.
 */
export function keepMarkedSections(report: string, previous: string): string {
  const blocks = (previous.match(/<!-- ([\w-]+):start -->[\s\S]*?<!-- \1:end -->\n?/g) ?? [])
    .filter((block) => !report.includes(block.slice(0, block.indexOf("-->") + 3)));
  if (blocks.length === 0) return report;
  return `${report.trimEnd()}\n\n${blocks.map((block) => block.trimEnd()).join("\n\n")}\n`;
}
