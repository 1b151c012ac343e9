import assert from "node:assert/strict";
import {
  isRuntimeDownloadFailure,
  offlineMessage,
  outputFor,
  planCompile,
  TARGETS,
  UsageError,
} from "./compile.ts";

/** What `deno compile` 2.9.6 printed on a machine that cannot reach dl.deno.land. */
const OFFLINE_STDERR = `\x1b[0m\x1b[32mCheck\x1b[0m main.ts
\x1b[0m\x1b[32mCompile\x1b[0m main.ts to dist/pedidos
\x1b[0m\x1b[32mDownload\x1b[0m https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip
\x1b[0m\x1b[1m\x1b[31merror\x1b[0m: Writing deno compile executable to temporary file 'dist/pedidos.tmp-cf213322584fbdec'

Caused by:
    0: Setting up base binary.
    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): dns error: failed to lookup address information: Name or service not known
    2: client error (Connect)
    3: dns error
    4: failed to lookup address information: Name or service not known
`;

const FLAGS = ["--frozen", "--allow-net", "--allow-read=.", "--include=workers/a_worker.ts"];

Deno.test("planCompile() builds dist/pedidos for this machine by default", () => {
  const plan = planCompile([...FLAGS, "main.ts"]);
  assert.deepEqual(plan.flags, FLAGS);
  assert.equal(plan.entry, "main.ts");
  assert.deepEqual(plan.builds, [{ target: null, output: "dist/pedidos" }]);
});

Deno.test("planCompile() takes --target after the entry point, repeated, once each", () => {
  const plan = planCompile([
    ...FLAGS,
    "main.ts",
    "--target",
    "aarch64-apple-darwin",
    "--target=x86_64-pc-windows-msvc",
    "--target",
    "aarch64-apple-darwin",
  ]);
  assert.deepEqual(plan.builds, [
    { target: "aarch64-apple-darwin", output: "dist/pedidos-aarch64-apple-darwin" },
    { target: "x86_64-pc-windows-msvc", output: "dist/pedidos-x86_64-pc-windows-msvc.exe" },
  ]);
});

Deno.test("planCompile() builds every target with --all-targets", () => {
  const plan = planCompile([...FLAGS, "main.ts", "--all-targets"]);
  assert.deepEqual(plan.builds.map((build) => build.target), [...TARGETS]);
  assert.equal(new Set(plan.builds.map((build) => build.output)).size, TARGETS.length);
});

Deno.test("planCompile() rejects an unknown target, --output, a stray argument and no entry point", () => {
  assert.throws(() => planCompile(["main.ts", "--target", "sparc"]), UsageError);
  assert.throws(() => planCompile(["main.ts", "--target"]), UsageError);
  assert.throws(() => planCompile(["--output=x", "main.ts"]), UsageError);
  assert.throws(() => planCompile(["main.ts", "--allow-all"]), UsageError);
  assert.throws(() => planCompile(["main.ts", "other.ts"]), UsageError);
  assert.throws(() => planCompile(["--allow-net"]), UsageError);
});

Deno.test("outputFor() adds .exe for Windows targets only", () => {
  assert.equal(outputFor(null), "dist/pedidos");
  assert.equal(outputFor("aarch64-pc-windows-msvc"), "dist/pedidos-aarch64-pc-windows-msvc.exe");
  assert.equal(outputFor("x86_64-unknown-linux-gnu"), "dist/pedidos-x86_64-unknown-linux-gnu");
});

Deno.test("isRuntimeDownloadFailure() recognises deno compile failing to download denort", () => {
  assert.equal(isRuntimeDownloadFailure(OFFLINE_STDERR), true);
  assert.equal(
    isRuntimeDownloadFailure(
      "error sending request for url (https://dl.deno.land/release/v2.9.6/denort-aarch64-apple-darwin.zip): operation timed out",
    ),
    true,
  );
});

Deno.test("isRuntimeDownloadFailure() is false for failures of the code", () => {
  assert.equal(
    isRuntimeDownloadFailure(
      "Check main.ts\nTS2322 [ERROR]: Type 'string' is not assignable to type 'number'.\n    at file:///src/main.ts:1:7",
    ),
    false,
  );
  assert.equal(
    isRuntimeDownloadFailure('error: Module not found "file:///src/workers/nope.ts".'),
    false,
  );
  assert.equal(
    isRuntimeDownloadFailure(
      "error: The lockfile is out of date. Run `deno install --frozen=false`",
    ),
    false,
  );
});

Deno.test("offlineMessage() names the binary, the target, dl.deno.land and the way out", () => {
  const message = offlineMessage({ target: "aarch64-apple-darwin", output: "dist/x" });
  assert.match(message, /cannot build dist\/x/);
  assert.match(message, /aarch64-apple-darwin/);
  assert.match(message, /dl\.deno\.land/);
  assert.match(message, /DENORT_BIN/);
});
