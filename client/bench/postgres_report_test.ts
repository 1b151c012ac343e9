import assert from "node:assert/strict";
import { type PgRow, renderPostgresSection } from "./postgres_report.ts";
import { writeSection } from "./postgres_bench.ts";
import { testWith } from "../../tests/permissions.ts";

function row(target: string, conns: number, reqPerS: number): PgRow {
  return {
    target,
    conns,
    reqPerS,
    p50: 1,
    p99: 2,
    e2ePerS: target.endsWith("end to end") ? reqPerS : null,
    errors: 0,
    cpuTargetUs: 50,
    cpuPostgresUs: 50,
    cpuLoadUs: 20,
  };
}

const RESULT = {
  date: new Date("2026-12-01T00:00:00Z"),
  postgres: "15.20",
  cores: 2,
  rounds: 1,
  seconds: 1,
  backlog: 20000,
  loadavg: [1, 2],
  elapsedS: 10,
  rows: [
    row("plain INSERT per order (autocommit)", 64, 10_000),
    row("SQLite daemon --sync full, intake", 64, 12_000),
    row("PostgreSQL, 1 daemon, intake", 64, 24_000),
    row("PostgreSQL, 2 daemons, intake", 64, 20_000),
    row("SQLite daemon --sync full, end to end", 64, 10_000),
    row("PostgreSQL, 1 daemon, end to end", 64, 8_000),
  ],
  drains: [{ daemons: 1, perS: 26_000 }, { daemons: 2, perS: 30_000 }],
  graphileDrain: 24_000,
};

Deno.test("renderPostgresSection() checks the issue's goals against the medians", () => {
  const text = renderPostgresSection(RESULT);
  const goal = (what: string) => text.split("\n").find((line) => line.startsWith(`| ${what}`));
  assert.match(goal("1 daemon, intake at 64 conns vs plain INSERT")!, /2\.40× \| met/);
  assert.match(goal("1 daemon, intake at 64 conns vs the SQLite daemon's")!, /2\.00× \| met/);
  assert.match(goal("1 daemon, end to end at 64 conns vs the SQLite")!, /0\.80× \| \*\*missed\*\*/);
  assert.match(goal("draining 20000 orders, best of 1–3 daemons |")!, /30000\/s \| met/);
  assert.match(goal("draining 20000 orders, best of 1–3 daemons vs graphile")!, /1\.25× \| met/);
  assert.match(text, /\| 2 daemons \| 30000 \| 1\.25 \|/);
  assert.match(goal("2 daemons vs 1, intake at 64 conns")!, /0\.83× \| \*\*missed\*\*/);
  assert.match(goal("3 daemons vs 1, intake at 64 conns")!, /— \|$/, "not measured: no verdict");
  // 2 cores over 120 µs of CPU per order (daemon, PostgreSQL, load generator).
  assert.match(text, /bounds one daemon end to end near 16667 orders\/s/);
});

Deno.test("renderPostgresSection() says how many cores each goal would keep busy, and when that is more than the machine has", () => {
  const text = renderPostgresSection(RESULT);
  const goal = (what: string) => text.split("\n").find((line) => line.startsWith(`| ${what}`));
  // 120 µs an order at the SQLite daemon's 10000/s: 1.2 cores of 2.
  assert.match(goal("1 daemon, end to end at 64 conns vs the SQLite")!, /\| 1\.20 of 2 \|$/);
  // Two daemons at one daemon's 24000/s, 120 µs an order: 2.88 cores.
  assert.match(
    goal("2 daemons vs 1, intake at 64 conns")!,
    /\| 2\.88 of 2 \(more than there are\) \|$/,
  );
  // Twice the plain insert's 10000/s.
  assert.match(goal("1 daemon, intake at 64 conns vs plain INSERT")!, /\| 2\.40 of 2 \(more/);
  assert.match(
    goal("draining 20000 orders, best of 1–3 daemons |")!,
    /\| — \|$/,
    "no CPU measured",
  );
  // The load generator's share not measured: no figure rather than a low one.
  const unread = renderPostgresSection({
    ...RESULT,
    rows: RESULT.rows.map((r) => ({ ...r, cpuLoadUs: null })),
  });
  const line = unread.split("\n").find((l) => l.startsWith("| 2 daemons vs 1, intake"));
  assert.match(line!, /\*\*missed\*\* \| — \|$/);
  assert.match(unread, /near 20000 orders\/s, before the load generator's share,/);
});

Deno.test("renderPostgresSection() rounds a ratio short of its goal down, so that it reads missed", () => {
  for (const [second, shown] of [[24_990, "0.99"], [24_750, "0.99"], [20_000, "0.80"]] as const) {
    const text = renderPostgresSection({
      ...RESULT,
      drains: [{ daemons: 1, perS: 25_000 }, { daemons: 2, perS: second }],
    });
    const goal = text.split("\n").find((line) => line.startsWith("| 2 daemons vs 1, drain"));
    assert.ok(goal?.includes(`| ${shown}× | **missed** |`), goal);
  }
});

testWith("read", "write")(
  "writeSection() appends the section once, then replaces it in place",
  async () => {
    const path = await Deno.makeTempFile({ suffix: ".md" });
    try {
      await Deno.writeTextFile(path, "# Benchmarks\n\nthe SQLite part\n");
      await writeSection(path, "## PostgreSQL\n\nfirst");
      await writeSection(path, "## PostgreSQL\n\nsecond");
      const text = await Deno.readTextFile(path);
      assert.match(text, /^# Benchmarks\n\nthe SQLite part\n\n<!-- postgres-bench:start -->/);
      assert.doesNotMatch(text, /first/);
      assert.equal(text.split("postgres-bench:start").length, 2, "one section");
      assert.match(text, /second\n<!-- postgres-bench:end -->\n$/);
    } finally {
      await Deno.remove(path);
    }
  },
);

Deno.test("renderPostgresSection() names the command that ran it: bench:pg alone, or the whole bench", () => {
  assert.match(renderPostgresSection(RESULT), /^Generated by `deno task bench:pg` on /m);
  const whole = renderPostgresSection({ ...RESULT, command: "deno task bench --quick" });
  assert.match(whole, /^Generated by `deno task bench --quick` on /m);
});
