/**
 * The bench's report: the machine, the method, the table of medians with
 * the ratios to the echo ceiling and to Redis, the performance targets met
 * or missed, the memory probes, and every raw sample. Pure: no I/O.
 *
 * About 250 lines, over our ~200: it is one Markdown document written top
 * to bottom, and its checks share its table's helpers.
 *
 * @module
 */

import type { Row, Sample } from "./driver.ts";
import type { IdleResult, NonReaderResult } from "./memory.ts";
import { modeChecks, renderModes } from "./report_modes.ts";
import type { ManyWaitsResult } from "./many_waits.ts";
import { renderManyWaits } from "./report_waits.ts";

/** Names of the rows of the report. */
export const TARGET_NAMES = Object.freeze({
  echo: "echo (ceiling)",
  normal: "daemon --sync normal",
  full: "daemon --sync full",
  e2e: "end to end (full, 2 workers)",
  redis: "Redis LPUSH, AOF always",
});

/** Where the bench ran. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number | null;
  os: string;
  deno: string;
  v8: string;
  redis: string | null;
}

/** Everything the report shows. */
export interface BenchResult {
  date: Date;
  machine: Machine;
  quick: boolean;
  rounds: number;
  seconds: number;
  conns: number[];
  /** Median rows: echo, normal, full, e2e, redis (when present), each at every count. */
  rows: Row[];
  /** Median rows of the one-order-per-connection mode, one per target (empty when skipped). */
  perConnection: Row[];
  /** Median rows of the pipelined mode, one per target (empty when skipped). */
  pipelined: Row[];
  samples: Sample[];
  /** Peak sampled RSS per target name, KiB. */
  peakKiB: Record<string, number | null>;
  idle: IdleResult | null;
  nonReader: NonReaderResult | null;
  /** Many waits on one big order; absent or null when skipped. */
  manyWaits?: ManyWaitsResult | null;
  /** Seconds the whole bench took. */
  elapsedS: number;
  /** Why Redis is missing, when it is. */
  redisNote: string | null;
}

/** One performance target of the issue, checked against the measurements. */
export interface Check {
  what: string;
  wanted: string;
  measured: string;
  met: boolean | null;
}

/** The median row of `target` at `conns` in the request/response table. */
export function row(result: BenchResult, target: string, conns: number): Row | undefined {
  return result.rows.find((r) => r.target === target && r.conns === conns);
}

/** `a / b`, or null when either is missing. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a != null && b != null && b > 0 ? a / b : null;
}

/** `value` with `digits` decimals, or `—`. */
export function fixed(value: number | null | undefined, digits: number): string {
  return value == null ? "—" : value.toFixed(digits);
}

function mib(kib: number | null | undefined): string {
  return kib == null ? "—" : (kib / 1024).toFixed(1);
}

