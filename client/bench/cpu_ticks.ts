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

/** CPU seconds used so far by the processes `pids` (all their threads), summed. */
export async function cpuSeconds(pids: number[]): Promise<number | null> {
  if (pids.length === 0) return 0;
  const text = await run("cat", pids.map((pid) => `/proc/${pid}/stat`));
  if (text === null) return null;
  let ticks = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    // After the command name (in parentheses, may hold spaces): utime and stime are fields 14 and 15.
    const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return Number.isFinite(ticks) ? ticks / TICKS_PER_S : null;
}

/** The pids of every process named `postgres` (the server and its backends). */
export async function postgresPids(): Promise<number[] | null> {
  const text = await run("ps", ["-C", "postgres", "-o", "pid="]);
  return text === null ? null : text.split("\n").map(Number).filter((n) => n > 0);
}
