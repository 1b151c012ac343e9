/**
 * CPU time of processes, from `/proc/PID/stat` (Linux), read through `cat`
 * (Deno lets a program read `/proc` only with every permission): the bench's
 * figures of CPU per order for the daemon and for PostgreSQL. Null where
 * they cannot be read (another OS, `ps` or `cat` not allowed).
 *
 * @module
 */

/** Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`; 100 on Linux). */
const TICKS_PER_S = 100;

const decoder = new TextDecoder();

async function run(command: string, args: string[]): Promise<string | null> {
  try {
    const { stdout } = await new Deno.Command(command, { args, stdout: "piped", stderr: "null" })
      .output();
    return decoder.decode(stdout);
  } catch {
    return null;
  }
}

/**
 * CPU seconds used so far by the processes `pids` (all their threads),
 * summed; with `children`, also what their children that ended used (a
 * server whose workers come and go counts them that way).
 */
export async function cpuSeconds(
  pids: number[],
  options: { children?: number[] } = {},
): Promise<number | null> {
  if (pids.length === 0) return 0;
  const text = await run("cat", pids.map((pid) => `/proc/${pid}/stat`));
  if (text === null) return null;
  const parents = new Set(options.children ?? []);
  let ticks = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const pid = Number(line.slice(0, line.indexOf(" ")));
    // After the command name (in parentheses, may hold spaces): utime, stime, cutime and
    // cstime are fields 14 to 17.
    const fields = line.slice(line.lastIndexOf(")") + 2).split(" ").map(Number);
    ticks += fields[11]! + fields[12]!;
    if (parents.has(pid)) ticks += fields[13]! + fields[14]!;
  }
  return Number.isFinite(ticks) ? ticks / TICKS_PER_S : null;
}

/**
 * CPU seconds used so far by PostgreSQL: every process named `postgres`,
 * plus what its backends that ended used (counted in the postmaster's
 * children times, so that connections closing do not take CPU away).
 */
export async function postgresCpuSeconds(): Promise<number | null> {
  const text = await run("ps", ["-C", "postgres", "-o", "pid=,ppid="]);
  if (text === null) return null;
  const rows = text.split("\n").map((line) => line.trim().split(/\s+/).map(Number))
    .filter((row) => row.length === 2 && row[0]! > 0);
  const pids = new Set(rows.map((row) => row[0]!));
  const postmasters = rows.filter((row) => !pids.has(row[1]!)).map((row) => row[0]!);
  return await cpuSeconds([...pids], { children: postmasters });
}
