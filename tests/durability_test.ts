/**
 * What `--sync` means at the level of system calls. Power loss cannot be
 * simulated here, so the daemon runs under `strace` and we check the order
 * of its calls: with `--sync full` the WAL is fsynced after the order's
 * commit is written and before the `ok` reply is sent; with `--sync normal`
 * the reply goes out with no fsync in between (the commit is in the OS page
 * cache: it survives a crash of the daemon — tests/crash_soak_test.ts kills
 * `normal` daemons too — but not a crash of the machine).
 *
 * Skipped, with a message, where `strace` is missing or not allowed;
 * in CI (`CI=true`) they fail with the reason instead.
 */
import assert from "node:assert/strict";
import { type Privilege, privilegedTest } from "./privilege_util.ts";
import { readRows } from "./fault_util.ts";
import { ROOT, serverPermissions, tempDir, waitUntil } from "./test_util.ts";

/** Whether `strace` can trace a process here; if not, why. */
const STRACE: Privilege = await (async () => {
  const name = "strace (installed, and ptrace allowed)";
  try {
    const out = await new Deno.Command("strace", {
      args: ["-f", "-qq", "-o", "/dev/null", "true"],
      stdout: "null",
      stderr: "piped",
    }).output();
    const why = new TextDecoder().decode(out.stderr).trim() || `strace exited ${out.code}`;
    return { name, missing: out.success ? null : why };
  } catch (error) {
    return {
      name,
      missing: error instanceof Deno.errors.NotFound ? "not installed" : String(error),
    };
  }
})();

interface Call {
  time: number;
  name: string;
  target: string;
  text: string;
}

/** Parses `strace -f -ttt -y` lines: `PID SECONDS name(FD<path>, ...`. */
function parseTrace(text: string): Call[] {
  const calls: Call[] = [];
  for (const line of text.split("\n")) {
    const match = line.match(/^\d+\s+(\d+\.\d+)\s+(\w+)\(\d+<([^>]*)>(.*)$/);
    if (match) {
      calls.push({ time: Number(match[1]), name: match[2]!, target: match[3]!, text: match[4]! });
    }
  }
  return calls;
}

/** Runs the daemon under strace, sends `1 + n` orders one after the other, stops it; the calls. */
async function traceOrders(sync: "full" | "normal", n: number): Promise<Call[]> {
  await using dir = await tempDir();
  const trace = `${dir.path}/trace.txt`;
  const db = `${dir.path}/p.db`;
  const child = new Deno.Command("strace", {
    args: [
      "-f",
      "-qq",
      "-ttt",
      "-y",
      "-s",
      "64",
      "-e",
      "trace=pwrite64,write,writev,fsync,fdatasync,sendto,sendmsg",
      "-o",
      trace,
      Deno.execPath(),
      "run",
      ...serverPermissions(dir.path),
      `${ROOT}main.ts`,
      "server",
      "--port",
      "0",
      "--db",
      db,
      "--sync",
      sync,
      "--workers",
      "1",
      "--process-ms",
      "60000",
      "--drain-timeout-ms",
      "50",
    ],
    cwd: dir.path,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pid = 0;
  try {
    let out = "";
    while (!/listening on .*\n/.test(out)) {
      const next = await reader.read();
      if (next.done) throw new Error(`daemon under strace did not start: ${out}`);
      out += next.value;
    }
    const port = Number(out.match(/:(\d+)\s/)![1]);
    pid = Number((await Deno.readTextFile(trace)).match(/^(\d+)\s/)![1]);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const buffer = new Uint8Array(4096);
      // The first order takes the only worker for a minute, so the commits of
      // the next ones are their own inserts and nothing else (no markStarted).
      for (let i = 0; i <= n; i++) {
        await conn.write(
          new TextEncoder().encode('{"cliente":"Ana","productos":["pan"],"direccion":"C 1"}\n'),
        );
        const got = await conn.read(buffer);
        assert.match(new TextDecoder().decode(buffer.subarray(0, got ?? 0)), /"ok":true/);
        if (i === 0) {
          await waitUntil(() => readRows(db)[0]?.estado === "en proceso", {
            what: "the first order to start",
          });
        }
      }
    } finally {
      conn.close();
    }
  } finally {
    if (pid > 0) Deno.kill(pid, "SIGTERM");
    else child.kill("SIGKILL");
    await reader.cancel().catch(() => {});
    await child.status;
  }
  return parseTrace(await Deno.readTextFile(trace));
}

/**
 * For each `ok` reply but the first: was the WAL fsynced between the last
 * WAL write before it (its commit) and the reply?
 */
function syncedBeforeAck(calls: Call[]): boolean[] {
  const acks = calls.filter((c) =>
    /^(sendto|write|writev|sendmsg)$/.test(c.name) && c.target.startsWith("socket:") &&
    c.text.includes('\\"ok\\":true,\\"id\\"')
  );
  assert.ok(acks.length >= 2, "the acks were traced");
  return acks.slice(1).map((ack) => {
    const walWrites = calls.filter((c) =>
      c.time <= ack.time && /^(pwrite64|write)$/.test(c.name) && c.target.endsWith(".db-wal")
    );
    const commit = walWrites.at(-1);
    assert.ok(commit, "the order was written to the WAL before its ok");
    return calls.some((c) =>
      c.time >= commit.time && c.time <= ack.time && /^f(data)?sync$/.test(c.name) &&
      c.target.endsWith(".db-wal")
    );
  });
}

privilegedTest("durability_test", STRACE, {
  name: "durability: with --sync full the WAL is fsynced after each order's commit, before its ok",
  async fn() {
    const synced = syncedBeforeAck(await traceOrders("full", 3));
    assert.deepEqual(synced, [true, true, true]);
  },
});

privilegedTest("durability_test", STRACE, {
  name:
    "durability: with --sync normal the ok goes out before any fsync (crash-safe, not power-safe)",
  async fn() {
    const synced = syncedBeforeAck(await traceOrders("normal", 3));
    assert.deepEqual(synced, [false, false, false]);
  },
});
