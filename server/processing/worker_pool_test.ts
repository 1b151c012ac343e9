import assert from "node:assert/strict";
import {
  type JobRun,
  PoolClosedError,
  StartNotRecordedError,
  WorkerCrashError,
  WorkerPool,
} from "./worker_pool.ts";
import type { Job } from "../../workers/processor_messages.ts";
import { Logger } from "../log.ts";
import { newPedido } from "../store/new_pedido.ts";
import { testWith } from "../../tests/permissions.ts";
import { processorSource } from "./processor_source.ts";

const FAULTY = new URL("../../tests/fixtures/faulty_processor_worker.ts", import.meta.url);
const quiet = new Logger({ level: "error", write: () => {} });

function order(id: number, cliente = "Ana", delayMs = 0): Job {
  const order = { cliente, productos: ["pan"], direccion: "C 1", clave: null };
  return { kind: "order", pedido: newPedido(id, order, new Date().toISOString()), delayMs };
}

testWith("read")("WorkerPool runs jobs first-in first-out, at most `size` at once", async () => {
  await using pool = await WorkerPool.start({ size: 2 });
  const started: number[] = [];
  let peak = 0;
  await Promise.all(Array.from({ length: 6 }, (_, i) =>
    pool.submit(order(i, "Ana", 60), {
      onStart: () => {
        started.push(i);
        peak = Math.max(peak, pool.running);
      },
    })));
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  assert.equal(peak, 2);
});

testWith("read")("WorkerPool runs tasks and answers their results", async () => {
  await using pool = await WorkerPool.start({ size: 1 });
  assert.equal(await pool.submit({ kind: "task", task: { name: "sum", args: [1, 2, 3.5] } }), 6.5);
  assert.equal(await pool.submit({ kind: "task", task: { name: "upper", s: "hola" } }), "HOLA");
});

testWith("read")(
  "WorkerPool replaces a worker that throws, at the same number, and rejects its job",
  async () => {
    await using pool = await WorkerPool.start({ size: 2, moduleUrl: FAULTY, logger: quiet });
    let crashedOn = 0;
    await assert.rejects(
      pool.submit(order(1, "throw"), { onStart: (w) => crashedOn = w }),
      (error) => error instanceof WorkerCrashError && /boom/.test(error.message),
    );
    assert.equal(pool.crashes, 1);
    assert.equal(pool.size, 2);
    // The pool keeps working at full size, on both worker numbers.
    const workers = new Set<number>();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pool.submit(order(10 + i, "Ana", 50), {
          onStart: (w) => workers.add(w),
        })),
    );
    assert.deepEqual(workers, new Set([1, 2]));
    assert.ok(crashedOn === 1 || crashedOn === 2);
  },
);

testWith("read")(
  "WorkerPool treats a worker that goes silent as crashed after the stall time",
  async () => {
    await using pool = await WorkerPool.start({
      size: 1,
      moduleUrl: FAULTY,
      stallMs: 200,
      logger: quiet,
    });
    await assert.rejects(pool.submit(order(1, "exit")), WorkerCrashError);
    assert.equal(await pool.submit(order(2)), null, "the replacement works");
  },
);

testWith("read")("WorkerPool reports a job that fails without killing its worker", async () => {
  await using pool = await WorkerPool.start({ size: 1, moduleUrl: FAULTY, logger: quiet });
  await assert.rejects(pool.submit(order(1, "fail")), /cannot process/);
  assert.equal(pool.crashes, 0);
  assert.equal(await pool.submit(order(2)), null);
});

testWith("read")("WorkerPool.stop() rejects queued jobs and lets running ones finish", async () => {
  const pool = await WorkerPool.start({ size: 1 });
  try {
    const { promise: started, resolve: onStart } = Promise.withResolvers<number>();
    const running = pool.submit(order(1, "Ana", 100), { onStart });
    const queued = pool.submit(order(2));
    await started;
    const stopping = pool.stop();
    await assert.rejects(queued, PoolClosedError);
    assert.equal(await running, null);
    await stopping;
    await assert.rejects(pool.submit(order(3)), PoolClosedError);
  } finally {
    await pool.close();
  }
});