/** The performance targets of the issue, from the medians. */
export function checks(result: BenchResult): Check[] {
  const rps = (target: string, conns: number) => row(result, target, conns)?.reqPerS ?? null;
  const list: Check[] = [];
  const compare = (what: string, wanted: number, value: number | null, unit = "×") => {
    list.push({
      what,
      wanted: `≥ ${wanted.toFixed(2)}${unit}`,
      measured: value === null ? "—" : `${value.toFixed(2)}${unit}`,
      met: value === null ? null : value >= wanted,
    });
  };
  const hi = Math.max(...result.conns);
  const mid = result.conns.includes(16) ? 16 : result.conns[Math.floor(result.conns.length / 2)]!;
  const { echo, normal, full, e2e, redis } = TARGET_NAMES;
  compare(`intake --sync full at ${hi} conns vs Redis`, 1.0, ratio(rps(full, hi), rps(redis, hi)));
  compare(
    `intake --sync full at ${mid} conns vs Redis`,
    0.8,
    ratio(rps(full, mid), rps(redis, mid)),
  );
  compare(
    `intake --sync normal at ${hi} conns vs echo`,
    0.6,
    ratio(rps(normal, hi), rps(echo, hi)),
  );
  compare(
    `end to end at ${hi} conns vs intake --sync full`,
    0.5,
    ratio(rps(e2e, hi), rps(full, hi)),
  );
  list.push(...modeChecks(result));
  if (result.idle) {
    const { withKiB, held } = result.idle;
    const bytes = withKiB === null || held === 0 ? null : withKiB * 1024;
    list.push({
      what: `${held.toLocaleString("en")} idle connections, daemon RSS`,
      wanted: result.idle.wanted >= 10_000 ? "≤ 100 MB" : "≤ 100 MB at 10,000 (fewer here)",
      measured: bytes === null ? "—" : `${(bytes / 1e6).toFixed(1)} MB (${mib(withKiB)} MiB)`,
      met: bytes === null ? null : bytes <= 100e6,
    });
  }
  if (result.nonReader) {
    const { stalledKiB, endKiB, stalledAfterS } = result.nonReader;
    const growth = stalledKiB === null || endKiB === null ? null : endKiB - stalledKiB;
    list.push({
      what: "a client that never reads: daemon RSS growth once it is held back",
      wanted: "≤ 8 MiB (flat; GC noise aside)",
      measured: stalledAfterS === null
        ? "never held back"
        : `${growth === null ? "—" : (growth / 1024).toFixed(1)} MiB`,
      met: stalledAfterS === null ? false : growth === null ? null : growth <= 8 * 1024,
    });
  }
  return list;
}

/** The headline ratios in one line, for the README. */
export function headline(result: BenchResult): string {
  return checks(result).filter((c) => !c.what.startsWith("end to end") && !c.what.includes("never"))
    .map((c) => `${c.what}: ${c.measured}`).join("; ");
}

