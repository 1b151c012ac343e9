import assert from "node:assert/strict";
import { parseToolArgs, type ToolArgsOptions } from "./tool_args.ts";

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Runs parseToolArgs with its output and exit captured. */
function run(args: string[], extra: Partial<ToolArgsOptions<typeof OPTIONS>> = {}) {
  let stdout = "";
  let stderr = "";
  try {
    const values = parseToolArgs(args, {
      name: "bench:x",
      usage: "Usage: deno task bench:x [--rounds N]",
      options: OPTIONS,
      positive: ["rounds", "conns"],
      io: {
        stdout: (text) => stdout += text,
        stderr: (text) => stderr += text,
        exit: (code) => {
          throw new Exit(code);
        },
      },
      ...extra,
    });
    return { code: null, values, stdout, stderr };
  } catch (error) {
    if (!(error instanceof Exit)) throw error;
    return { code: error.code, values: null, stdout, stderr };
  }
}

const OPTIONS = {
  rounds: { type: "string", default: "5" },
  conns: { type: "string", default: "16,64" },
  quick: { type: "boolean" },
} as const;

Deno.test("parseToolArgs() prints the usage on stdout and exits 0 on --help or -h", () => {
  for (const flag of ["--help", "-h"]) {
    assert.deepEqual(run([flag]), {
      code: 0,
      values: null,
      stdout: "Usage: deno task bench:x [--rounds N]\n",
      stderr: "",
    });
  }
});

Deno.test("parseToolArgs() says what is wrong after the tool's name, with the usage, and exits 2: no stack trace", () => {
  const cases: [string[], string][] = [
    [["--bogus"], "bench:x: Unknown option '--bogus'"],
    [["--rounds"], "bench:x: Option '--rounds <value>' argument missing"],
    [["--rounds", "0"], 'bench:x: invalid --rounds "0": must be a number greater than 0'],
    [["--conns", "16,abc"], 'bench:x: invalid --conns "16,abc": must be a number greater than 0'],
    [["--conns", "16,"], 'bench:x: invalid --conns "16,": must be a number greater than 0'],
  ];
  for (const [args, message] of cases) {
    const { code, stdout, stderr } = run(args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(stdout, "");
    assert.equal(stderr, `${message}\n\nUsage: deno task bench:x [--rounds N]\n`, args.join(" "));
  }
  const checked = run(["--quick"], { check: (v) => v.quick ? "--quick is not for this" : null });
  assert.equal(checked.code, 2);
  assert.match(checked.stderr, /^bench:x: --quick is not for this\n/);
});

Deno.test("parseToolArgs() returns the values, with their defaults, and no help", () => {
  const { code, values } = run(["--rounds", "3", "--quick"]);
  assert.equal(code, null);
  assert.deepEqual({ ...values }, { rounds: "3", conns: "16,64", quick: true });
});
