/**
 * Opens the store that `--db` names: a PostgreSQL URL (§9) selects the
 * PostgreSQL store, shared with every daemon on that database; anything
 * else is a SQLite file (or `:memory:`), the embedded default.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { PostgresStore } from "./postgres/postgres_store.ts";
import { isPostgresUrl } from "./postgres/postgres_url.ts";
import { SqliteStore } from "./sqlite_store.ts";
import type { Store } from "./store.ts";

/** Options of {@linkcode openStore}. */
export interface OpenStoreOptions {
  /** `--db`: a SQLite file, `:memory:`, or `postgres://…`. */
  db: string;
  /** `--sync`: SQLite's `synchronous`, PostgreSQL's `synchronous_commit` (on or off). @default {"full"} */
  sync?: "full" | "normal";
  /**
   * `--max-pedidos`, checked against the cluster's (PostgreSQL only). A daemon
   * gives it; absent, a PostgreSQL store does not join the cluster
   * (`pedidos usuarios`). @default {none}
   */
  capacity?: number;
  /** `--lease-ms` (PostgreSQL only). @default 30000 */
  leaseMs?: number;
  /** Where the PostgreSQL store logs outages and reconnections. */
  logger?: Logger;
  /** See {@linkcode PostgresStoreOptions.onFatal} and {@linkcode SqliteStoreOptions.onFatal}. */
  onFatal?: (error: Error) => void;
}

/**
 * Opens (creating or upgrading) the store named by `db`.
 *
 * @throws {Error} Why it cannot be opened, naming it (a URL without its password).
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const sync = options.sync ?? "full";
  if (isPostgresUrl(options.db)) {
    return PostgresStore.open({
      url: options.db,
      sync,
      ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.onFatal ? { onFatal: options.onFatal } : {}),
    });
  }
  const store = await SqliteStore.open({
    path: options.db,
    sync,
    ...(options.onFatal ? { onFatal: options.onFatal } : {}),
  });
  options.logger?.info("store.opened", { db: options.db, sync, capacity: options.capacity ?? 6 });
  return store;
}