/** The report as Markdown. */
export function renderReport(result: BenchResult): string {
  const { machine, conns } = result;
  const { echo, redis } = TARGET_NAMES;
  const lines: string[] = [];
  lines.push("# Benchmarks", "");
  lines.push(
    `Generated by \`deno task bench${result.quick ? " --quick" : ""}\` on ` +
      `${result.date.toISOString().slice(0, 16).replace("T", " ")} UTC in ` +
      `${result.elapsedS.toFixed(0)} s. Do not edit by hand; rerun the bench.`,
    "",
  );
  lines.push(
    `**Machine:** ${machine.cpu}, ${machine.cores} cores, ` +
      `${
        machine.memoryGiB === null ? "?" : machine.memoryGiB.toFixed(1)
      } GiB RAM, ${machine.os}; ` +
      `Deno ${machine.deno} (V8 ${machine.v8}); ` +
      `Redis ${machine.redis ?? "not installed"}.`,
    "",
  );
  lines.push(
    "**Method.** One load generator (`client/load/`, the code behind `deno task load`) drives " +
      "every target from the bench process: request/response (no pipelining) at " +
      `${conns.join(", ")} connections, then one order per connection (connect, send, read, ` +
      "close) and 32 requests in flight per connection; " +
      `${result.seconds} s per measurement, ` +
      `${result.rounds} rounds; within a round the targets take turns, in a rotated order ` +
      "each round, so a noisy moment hits all alike. Figures are medians over rounds. Every " +
      "target is its own process on 127.0.0.1: the echo ceiling (`client/bench/echo_server.ts`: " +
      "parse the line, answer one line shaped like the daemon's, no workers, no storage), the " +
      "daemon (`--process-ms 0 --max-pedidos 100000000 --workers 2`, a fresh database in a temp " +
      'dir), and Redis (`appendonly yes`, `appendfsync always`, `save ""`) receiving ' +
      "`LPUSH pedidos <the same JSON>`. *End to end* is the `--sync full` daemon's runs with " +
      "`--esperar`: accepted orders divided by the time from the first order sent until the " +
      "last order's `fecha_fin`; its latency is `fecha_fin − fecha_recibido`. RSS is sampled " +
      "with `ps` after each measurement; the peak is the largest sample.",
    "",
  );
  if (result.redisNote) lines.push(`> ${result.redisNote}`, "");

  lines.push("## Throughput", "");
  lines.push("| target | conns | req/s | p50 ms | p99 ms | × echo | × Redis | peak RSS MiB |");
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of result.rows) {
    const e = row(result, echo, r.conns)?.reqPerS;
    const x = row(result, redis, r.conns)?.reqPerS;
    const peakName = r.target === TARGET_NAMES.e2e ? TARGET_NAMES.full : r.target;
    lines.push(
      `| ${r.target} | ${r.conns} | ${fixed(r.reqPerS, 0)} | ${fixed(r.p50, 2)} | ` +
        `${fixed(r.p99, 2)} | ${fixed(ratio(r.reqPerS, e), 2)} | ${
          fixed(ratio(r.reqPerS, x), 2)
        } | ` +
        `${mib(result.peakKiB[peakName])} |` + (r.errors > 0 ? ` ${r.errors} errors` : ""),
    );
  }
  lines.push("");

  lines.push(...renderModes(result));

  lines.push("## Targets", "");
  lines.push("| target | wanted | measured | |");
  lines.push("| --- | --- | --- | --- |");
  for (const c of checks(result)) {
    lines.push(
      `| ${c.what} | ${c.wanted} | ${c.measured} | ${
        c.met === null ? "not measured" : c.met ? "met" : "**missed**"
      } |`,
    );
  }
  lines.push(
    "",
    "Why the daemon sits where it does, with profile figures, and what closing the gap would " +
      "take: [performance.md](performance.md).",
    "",
  );

  lines.push("## Memory", "");
  if (result.idle) {
    const { wanted, held, beforeKiB, withKiB } = result.idle;
    const per = beforeKiB !== null && withKiB !== null && held > 0
      ? ((withKiB - beforeKiB) / held).toFixed(1)
      : "—";
    lines.push(
      `- **Idle connections:** ${held} of ${wanted} held open on a fresh \`--sync full\` daemon: ` +
        `RSS ${mib(beforeKiB)} MiB before, ${mib(withKiB)} MiB with them (${per} KiB each).`,
    );
  }
  if (result.nonReader) {
    const n = result.nonReader;
    const seconds = n.seconds.toFixed(1);
    const held = n.stalledAfterS === null
      ? "its writes were never held back"
      : `TCP backpressure held it after ${n.stalledAfterS.toFixed(2)} s`;
    lines.push(
      `- **A client that never reads:** for ${seconds} s one connection wrote orders without ` +
        `reading a reply: ${(n.writtenBytes / 1024).toFixed(0)} KiB got out and ${held}; the ` +
        `daemon accepted ${n.accepted} of those orders (their replies wait in the kernel's ` +
        `socket buffers). Daemon RSS: ${mib(n.beforeKiB)} MiB before, ${mib(n.stalledKiB)} when ` +
        `held back, ${mib(n.endKiB)} at the end (peak ${mib(n.peakKiB)}).`,
    );
  }
  lines.push("");
  if (result.manyWaits) {
    const command = `deno task bench${result.quick ? " --quick" : ""}`;
    lines.push(...renderManyWaits(result.manyWaits, { date: result.date, command, alone: false }));
  }

  lines.push("## Every sample", "");
  lines.push(
    "Mode: `rr` request/response, `cpo` one order per connection, `p32` 32 in flight per " +
      "connection.",
    "",
  );
  lines.push("| round | mode | target | conns | req/s | p50 ms | p99 ms | e2e/s | RSS MiB |");
  lines.push("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const s of result.samples) {
    lines.push(
      `| ${s.round + 1} | ${s.mode} | ${s.target} | ${s.conns} | ${s.reqPerS.toFixed(0)} | ${
        fixed(s.p50, 2)
      } | ` +
        `${fixed(s.p99, 2)} | ${fixed(s.e2ePerS, 0)} | ${mib(s.rssKiB)} |`,
    );
  }
  lines.push("");
  return lines.join("\n");
}
