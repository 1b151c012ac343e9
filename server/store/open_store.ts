/**
 * Opens the store that `--db` names. SQLite (a file, or `:memory:`) is the
 * embedded default.
 *
 * @module
 */

import { SqliteStore } from "./sqlite_store.ts";
import type { Store } from "./store.ts";

/** Options of {@linkcode openStore}. */
export interface OpenStoreOptions {
  /** `--db`: a SQLite file or `:memory:`. */
  db: string;
  /** SQLite `synchronous` mode. @default {"full"} */
  sync?: "full" | "normal";
}

/**
 * Opens (creating or upgrading) the store named by `db`.
 *
 * @throws {Error} Why it cannot be opened, naming it.
 */
export function openStore(options: OpenStoreOptions): Promise<Store> {
  return SqliteStore.open({ path: options.db, sync: options.sync ?? "full" });
}
