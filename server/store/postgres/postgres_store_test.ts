import { freshDatabase, pgSkipReason } from "../../../tests/postgres_util.ts";
import { runStoreConformance } from "../store_conformance.ts";
import { runSharedQueueConformance } from "../shared_queue_conformance.ts";
import { PostgresStore } from "./postgres_store.ts";

runStoreConformance({
  name: "PostgresStore",
  ignore: pgSkipReason,
  async open() {
    const db = await freshDatabase();
    const store = await PostgresStore.open({ url: db.url, capacity: 6 });
    const close = store.close.bind(store);
    let dropped: Promise<void> | null = null;
    // The suite closes the store (maybe twice): the database goes with it.
    store.close = () => dropped ??= close().finally(() => db[Symbol.asyncDispose]());
    return store;
  },
});

runSharedQueueConformance({
  name: "PostgresStore (shared queue)",
  ignore: pgSkipReason,
  async database() {
    const db = await freshDatabase();
    return {
      open: (options = {}) =>
        PostgresStore.open({ url: db.url, capacity: 6, connectTimeoutS: 5, ...options }),
      [Symbol.asyncDispose]: () => db[Symbol.asyncDispose](),
    };
  },
});
