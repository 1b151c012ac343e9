/**
 * The messages between the main thread and the writer worker
 * (`writer_worker.ts`). Pure types, no I/O.
 *
 * Handshake, by `postMessage`: the main thread sends `init` with two
 * shared pipes (`shared_pipe.ts`); the writer answers `ready` or
 * `init_failed`. From then on they speak through the pipes: the main thread
 * sends `ops` (many operations, each with a sequence number) and the writer
 * answers `results` (one message per committed batch, one result per
 * operation). `close` flushes what is pending; the writer answers it with a
 * `closed` `postMessage`, after which it exits. Everything in a pipe is
 * JSON, so every operation and value here is plain data.
 *
 * @module
 */

import type { ListFilter, Pedido, PedidoNuevo } from "../server/protocol/messages.ts";
import type { ChangeResult, Outcome, Rol, Sesion, Usuario } from "../server/store/store.ts";

/** One operation of a batch, discriminated on `op`. */
export type Op =
  | { op: "insert"; pedido: PedidoNuevo; receivedAt: string; owner: number | null }
  | { op: "markStarted"; id: number; worker: number; at: string }
  | { op: "markFinished"; id: number; outcome: Outcome }
  | { op: "markRan"; id: number; worker: number; startedAt: string; outcome: Outcome }
  | { op: "markPending"; id: number }
  | { op: "cancel"; id: number; at: string; owner?: number }
  | { op: "retry"; id: number; owner?: number }
  | { op: "setRole"; usuario: string; rol: Rol }
  | { op: "prune"; before: string; limit: number }
  | { op: "createUser"; usuario: string; hash: string; at: string }
  | { op: "createSession"; tokenHash: string; usuarioId: number; expira: string }
  | { op: "deleteExpiredSessions"; now: string }
  // Reads: sent to the writer only for `:memory:` databases.
  | { op: "get"; id: number; owner?: number }
  | { op: "findByClave"; clave: string }
  | { op: "list"; filter: ListFilter }
  | { op: "unfinished" }
  | { op: "findUser"; usuario: string }
  | { op: "findSession"; tokenHash: string; now: string };

/** What each operation resolves to. */
export interface OpValues {
  /** The new order's id, or the order already stored with its `clave`. */
  insert: number | Pedido;
  markStarted: void;
  markFinished: void;
  markRan: void;
  markPending: void;
  cancel: ChangeResult;
  retry: ChangeResult;
  setRole: boolean;
  prune: number;
  get: Pedido | null;
  findByClave: Pedido | null;
  list: Pedido[];
  unfinished: Pedido[];
  createUser: number | null;
  createSession: void;
  deleteExpiredSessions: number;
  findUser: Usuario | null;
  findSession: Sesion | null;
}

/** The value an operation `O` resolves to. */
export type OpValue<O extends Op> = OpValues[O["op"]];

/** An operation with the sequence number its result will carry. */
export type SequencedOp = Op & { seq: number };

/** The result of one operation: committed (`ok`), or not committed. */
export type OpResult =
  | { seq: number; ok: true; value: unknown }
  | {
    seq: number;
    ok: false;
    /** SQLite's message (or the store's), e.g. `database or disk is full`. */
    error: string;
  };

/** One committed batch, as the metrics see it (§10). */
export interface BatchTiming {
  /** Operations in the batch. */
  size: number;
  /** From `BEGIN` to the last result, in ms (one-by-one retries included). */
  commitMs: number;
}

/** Counters the writer keeps and sends with `closed`. */
export interface WriterStats {
  /** Group transactions run (not counting one-by-one retries). */
  batches: number;
  /** Operations received. */
  ops: number;
  /** Operations in the largest batch. */
  largestBatch: number;
  /** Batches that failed and were retried one operation at a time. */
  failedBatches: number;
}

/** The `init` message: what the writer opens. */
export interface InitMessage {
  type: "init";
  /** Database file, or `:memory:`. */
  path: string;
  sync: "full" | "normal";
  /** The pipe main thread → writer (`SharedPipe.create`). */
  toWriter: SharedArrayBuffer;
  /** The pipe writer → main thread. */
  fromWriter: SharedArrayBuffer;
}

/** Messages the main thread posts to the writer. */
export type ToWriter = InitMessage;

/** Messages the writer posts to the main thread. */
export type FromWriter =
  | { type: "ready"; schemaVersion: number }
  | { type: "init_failed"; message: string }
  | { type: "closed"; stats: WriterStats }
  /** The database file is damaged (SQLite's SQLITE_CORRUPT or SQLITE_NOTADB): the writer stopped. */
  | { type: "damaged"; message: string };

/** Messages the main thread sends through the pipe `toWriter`. */
export type PipeToWriter =
  | { type: "ops"; ops: SequencedOp[] }
  | { type: "close" };

/** Messages the writer sends through the pipe `fromWriter`. */
export type PipeFromWriter = { type: "results"; results: OpResult[]; batch: BatchTiming };
