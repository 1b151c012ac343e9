/**
 * Reading the metrics endpoint (§10) in tests: scrape, check the text's
 * grammar, and look samples up by name and labels.
 *
 * @module
 */

import assert from "node:assert/strict";

/** One scrape: every sample by its series, e.g. `pedidos_finalizados_total{estado="listo"}`. */
export interface Scrape {
  /** The raw text. */
  text: string;
  /** The `Content-Type` header. */
  contentType: string | null;
  /** The value of a series; throws when it is absent. */
  value(series: string): number;
  /** Whether a series is present. */
  has(series: string): boolean;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/;
const COMMENT = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/;

/** Fetches `/metrics` from a daemon's metrics address and checks the text's grammar. */
export async function scrape(addr: Deno.NetAddr): Promise<Scrape> {
  const response = await fetch(`http://${addr.hostname}:${addr.port}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  const contentType = response.headers.get("content-type");
  const samples = new Map<string, number>();
  const typed = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const comment = COMMENT.exec(line);
    if (comment) {
      if (comment[1] === "TYPE") typed.set(comment[2]!, comment[3]!);
      continue;
    }
    const sample = SAMPLE.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    const [, name, labels = "", raw] = sample;
    const family = name!.replace(/_(bucket|sum|count)$/, "");
    assert.ok(typed.has(name!) || typed.has(family), `no # TYPE before ${name}`);
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
    // "NaN" is the exposition format's unknown value; anything else must be a number.
    assert.ok(raw === "NaN" || !Number.isNaN(value), `not a number: ${line}`);
    samples.set(`${name}${labels}`, value);
  }
  assert.ok(text.endsWith("\n"), "the text ends with a newline");
  return {
    text,
    contentType,
    has: (series) => samples.has(series),
    value(series) {
      const value = samples.get(series);
      if (value === undefined) throw new Error(`no series ${series} in:\n${text}`);
      return value;
    },
  };
}
