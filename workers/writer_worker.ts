/**
 * The single writer: a module Worker that owns the only writable connection
 * to the SQLite database. The main thread's SQLite store starts it and
 * speaks the messages of `writer_messages.ts`; the work itself is
 * {@linkcode GroupCommit}'s. This file is only the message adapter.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { GroupCommit } from "./group_commit.ts";
import { SqliteDatabase } from "./sqlite/sqlite_database.ts";
import type { FromWriter, InitMessage, ToWriter, WriterStats } from "./writer_messages.ts";

let writer: GroupCommit | null = null;

function post(message: FromWriter): void {
  self.postMessage(message);
}

function init({ path, sync }: InitMessage): void {
  let db: SqliteDatabase;
  try {
    db = SqliteDatabase.open(path, { sync });
  } catch (error) {
    post({ type: "init_failed", message: error instanceof Error ? error.message : String(error) });
    return;
  }
  writer = new GroupCommit(db, (results, batch) => post({ type: "results", results, batch }));
  post({ type: "ready", schemaVersion: db.schemaVersion });
}

function close(): void {
  const stats: WriterStats = writer?.stats ??
    { batches: 0, ops: 0, largestBatch: 0, failedBatches: 0 };
  try {
    writer?.close();
  } finally {
    writer = null;
    post({ type: "closed", stats });
    self.close();
  }
}

function open(): GroupCommit {
  if (writer === null) throw new Error("Cannot run operations: the writer is not open");
  return writer;
}

self.onmessage = (event: MessageEvent<ToWriter>) => {
  const message = event.data;
  switch (message.type) {
    case "init":
      return init(message);
    case "ops":
      return open().enqueue(message.ops);
    case "close":
      return close();
    default:
      throw new Error(`Unexpected message "${(message as { type: unknown }).type}"`);
  }
};
