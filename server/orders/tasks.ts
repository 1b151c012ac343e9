/**
 * TASK (§2.5): a small task run on the processor pool. It holds a capacity
 * slot while it runs, so a full daemon answers `queue_full`; nothing is
 * stored. In a cluster (§9) the capacity is the cluster's: a task is also
 * refused while the database counts the cluster full. (Its slot is held on
 * this daemon only; tasks are not stored, so other daemons do not see it.)
 *
 * @module
 */

import type { Capacity } from "../capacity.ts";
import type { Logger } from "../log.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { TaskSpec } from "../protocol/messages.ts";
import type { TaskReply } from "../protocol/replies.ts";
import type { ProcessorPool } from "../processing/processor_pool.ts";
import { PoolClosedError } from "../processing/worker_pool.ts";

/** What {@linkcode runTask} needs. */
export interface TaskDeps {
  capacity: Capacity;
  pool: ProcessorPool;
  logger: Logger;
  /**
   * The cluster's room for more unfinished work, from the database; null
   * when it cannot be read now (a task needs no database, so it then runs
   * within this daemon's capacity). @default {none: this daemon's capacity only}
   */
  clusterRoom?: () => Promise<number | null>;
  /**
   * The largest reply line in bytes (`--max-reply-bytes`): a result that
   * would not fit is refused (`upper` of a text can triple its UTF-8 size:
   * `ΐ`, 2 bytes, is `Ϊ́`, 6). @default {no limit}
   */
  maxReplyBytes?: number;
}

/**
 * Runs a task on the pool, holding a slot meanwhile.
 *
 * @throws {ProtocolError} `queue_full`, `shutting_down`, `internal`;
 * `invalid_task` when the result is not a finite number, or its reply would
 * be larger than `maxReplyBytes`.
 */
export async function runTask(task: TaskSpec, deps: TaskDeps): Promise<TaskReply> {
  using permit = deps.capacity.tryTake() ?? undefined;
  if (permit === undefined) throw new ProtocolError("queue_full");
  const room = await deps.clusterRoom?.();
  if (room != null && room <= 0) throw new ProtocolError("queue_full");
  let result;
  try {
    result = await deps.pool.submit({ kind: "task", task });
  } catch (error) {
    if (error instanceof PoolClosedError) throw new ProtocolError("shutting_down");
    deps.logger.error("task.failed", { task: task.name, error: String(error) });
    throw new ProtocolError("internal", "❌ La tarea falló; reintente.", { cause: error });
  }
  // JSON has no Infinity: `sum` of [1e308, 1e308] would go out as `"result":null`.
  if (typeof result === "number" && !Number.isFinite(result)) {
    throw new ProtocolError(
      "invalid_task",
      "❌ El resultado de la tarea no cabe en un número JSON (es infinito).",
      { campo: "task.args" },
    );
  }
  if (result === null) throw new ProtocolError("internal", "❌ La tarea no dio resultado.");
  const reply: TaskReply = { ok: true, result };
  if (deps.maxReplyBytes !== undefined && typeof result === "string") {
    // The reply line as it is sent: compact JSON and its newline.
    const bytes = new TextEncoder().encode(JSON.stringify(reply)).length + 1;
    if (bytes > deps.maxReplyBytes) {
      throw new ProtocolError(
        "invalid_task",
        `❌ El resultado de la tarea (${bytes} bytes) no cabe en una respuesta ` +
          `(--max-reply-bytes ${deps.maxReplyBytes}); envíe un texto más corto.`,
        { campo: "task.s" },
      );
    }
  }
  return reply;
}
