import assert from "node:assert/strict";
import { isFromProcessor } from "./processor_messages.ts";

Deno.test("isFromProcessor() takes the worker's own messages", () => {
  for (
    const message of [
      { type: "ready", worker: 1 },
      { type: "init_failed", message: "no" },
      { type: "ready", worker: 1, key: "k" },
      { type: "init_failed", message: "no", key: "k" },
      { type: "done", jobId: 3, result: null },
      { type: "done", jobId: 3, result: '{"total":3}' },
      { type: "failed", jobId: 3, message: "boom" },
      { type: "stray", message: "late" },
      {
        type: "ranMany",
        outcomes: [
          { jobId: 1, ok: true, result: 6.5, startedAt: 1, endedAt: 2 },
          { jobId: 2, ok: false, message: "x", startedAt: 2, endedAt: 3 },
        ],
      },
    ]
  ) assert.ok(isFromProcessor(message), JSON.stringify(message));
});

Deno.test("isFromProcessor() refuses what a processor module might post itself", () => {
  for (
    const message of [
      null,
      undefined,
      "hola",
      7,
      [],
      {},
      { type: "PING" },
      { type: "ready", worker: 1, key: 5 },
      { type: "init_failed", message: "no", key: null },
      { type: "done" },
      { type: "done", jobId: "3", result: null },
      { type: "done", jobId: 3, result: { total: 3 } },
      { type: "failed", jobId: 3 },
      { type: "ranMany", outcomes: 5 },
      { type: "ranMany", outcomes: [null] },
      { type: "ranMany", outcomes: [{ jobId: 1, ok: true, result: 1 }] },
    ]
  ) assert.equal(isFromProcessor(message), false, JSON.stringify(message));
});
