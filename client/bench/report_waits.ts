/**
 * The report's section on many `ESTADO esperar` waits on one big order
 * (`probeManyWaits()`), between `<!-- many-waits:start -->` and
 * `<!-- many-waits:end -->` markers so that `deno task bench --only waits`
 * can rewrite it alone. Pure: no I/O.
 *
 * @module
 */

import type { ManyWaitsResult, WaitsRun } from "./many_waits.ts";

/** The name in the section's markers. */
export const MANY_WAITS_MARK = "many-waits";

function mib(kib: number | null): string {
  return kib === null ? "—" : (kib / 1024).toFixed(1);
}

/** RSS over `baselineKiB` per answered wait, KiB; null when unknown. */
export function perWaitKiB(run: WaitsRun, peakKiB: number | null): number | null {
  if (peakKiB === null || run.baselineKiB === null || run.timedOut === 0) return null;
  return (peakKiB - run.baselineKiB) / run.timedOut;
}

function runRow(what: string, run: WaitsRun, waits: number): string {
  const per = (kib: number | null) => perWaitKiB(run, kib)?.toFixed(1) ?? "—";
  const answered = run.otherReplies > 0
    ? `${run.timedOut} (${run.otherReplies} other replies)`
    : String(run.timedOut);
  const after = run.answeredAfterS === null ? "—" : run.answeredAfterS.toFixed(1);
  return `| ${what} | ${answered} of ${waits} | ${mib(run.baselineKiB)} | ` +
    `${mib(run.waitingPeakKiB)} | ${mib(run.timeoutPeakKiB)} | ${per(run.waitingPeakKiB)} | ` +
    `${per(run.timeoutPeakKiB)} | ${after} |`;
}

/** How {@linkcode renderManyWaits} says where its figures come from. */
export interface SectionSource {
  /** When the probe ran. */
  date: Date;
  /** The bench's command line that ran it, e.g. `deno task bench --only waits`. */
  command: string;
  /** Whether it ran alone, apart from the rest of the report. */
  alone: boolean;
}

/** The section, markers included. */
export function renderManyWaits(result: ManyWaitsResult, source: SectionSource): string[] {
  const r = result;
  const lines = [`<!-- ${MANY_WAITS_MARK}:start -->`, "## Many waits on one order", ""];
  lines.push(
    `Measured by \`${source.command}\` on ` +
      `${source.date.toISOString().slice(0, 16).replace("T", " ")} UTC in ${
        r.seconds.toFixed(0)
      } s` +
      (source.alone ? ", apart from the rest of this page." : "."),
    "",
  );
  lines.push(
    "**Method.** A fresh `--sync full` daemon per run, `--workers 1 --process-ms 600000`: a " +
      "first order of one item holds the only worker, so a second, big one stays `pendiente`: " +
      `${r.products} products whose names are ${r.nameChars} emoji each, a request of ` +
      `${r.orderBytes} bytes (the default \`--max-request-bytes\` is 65536). Then ` +
      `${r.connections} connections pipeline ${r.waits} ` +
      `\`{"op":"ESTADO","id":…,"esperar":true,"timeout_ms":${r.timeoutMs}}\` on it, at most ` +
      `${r.perConnection} each (under \`--max-waiters-per-connection\`, 128; ${r.waits} is the ` +
      "default `--max-waiters`). The daemon's RSS is sampled with `ps` every 250 ms (a spike " +
      "between two samples is missed); *before* is the lowest of four samples over a second " +
      "with the orders placed and the connections open, just before the waits are sent; " +
      "*waiting* is the highest sample until the first answer (or `timeout_ms`), *at the " +
      "timeouts* the highest after it, until the last answer is read — or, when the clients do " +
      `not read, until ${r.notReadingS} s past \`timeout_ms\` (their answers are read only ` +
      "then, to count them). *Per wait* is the peak over *before*, divided by the waits " +
      "answered. The whole is noisy where other work shares the machine: figures as measured.",
    "",
  );
  lines.push(
    "| clients | waits answered | RSS before MiB | peak waiting MiB | peak at the timeouts MiB " +
      "| per wait waiting KiB | per wait at the timeouts KiB | last answer after s |",
  );
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  lines.push(runRow("read their answers", r.reading, r.waits));
  if (r.notReading) lines.push(runRow("never read them", r.notReading, r.waits));
  lines.push("", `<!-- ${MANY_WAITS_MARK}:end -->`, "");
  return lines;
}

/**
 * `previous` with its section marked `name` replaced by `block` (which
 * carries the markers), or, when it has none, `block` put before
 * `## Every sample` (else before the first marked section, else at the end).
 */
export function replaceMarkedSection(previous: string, name: string, block: string): string {
  const body = block.trimEnd();
  const marked = new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->`);
  if (marked.test(previous)) return previous.replace(marked, () => body);
  if (previous.trim() === "") return `${body}\n`;
  const before = [/^## Every sample/m, /^<!-- [\w-]+:start -->/m]
    .map((pattern) => pattern.exec(previous)?.index)
    .find((index) => index !== undefined);
  if (before === undefined) return `${previous.trimEnd()}\n\n${body}\n`;
  return `${previous.slice(0, before)}${body}\n\n${previous.slice(before)}`;
}
