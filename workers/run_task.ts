/**
 * The small tasks of docs/protocol.md §2.5. Pure; the processor worker runs them.
 *
 * @module
 */

import type { TaskSpec } from "../server/protocol/messages.ts";

/**
 * Runs one task and returns its result.
 *
 * @example Usage
 * ```ts
 * import { runTask } from "./run_task.ts";
 * console.log(runTask({ name: "sum", args: [1, 2, 3.5] })); // 6.5
 * ```
 */
export function runTask(task: TaskSpec): number | string {
  switch (task.name) {
    case "sum": {
      const total = task.args.reduce((total, n) => total + n, 0);
      // A running total can overflow where the sum does not ([1e308, 1e308, -1e308]
      // is 1e308): then the exact sum, correctly rounded, says whether it really does.
      return Number.isFinite(total) ? total : Math.sumPrecise(task.args);
    }
    case "upper":
      return task.s.toUpperCase();
    case "lower":
      return task.s.toLowerCase();
    default:
      throw new TypeError(`Unexpected task "${(task as { name: string }).name}"`);
  }
}
