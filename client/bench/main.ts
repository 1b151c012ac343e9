/**
 * `deno task bench`: measures the daemon side by side with its ceilings in
 * the same run — a minimal NDJSON echo server, the daemon with `--sync
 * normal` and `--sync full`, end to end to `listo`, and Redis with a durable
 * ack when `redis-server` is installed — then probes the daemon's memory,
 * and writes `docs/benchmarks.md`. Then, when a PostgreSQL answers (the
 * local one, or `PEDIDOS_BENCH_PG`), the PostgreSQL part, `deno task
 * bench:pg`'s ({@link ./postgres_bench.ts}), into its section of the same
 * report; when none does, it says so and the run still succeeds.
 *
 * ```sh
 * deno task bench               # about 8 minutes (3½ without PostgreSQL)
 * deno task bench --quick       # about 1½ minutes
 * deno task bench --no-pg       # without the PostgreSQL part
 * deno task bench --only waits  # only the many-waits memory probe, about 35 s
 * ```
 *
 * @module
 */

import { headline } from "./report.ts";
import { runBench, runManyWaitsOnly } from "./run_bench.ts";
import { type BenchArgs, checkWritable, parseBenchArgs } from "./bench_args.ts";
import { runPostgresBench, writeSection } from "./postgres_bench.ts";
import { PG_ADMIN_URL, postgresVersion } from "./postgres_targets.ts";
import { redactDatabaseUrl } from "../../server/store/postgres/postgres_url.ts";

const USAGE = `Usage: deno task bench [--quick] [--out PATH] [--rounds N] [--seconds S]
                        [--conns 1,16,64] [--idle N] [--no-redis] [--no-pg]
                        [--daemon-root ABSOLUTE_PATH] [--only waits]

Measures the daemon beside an echo ceiling and Redis in the same run and
writes the report (default docs/benchmarks.md; with --quick, a rough look,
/tmp/pedidos-bench-quick.md, leaving the committed report alone). Then,
when a PostgreSQL answers (at 127.0.0.1:5432, or PEDIDOS_BENCH_PG), the
PostgreSQL store beside its ceilings (what deno task bench:pg runs alone)
into its section of the same report; --no-pg leaves it out. About 8
minutes (3½ without PostgreSQL); --quick about 1½. --daemon-root measures the daemon of another checkout
(e.g. a git worktree of an older commit) with this bench. --only waits runs
only the probe of many ESTADO esperar waits on one big order (about 35 s;
--quick, about 15) and rewrites only its section of the report.
`;

async function main(args: string[]): Promise<number> {
  const encoder = new TextEncoder();
  // A closed pipe must not kill the bench before it stops its processes.
  const write = (file: typeof Deno.stdout, text: string) => {
    try {
      const bytes = encoder.encode(text);
      for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
    } catch {
      // nobody is reading
    }
  };
  const print = (text: string) => write(Deno.stdout, text);
  const printError = (text: string) => write(Deno.stderr, text);
  let parsed: BenchArgs;
  try {
    parsed = parseBenchArgs(args);
  } catch (error) {
    const invalid = error instanceof RangeError ? "invalid " : "";
    printError(`bench: ${invalid}${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    print(USAGE);
    return 0;
  }
  const { options } = parsed;
  try {
    await checkWritable(options.out);
  } catch (error) {
    printError(
      `bench: cannot write --out "${options.out}": ${(error as Error).message} ` +
        "(deno task bench may write only under /tmp and to docs/benchmarks.md)\n",
    );
    return 2;
  }
  const controller = new AbortController();
  // The first Ctrl-C stops after the current measurement and cleans up; a second one exits now.
  const onSignal = () => controller.signal.aborted ? Deno.exit(130) : controller.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    if (parsed.onlyWaits) {
      const { section } = await runManyWaitsOnly({
        quick: options.quick ?? false,
        ...(options.daemonRoot ? { daemonRoot: options.daemonRoot } : {}),
        out: options.out,
        signal: controller.signal,
        log: (line) => printError(`${line}\n`),
      });
      print(`${section}\n`);
      if (options.out) print(`Wrote ${options.out}\n`);
      return 0;
    }
    const { result, report } = await runBench({
      ...options,
      signal: controller.signal,
      log: (line) => printError(`${line}\n`),
    });
    print(report.slice(report.indexOf("## Throughput"), report.indexOf("## Memory")));
    print(`Headline: ${headline(result)}\n`);
    if (options.out) print(`Wrote ${options.out}\n`);
    if (!parsed.postgres || controller.signal.aborted) return 0;
    if (await postgresVersion() === null) {
      print(
        `The PostgreSQL part was skipped: no PostgreSQL answers at ${
          redactDatabaseUrl(PG_ADMIN_URL)
        } ` +
          "(set PEDIDOS_BENCH_PG to a server's URL; deno task bench:pg runs that part alone).\n",
      );
      return 0;
    }
    // As deno task bench:pg alone: Ctrl-C ends it at once (its daemons go with the process group).
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    printError("The PostgreSQL part (what deno task bench:pg runs alone):\n");
    const section = await runPostgresBench({
      quick: options.quick ?? false,
      command: `deno task bench${options.quick ? " --quick" : ""}`,
      log: (line) => printError(`${line}\n`),
    });
    print(`${section}\n`);
    if (options.out) {
      await writeSection(options.out, section);
      print(`Wrote its section of ${options.out}\n`);
    }
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
