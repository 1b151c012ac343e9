/**
 * Whether the store's writes are failing: after a run of failed writes (a
 * full disk, most often), the first write that succeeds again is logged
 * `storage.recovered`. The failures themselves are logged where they happen
 * (`order.insert_failed`, `order.mark_finished_failed`, …), rate-limited, so
 * without this line an operator who freed the disk cannot tell from the log
 * that the daemon is writing again.
 *
 * @module
 */

import type { Logger } from "../log.ts";

/** Counts failed writes and logs the end of a run of them. */
export class StorageHealth {
  readonly #logger: Logger;
  /** Writes failed since the last that succeeded. */
  #failures = 0;

  /** @param logger Where `storage.recovered` (info) is written. */
  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Writes failed since the last that succeeded. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Notes how `write` ends and returns it unchanged: a failure counts, and
   * the first success after failures logs `storage.recovered` with
   * `failed_writes`.
   */
  track<T>(write: Promise<T>): Promise<T> {
    return write.then(
      (value) => {
        if (this.#failures > 0) {
          this.#logger.info("storage.recovered", { failed_writes: this.#failures });
          this.#failures = 0;
        }
        return value;
      },
      (error) => {
        this.#failures++;
        throw error;
      },
    );
  }
}