Deno.test("WorkerPool.start() fails clearly when the worker module cannot load", async () => {
  await assert.rejects(
    WorkerPool.start({ size: 1, moduleUrl: new URL("./no_such_worker.ts", import.meta.url) }),
    /Cannot start worker 1/,
  );
});

testWith("read")(
  "WorkerPool sends zero-time orders queued together to one worker as a run, in order, with each job's own times; only the first is started at once",
  async () => {
    await using pool = await WorkerPool.start({ size: 2 });
    const started: [number, number][] = [];
    const runs = new Map<number, JobRun>();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) =>
      pool.submit(order(i), {
        onStart: (worker) => started.push([i, worker]),
        onRan: (run) => runs.set(i, run),
      })));
    assert.deepEqual(results, Array(6).fill(null));
    // A worker has one job at a time: the run's first; the others are told when they ran.
    assert.deepEqual(started.map(([i]) => i), [0]);
    let last = 0;
    for (let i = 0; i < 6; i++) {
      const run = runs.get(i)!;
      assert.equal(run.worker, started[0]![1], "one worker took the run");
      assert.ok(run.startedAt >= last && run.endedAt >= run.startedAt, JSON.stringify(run));
      last = run.endedAt;
    }
  },
);

testWith("read")(
  "WorkerPool starts zero-time orders first-in first-out in the recorded times, across runs and workers",
  async () => {
    await using pool = await WorkerPool.start({ size: 2 });
    const runs: JobRun[] = [];
    const jobs: Promise<unknown>[] = [];
    for (let wave = 0; wave < 5; wave++) {
      for (let i = 0; i < 10; i++) {
        const n = wave * 10 + i;
        jobs.push(pool.submit(order(n), { onRan: (run) => runs[n] = run }));
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await Promise.all(jobs);
    for (let n = 1; n < 50; n++) {
      assert.ok(
        runs[n]!.startedAt >= runs[n - 1]!.endedAt,
        `order ${n} started before ${n - 1} ended`,
      );
    }
  },
);

testWith("read")(
  "WorkerPool: when a run's worker dies, its first job (started) fails; the rest run again alone, so only a job that kills its worker fails with it",
  async () => {
    await using pool = await WorkerPool.start({ size: 1, moduleUrl: FAULTY, logger: quiet });
    const failed: number[] = [];
    const started: number[] = [];
    const jobs = ["Ana", "throw", "Bea", "Caro"].map((cliente, i) =>
      pool.submit(order(i, cliente), { onStart: () => started.push(i) }).then(
        () => "ok",
        (error) => {
          assert.ok(error instanceof WorkerCrashError);
          failed.push(i);
          return "failed";
        },
      )
    );
    // All four in one run: Ana first; "throw" kills the worker. Then "throw"
    // alone kills it again; Bea and Caro, alone, run.
    assert.deepEqual(await Promise.all(jobs), ["failed", "failed", "ok", "ok"]);
    assert.deepEqual(failed, [0, 1]);
    assert.deepEqual(started, [0, 1, 2, 3], "each started once, in order");
    assert.equal(pool.crashes, 2);
    assert.equal(await pool.submit(order(9)), null, "the replacement works");
  },
);

testWith("read")(
  "WorkerPool.start() gives up on a processor module that never finishes loading, naming it",
  async () => {
    const path =
      new URL("../../tests/fixtures/processors/hangs_at_load.ts", import.meta.url).pathname;
    await assert.rejects(
      WorkerPool.start({
        size: 2,
        processor: processorSource(path),
        loadTimeoutMs: 300,
      }),
      (error: Error) => {
        assert.ok(error.message.includes(`Cannot load processor module "${path}"`), error.message);
        assert.match(error.message, /did not finish loading within 300 ms/);
        return true;
      },
    );
  },
);

testWith("read")(
  "WorkerPool.start() loads at most startConcurrency workers at once, each with its own load time",
  async () => {
    const path =
      new URL("../../tests/fixtures/processors/waits_at_load.ts", import.meta.url).pathname;
    const channel = new BroadcastChannel("pedidos-test-load");
    const loading: string[] = [];
    let arrived = Promise.withResolvers<void>();
    channel.onmessage = (event: MessageEvent<{ loading?: string }>) => {
      if (event.data.loading) loading.push(event.data.loading), arrived.resolve();
    };
    try {
      const starting = WorkerPool.start({
        size: 6,
        processor: processorSource(path),
        startConcurrency: 2,
        loadTimeoutMs: 2000,
      });
      let released = 0;
      let most = 0;
      while (released < 6) {
        while (loading.length - released < Math.min(2, 6 - released)) {
          await arrived.promise;
          arrived = Promise.withResolvers();
        }
        // Time for any worker begun beyond the two to say so.
        await new Promise((resolve) => setTimeout(resolve, 150));
        most = Math.max(most, loading.length - released);
        channel.postMessage({ release: loading[released++] });
      }
      await using pool = await starting;
      assert.equal(most, 2, "two workers loading at once, never more");
      assert.equal(pool.size, 6);
      assert.equal(await pool.submit(order(1)), null, "the pool works");
    } finally {
      channel.close();
    }
  },
);

testWith("read")(
  "WorkerPool.abort() cuts a running job short and takes a queued one back, each rejecting with the reason; the worker goes on",
  async () => {
    await using pool = await WorkerPool.start({ size: 1, logger: quiet });
    const reason = new Error("fenced");
    const [long, next] = [order(1, "Ana", 60_000), order(2, "Ana", 60_000)];
    const running = pool.submit(long);
    const queued = pool.submit(next);
    while (pool.running === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(pool.abort(order(3), reason), false, "a job never submitted");
    const cutAt = performance.now();
    assert.equal(pool.abort(next, reason), true);
    assert.equal(pool.abort(long, reason), true);
    await assert.rejects(queued, (error) => error === reason);
    await assert.rejects(running, (error) => error === reason);
    assert.ok(performance.now() - cutAt < 30_000, "cut short, not run out");
    assert.equal(pool.crashes, 0, "its worker stopped when told: not replaced");
    assert.equal(await pool.submit({ kind: "task", task: { name: "sum", args: [2, 3] } }), 5);
  },
);

testWith("read")(
  "WorkerPool holds a job back while what its onStart returned is pending (its start being written), and sends it after",
  async () => {
    await using pool = await WorkerPool.start({ size: 1, logger: quiet });
    const events: string[] = [];
    const { promise: written, resolve: write } = Promise.withResolvers<boolean>();
    const done = pool.submit(order(1, "Ana", 20), {
      onStart: () => {
        events.push("started");
        return written;
      },
    }).then(() => events.push("ran"));
    while (pool.running === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 100)); // five times its run
    events.push("written");
    write(true);
    await done;
    assert.deepEqual(events, ["started", "written", "ran"]);
  },
);

testWith("read")(
  "WorkerPool.abort() of a job held back for its start takes it back at once, never sent; its worker is free",
  async () => {
    await using pool = await WorkerPool.start({ size: 1, logger: quiet });
    const reason = new Error("fenced");
    const { promise: written, resolve: write } = Promise.withResolvers<boolean>();
    const job = order(1, "Ana", 20);
    let ran = false;
    const held = pool.submit(job, { onStart: () => written, onRan: () => ran = true });
    while (pool.running === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(pool.abort(job, reason), true);
    await assert.rejects(held, (error) => error === reason);
    assert.equal(pool.running, 0);
    assert.equal(await pool.submit({ kind: "task", task: { name: "sum", args: [2, 3] } }), 5);
    write(true); // written late: the job stays unsent
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(ran, false);
    assert.equal(pool.crashes, 0, "a worker that never had it is not replaced");
  },
);

testWith("read")(
  "WorkerPool does not send a job whose start could not be written (onStart gives false), and frees its worker",
  async () => {
    await using pool = await WorkerPool.start({ size: 1 });
    // Were it sent, it would hold the only worker for 30 s.
    const unrecorded = pool.submit(order(1, "Ana", 30_000), {
      onStart: () => Promise.resolve(false),
    });
    await assert.rejects(unrecorded, StartNotRecordedError);
    assert.equal(await pool.submit(order(2)), null, "the worker is free at once");
    // A start that was written runs as before.
    assert.equal(await pool.submit(order(3), { onStart: () => Promise.resolve(true) }), null);
  },
);
