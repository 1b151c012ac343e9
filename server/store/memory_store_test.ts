import { MemoryStore } from "./memory_store.ts";
import { runStoreConformance } from "./store_conformance.ts";

runStoreConformance({ name: "MemoryStore", open: () => Promise.resolve(new MemoryStore()) });
