import assert from "node:assert/strict";
import { LoopTurns } from "./loop_turns.ts";

/** LoopTurns whose turns pass when the test says (`pass()`), not with the event loop. */
function manualTurns(options: { budget?: number; perConnection?: number } = {}) {
  let due: (() => void)[] = [];
  const turns = new LoopTurns({ ...options, nextTurn: (fn) => due.push(fn) });
  const pass = () => {
    const run = due;
    due = [];
    for (const fn of run) fn();
  };
  return { turns, pass };
}

Deno.test("LoopTurns splits a turn's budget equally among the connections answering, 64 at most, 1 at least", () => {
  const { turns, pass } = manualTurns({ budget: 2048 });
  turns.now();
  turns.joined();
  assert.equal(turns.share(), 64, "one connection alone gets at most 64");
  for (let i = 1; i < 100; i++) turns.joined();
  assert.equal(turns.share(), 20, "2048 / 100");
  pass();
  // The next turn starts with the share of the last one's connections, before they join again.
  assert.equal(turns.now(), 1);
  assert.equal(turns.share(), 20);
  for (let i = 0; i < 5000; i++) turns.joined();
  assert.equal(turns.share(), 1);
});

Deno.test("LoopTurns gives one request each once a turn's budget is spent, however few answer", () => {
  const { turns, pass } = manualTurns({ budget: 100 });
  turns.now();
  turns.joined();
  turns.joined();
  assert.equal(turns.share(), 50);
  for (let i = 0; i < 100; i++) turns.answered();
  assert.equal(turns.share(), 1, "the burst of connections that joined early spent it");
  pass();
  turns.now();
  assert.equal(turns.share(), 50, "a new turn, a new budget");
});

Deno.test("LoopTurns counts a turn once however often it is asked within it", () => {
  const { turns, pass } = manualTurns();
  assert.equal(turns.now(), 0);
  assert.equal(turns.now(), 0);
  pass();
  assert.equal(turns.now(), 1);
  pass();
  pass(); // nobody asked in between: no turn counted
  assert.equal(turns.now(), 2);
});
