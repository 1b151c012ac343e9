import assert from "node:assert/strict";
import { keepMarkedSections } from "./report_modes.ts";

Deno.test("rerunning the bench keeps the sections other benches wrote into the page", () => {
  const previous = "# Benchmarks\n\nold tables\n\n<!-- postgres-bench:start -->\n## PostgreSQL\n" +
    "rows\n<!-- postgres-bench:end -->\n";
  const kept = keepMarkedSections("# Benchmarks\n\nnew tables\n", previous);
  assert.equal(
    kept,
    "# Benchmarks\n\nnew tables\n\n<!-- postgres-bench:start -->\n## PostgreSQL\nrows\n" +
      "<!-- postgres-bench:end -->\n",
  );
  assert.equal(keepMarkedSections("# Benchmarks\n", "# old, nothing marked\n"), "# Benchmarks\n");
});
