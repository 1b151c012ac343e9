/**
 * The bench's reference for draining a backlog: graphile-worker (the issue's
 * "best here", ≈ 25k jobs/s on the machine it was measured on), configured
 * as `../shared/design/postgres-notes.md` measured it — one process,
 * concurrency 8, a local queue of 100 jobs, batched completion
 * (`completeJobBatchDelay: 0`) and a no-op task — so that our drain is
 * compared with it on the same machine, in the same run, as a ratio.
 *
 * Timed as our daemons' drain is: the runner is started and waiting, drains
 * `--warm-up` jobs first, unrecorded, then `--jobs` jobs are added in one
 * transaction (`add_jobs`, which notifies the runner), timed from that
 * commit until no job is left in the table (graphile-worker deletes a job
 * once its completion commits).
 *
 * `deno run --allow-net=127.0.0.1 --allow-env --allow-read --allow-sys client/bench/graphile_drain.ts --db URL --jobs N [--warm-up W]`
 * prints one line of JSON, `{"jobs": N, "perS": …}`. The database must be
 * fresh; its `graphile_worker` schema is made here.
 *
 * @module
 */

import { parseArgs } from "node:util";
import postgres from "postgres";
import { Logger, makeWorkerUtils, run } from "graphile-worker";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    db: { type: "string" },
    jobs: { type: "string", default: "20000" },
    "warm-up": { type: "string", default: "0" },
  },
});
if (values.db === undefined) throw new Error("Missing --db URL");
const url = values.db;
const jobs = Number(values.jobs);
const warmUp = Number(values["warm-up"]);

// Silent: graphile-worker logs a line per job by default, which would be most of its cost.
const logger = new Logger(() => () => {});
const utils = await makeWorkerUtils({ connectionString: url, logger });
await utils.migrate();
await utils.release();

let ran = 0;
let expected = 0;
let allRan = Promise.withResolvers<void>();
const runner = await run({
  connectionString: url,
  concurrency: 8,
  noHandleSignals: true,
  logger,
  preset: { worker: { localQueue: { size: 100 }, completeJobBatchDelay: 0 } },
  taskList: {
    noop: () => {
      if (++ran === expected) allRan.resolve();
    },
  },
});

const sql = postgres(url, { max: 1, onnotice: () => {} });

/** Adds `count` jobs in one transaction; seconds from its commit until the table is empty. */
async function drain(count: number): Promise<number> {
  ran = 0;
  expected = count;
  allRan = Promise.withResolvers<void>();
  // The same rows as our daemons' backlog, as job payloads.
  await sql`SELECT graphile_worker.add_jobs(ARRAY(
    SELECT json_populate_record(NULL::graphile_worker.job_spec, json_build_object(
      'identifier', 'noop',
      'payload', json_build_object('cliente', 'Bench ' || n, 'productos', json_build_array('pan'),
        'direccion', 'Calle 1')))
    FROM generate_series(1, ${count}) AS n))`;
  const started = performance.now();
  const timeout = setTimeout(() => allRan.reject(new Error("the backlog did not drain")), 300_000);
  try {
    await allRan.promise;
  } finally {
    clearTimeout(timeout);
  }
  // Every handler ran; the last completions may still be committing.
  for (;;) {
    const [row] = await sql`SELECT count(*)::int AS n FROM graphile_worker._private_jobs`;
    if (row?.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return (performance.now() - started) / 1000;
}

try {
  if (warmUp > 0) await drain(warmUp);
  const seconds = await drain(jobs);
  console.log(JSON.stringify({ jobs, perS: jobs / seconds }));
} finally {
  await sql.end({ timeout: 1 });
  await runner.stop();
}
