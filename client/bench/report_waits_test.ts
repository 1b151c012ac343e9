import assert from "node:assert/strict";
import type { ManyWaitsResult, WaitsRun } from "./many_waits.ts";
import { keepMarkedSections } from "./report_modes.ts";
import { perWaitKiB, renderManyWaits, replaceMarkedSection } from "./report_waits.ts";

function run(reading: boolean, overrides: Partial<WaitsRun> = {}): WaitsRun {
  return {
    reading,
    timedOut: 10_000,
    otherReplies: 0,
    baselineKiB: 80 * 1024,
    waitingPeakKiB: 180 * 1024,
    timeoutPeakKiB: 280 * 1024,
    answeredAfterS: reading ? 12.34 : null,
    samples: 40,
    ...overrides,
  };
}

const RESULT: ManyWaitsResult = {
  waits: 10_000,
  connections: 79,
  perConnection: 127,
  products: 80,
  nameChars: 200,
  orderBytes: 64316,
  timeoutMs: 8000,
  notReadingS: 3,
  reading: run(true),
  notReading: run(false, { timeoutPeakKiB: null }),
  seconds: 33.2,
};

Deno.test("renderManyWaits() writes a marked section with one row per run", () => {
  const date = new Date("2026-12-07T10:20:00Z");
  const lines = renderManyWaits(RESULT, { date, command: "deno task bench", alone: false });
  const text = lines.join("\n");
  assert.equal(lines[0], "<!-- many-waits:start -->");
  assert.equal(lines[1], "## Many waits on one order");
  assert.match(text, /^Measured by `deno task bench` on 2026-12-07 10:20 UTC in 33 s\.$/m);
  assert.match(text, /"timeout_ms":8000/);
  assert.match(
    text,
    /^\| read their answers \| 10000 of 10000 \| 80\.0 \| 180\.0 \| 280\.0 \| 10\.2 \| 20\.5 \| 12\.3 \|$/m,
  );
  assert.match(
    text,
    /^\| never read them \| 10000 of 10000 \| 80\.0 \| 180\.0 \| — \| 10\.2 \| — \| — \|$/m,
  );
  assert.ok(lines.includes("<!-- many-waits:end -->"));
});

Deno.test("renderManyWaits() shows refused waits and leaves out a skipped run", () => {
  const result = {
    ...RESULT,
    reading: run(true, { timedOut: 9967, otherReplies: 33 }),
    notReading: null,
  };
  const text = renderManyWaits(result, { date: new Date(), command: "x --only waits", alone: true })
    .join("\n");
  assert.match(text, /in 33 s, apart from the rest of this page\.$/m);
  assert.match(text, /^\| read their answers \| 9967 \(33 other replies\) of 10000 \|/m);
  assert.doesNotMatch(text, /never read them/);
});

Deno.test("perWaitKiB() is the peak over the baseline per answered wait, or null", () => {
  assert.equal(perWaitKiB(run(true, { timedOut: 100, baselineKiB: 1000 }), 2000), 10);
  assert.equal(perWaitKiB(run(true, { timedOut: 0 }), 2000), null);
  assert.equal(perWaitKiB(run(true, { baselineKiB: null }), 2000), null);
  assert.equal(perWaitKiB(run(true), null), null);
});

Deno.test("replaceMarkedSection() replaces the section in place, or puts it before the samples", () => {
  const block = "<!-- many-waits:start -->\n## Many waits\nnew $& $1\n<!-- many-waits:end -->\n";
  const old = "# B\n\n## Memory\n\n<!-- many-waits:start -->\nold\n<!-- many-waits:end -->\n\n" +
    "## Every sample\n\n<!-- postgres-bench:start -->\npg\n<!-- postgres-bench:end -->\n";
  assert.equal(
    replaceMarkedSection(old, "many-waits", block),
    old.replace("<!-- many-waits:start -->\nold\n<!-- many-waits:end -->", () => block.trimEnd()),
  );
  assert.equal(
    replaceMarkedSection("# B\n\n## Memory\n\n## Every sample\n\nrows\n", "many-waits", block),
    `# B\n\n## Memory\n\n${block}\n## Every sample\n\nrows\n`,
  );
  assert.equal(
    replaceMarkedSection("# B\n\n<!-- pg:start -->\npg\n<!-- pg:end -->\n", "many-waits", block),
    `# B\n\n${block}\n<!-- pg:start -->\npg\n<!-- pg:end -->\n`,
  );
  assert.equal(replaceMarkedSection("# B\n", "many-waits", block), `# B\n\n${block}`);
  assert.equal(replaceMarkedSection("", "many-waits", block), block);
});

Deno.test("keepMarkedSections() keeps another bench's sections but not an old copy of the report's own", () => {
  const report =
    "# B\n\n<!-- many-waits:start -->\nnew\n<!-- many-waits:end -->\n\n## Every sample\n";
  const previous = "# B\n\n<!-- many-waits:start -->\nold\n<!-- many-waits:end -->\n\n" +
    "<!-- postgres-bench:start -->\npg\n<!-- postgres-bench:end -->\n";
  assert.equal(
    keepMarkedSections(report, previous),
    `${report}\n<!-- postgres-bench:start -->\npg\n<!-- postgres-bench:end -->\n`,
  );
});
