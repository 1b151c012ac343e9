import assert from "node:assert/strict";
import { mayOverlap, overlapOf } from "./request_effects.ts";

Deno.test("overlapOf() puts ESTADO with esperar apart from the other reads", () => {
  assert.equal(overlapOf({ op: "ESTADO", id: 1, esperar: false, timeoutMs: 0 }), "read");
  assert.equal(overlapOf({ op: "ESTADO", id: 1, esperar: true, timeoutMs: 100 }), "wait");
  assert.equal(overlapOf({ op: "PING" }), "read");
});

Deno.test("mayOverlap(): STATS joins running reads, and no read starts beside it (a read after it never shows an older state)", () => {
  assert.equal(overlapOf({ op: "STATS" }), "settle");
  assert.equal(mayOverlap("settle", 2, "read"), true);
  assert.equal(mayOverlap("settle", 2, "read", false), false, "reads one at a time (PostgreSQL)");
  assert.equal(mayOverlap("settle", 1, "pedido"), false, "STATS after an order counts it");
  assert.equal(mayOverlap("settle", 1, "wait"), false);
  for (const next of ["read", "wait", "list", "pedido", "settle", "exclusive"] as const) {
    assert.equal(mayOverlap(next, 1, "settle"), false, `${next} after STATS`);
  }
});

Deno.test("mayOverlap(): a wait joins running reads and waits, and nothing else joins a wait", () => {
  assert.equal(mayOverlap("wait", 2, "read"), true);
  assert.equal(mayOverlap("wait", 1, "wait"), true);
  assert.equal(mayOverlap("read", 1, "wait"), false, "a read after a wait sees what it saw");
  assert.equal(mayOverlap("pedido", 1, "wait"), false);
  assert.equal(mayOverlap("exclusive", 1, "wait"), false);
  assert.equal(mayOverlap("wait", 1, "pedido"), false, "a wait after an order sees it");
  assert.equal(mayOverlap("read", 3, "read"), true);
  assert.equal(mayOverlap("exclusive", 0, null), true);
});

Deno.test("mayOverlap(): a LISTAR joins running reads, not waits, and nothing joins a LISTAR being written", () => {
  assert.equal(overlapOf({ op: "LISTAR", filter: { limit: 50 } }), "list");
  assert.equal(mayOverlap("list", 2, "read"), true);
  assert.equal(mayOverlap("list", 2, "read", false), false, "reads one at a time (PostgreSQL)");
  assert.equal(mayOverlap("list", 1, "wait"), false, "a LISTAR after a wait lists what it saw");
  assert.equal(mayOverlap("list", 1, "pedido"), false, "a LISTAR after an order lists it");
  for (const next of ["read", "wait", "list", "pedido", "settle", "exclusive"] as const) {
    assert.equal(mayOverlap(next, 1, "list"), false, `${next} after a LISTAR in pieces`);
  }
});
