/**
 * The single writer: a module Worker that owns the only writable connection
 * to the SQLite database. The main thread's SQLite store starts it and
 * speaks the messages of `writer_messages.ts`; the work itself is
 * {@linkcode GroupCommit}'s. This file is only the adapter and its loop.
 *
 * After `init` the writer does not return to its event loop: it reads
 * operations from the shared pipe, commits, writes results to the other
 * pipe, and sleeps in `Atomics.wait` until more arrive or a timed duty is
 * due (a held batch, an idle fold). A wait never lasts more than
 * {@linkcode MAX_WAIT_MS}, so a stop request is seen even if a wake-up is
 * lost. On `close` it commits what is pending, closes the database, posts
 * `closed` and exits.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { DamagedFileError, GroupCommit } from "./group_commit.ts";
import { DATA, FrameReader, FrameWriter, SharedPipe, SPACE } from "./shared_pipe.ts";
import { SqliteDatabase } from "./sqlite/sqlite_database.ts";
import type {
  FromWriter,
  InitMessage,
  PipeFromWriter,
  PipeToWriter,
  ToWriter,
  WriterStats,
} from "./writer_messages.ts";

/** The longest single sleep, in ms. */
const MAX_WAIT_MS = 100;

function post(message: FromWriter): void {
  self.postMessage(message);
}

/** Writes a message to the main thread, waiting for room when its pipe is full. */
function sendAll(out: FrameWriter, pipe: SharedPipe, message: PipeFromWriter): void {
  if (out.send(message)) return;
  while (!pipe.stopped) {
    const seen = Atomics.load(pipe.cells, SPACE);
    if (out.flush()) return;
    pipe.waitSync(SPACE, seen, MAX_WAIT_MS);
  }
}

/** Serves the pipes until `close` (or a stop request); returns the writer's counters. */
function serve(writer: GroupCommit, input: SharedPipe): WriterStats {
  const reader = new FrameReader<PipeToWriter>(input);
  for (;;) {
    const seen = Atomics.load(input.cells, DATA);
    if (input.stopped) return writer.stats;
    let got = false;
    for (const message of reader.drain()) {
      got = true;
      if (message.type === "ops") writer.enqueue(message.ops);
      else if (message.type === "close") return writer.stats;
      else throw new Error(`Unexpected message "${(message as { type: unknown }).type}"`);
    }
    // Drain again before committing: what arrived meanwhile joins this batch.
    if (got) continue;
    const due = writer.runDue();
    if (Atomics.load(input.cells, DATA) !== seen) continue;
    const waitMs = due === null ? MAX_WAIT_MS : Math.min(MAX_WAIT_MS, due - performance.now());
    if (waitMs > 0) input.waitSync(DATA, seen, waitMs);
  }
}

function init(message: InitMessage): void {
  let db: SqliteDatabase;
  try {
    db = SqliteDatabase.open(message.path, { sync: message.sync });
  } catch (error) {
    post({ type: "init_failed", message: error instanceof Error ? error.message : String(error) });
    return;
  }
  const input = new SharedPipe(message.toWriter);
  const output = new SharedPipe(message.fromWriter);
  const out = new FrameWriter(output);
  const writer = new GroupCommit(
    db,
    (results, batch) => sendAll(out, output, { type: "results", results, batch }),
  );
  post({ type: "ready", schemaVersion: db.schemaVersion });
  // An error thrown here is the worker's uncaught error: the store fails every call.
  let stats: WriterStats;
  try {
    stats = serve(writer, input);
  } catch (error) {
    if (!(error instanceof DamagedFileError)) throw error;
    // Closed as it is: committing what is pending would write to the damaged file.
    post({ type: "damaged", message: error.message });
    self.close();
    return;
  }
  if (!input.stopped) writer.close();
  post({ type: "closed", stats });
  self.close();
}

self.onmessage = (event: MessageEvent<ToWriter>) => {
  const message = event.data;
  if (message.type === "init") return init(message);
  throw new Error(`Unexpected message "${(message as { type: unknown }).type}"`);
};
