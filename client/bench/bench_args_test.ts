import assert from "node:assert/strict";
import { checkWritable, DEFAULT_OUT, parseBenchArgs, QUICK_OUT } from "./bench_args.ts";
import { tempDir } from "../../tests/test_util.ts";
import { testWith } from "../../tests/permissions.ts";

Deno.test("parseBenchArgs() reads every flag, and writes the quick report apart from the committed one", () => {
  const { options, onlyWaits } = parseBenchArgs([
    "--rounds",
    "3",
    "--seconds",
    "0.5",
    "--conns",
    "1, 16,64",
    "--idle",
    "0",
    "--no-redis",
    "--daemon-root",
    "/tmp/old",
    "--only",
    "waits",
  ]);
  assert.equal(onlyWaits, true);
  assert.deepEqual(options, {
    quick: false,
    redis: false,
    out: DEFAULT_OUT,
    rounds: 3,
    seconds: 0.5,
    conns: [1, 16, 64],
    idleConnections: 0,
    daemonRoot: "/tmp/old/",
  });
  assert.equal(parseBenchArgs(["--quick"]).options.out, QUICK_OUT);
  // The PostgreSQL part runs after the rest unless --no-pg (or only the waits) says.
  assert.equal(parseBenchArgs([]).postgres, true);
  assert.equal(parseBenchArgs(["--no-pg"]).postgres, false);
  assert.equal(parseBenchArgs(["--only", "waits"]).postgres, false);
  assert.equal(parseBenchArgs(["--quick", "--out", "/tmp/x.md"]).options.out, "/tmp/x.md");
  assert.equal(parseBenchArgs(["--help", "--rounds", "0"]).help, true);
});

Deno.test("parseBenchArgs() refuses counts that would measure nothing or are not whole, naming the flag", () => {
  const refused: [string[], RegExp][] = [
    [["--rounds", "0"], /^--rounds "0": must be a whole number ≥ 1$/],
    [["--rounds", "1.5"], /^--rounds "1\.5"/],
    [["--rounds", ""], /^--rounds ""/],
    [["--conns", "1,,16"], /^--conns "1,,16": must be a whole number ≥ 1$/],
    [["--conns", "1,2.5"], /^--conns "1,2\.5"/],
    [["--conns", "0"], /^--conns "0"/],
    [["--idle", "1e3"], /^--idle "1e3"/],
    [["--idle=-1"], /^--idle "-1"/],
    [["--seconds", "0"], /^--seconds "0": must be a decimal number above 0/],
    [["--seconds", ""], /^--seconds ""/],
    [["--out", ""], /^--out "": must name a file/],
    [["--only", "all"], /^--only "all"/],
    [["--daemon-root", "rel/path"], /absolute path/],
  ];
  for (const [args, message] of refused) {
    assert.throws(
      () => parseBenchArgs(args),
      (error: unknown) => error instanceof RangeError && message.test(error.message),
      args.join(" "),
    );
  }
});

testWith("read", "write")(
  "checkWritable() refuses a path the bench could not write before the run, and leaves a file as it was",
  async () => {
    await using dir = await tempDir();
    await assert.rejects(checkWritable(`${dir.path}/missing/report.md`), Deno.errors.NotFound);
    // A new file may be made: none is left behind.
    await checkWritable(`${dir.path}/new.md`);
    await assert.rejects(Deno.stat(`${dir.path}/new.md`), Deno.errors.NotFound);
    await Deno.writeTextFile(`${dir.path}/old.md`, "kept");
    await checkWritable(`${dir.path}/old.md`);
    assert.equal(await Deno.readTextFile(`${dir.path}/old.md`), "kept");
  },
);
