/**
 * The Prometheus text exposition format, version 0.0.4: metric families
 * (`# HELP`, `# TYPE`, then samples) encoded as text. Pure.
 *
 * @module
 */

import type { HistogramSnapshot } from "./histogram.ts";

/** The `Content-Type` of the format. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label names and values of one sample. */
export type Labels = Record<string, string>;

/** One metric family: a name, its help, and its samples. */
export type MetricFamily =
  | {
    name: string;
    help: string;
    type: "counter" | "gauge";
    /** One value per label set (`{}` for an unlabelled metric). */
    samples: { labels?: Labels; value: number }[];
  }
  | { name: string; help: string; type: "histogram"; histogram: HistogramSnapshot };

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Encodes metric families as the text Prometheus scrapes.
 *
 * @example Usage
 * ```ts
 * import { encodeMetrics } from "./prometheus_text.ts";
 * const text = encodeMetrics([
 *   { name: "x_total", help: "Xs seen.", type: "counter", samples: [{ value: 3 }] },
 * ]);
 * console.log(text); // "# HELP x_total Xs seen.\n# TYPE x_total counter\nx_total 3\n"
 * ```
 * @throws {RangeError} On a name or label name the format does not allow.
 */
export function encodeMetrics(families: readonly MetricFamily[]): string {
  let text = "";
  for (const family of families) {
    if (!NAME.test(family.name)) throw new RangeError(`Invalid metric name "${family.name}"`);
    text += `# HELP ${family.name} ${
      escapeHelp(family.help)
    }\n# TYPE ${family.name} ${family.type}\n`;
    if (family.type === "histogram") {
      const { buckets, sum, count } = family.histogram;
      for (const [le, n] of buckets) {
        text += `${family.name}_bucket{le="${formatNumber(le)}"} ${formatNumber(n)}\n`;
      }
      text += `${family.name}_sum ${formatNumber(sum)}\n${family.name}_count ${
        formatNumber(count)
      }\n`;
    } else {
      for (const sample of family.samples) {
        text += `${family.name}${formatLabels(sample.labels)} ${formatNumber(sample.value)}\n`;
      }
    }
  }
  return text;
}

/** A sample value: `+Inf`, `-Inf`, `NaN`, or the shortest decimal form. */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Labels | undefined): string {
  if (labels === undefined) return "";
  const pairs = Object.entries(labels);
  if (pairs.length === 0) return "";
  return `{${
    pairs.map(([name, value]) => {
      if (!LABEL.test(name) || name.startsWith("__")) {
        throw new RangeError(`Invalid label name "${name}"`);
      }
      return `${name}="${escapeLabel(value)}"`;
    }).join(",")
  }}`;
}

/** `\` and newlines escaped, as HELP lines need. */
function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** `\`, `"` and newlines escaped, as label values need. */
function escapeLabel(text: string): string {
  return escapeHelp(text).replaceAll('"', '\\"');
}
