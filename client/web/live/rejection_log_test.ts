import assert from "node:assert/strict";
import { RejectionLog } from "./rejection_log.ts";

const T0 = 1_800_000_000_000;

Deno.test("RejectionLog draws a rise between two close readings of one daemon, when it was seen", () => {
  const log = new RejectionLog(60_000, 3000);
  assert.deepEqual(log.record({ at: T0, rechazados: 5, uptimeS: 100 }), []);
  assert.deepEqual(log.record({ at: T0 + 1000, rechazados: 9, uptimeS: 101 }), [
    { at: T0 + 1000, count: 4 },
  ]);
  // Kept for the span, then dropped.
  assert.equal(log.record({ at: T0 + 2000, rechazados: 9, uptimeS: 102 }).length, 1);
  assert.deepEqual(log.record({ at: T0 + 62_000, rechazados: 9, uptimeS: 162 }), []);
});

Deno.test("RejectionLog does not draw the refusals of a gap between readings as a moment", () => {
  // No Panel open for 20 s: 37 refusals then are not drawn at the reading after.
  const log = new RejectionLog(60_000, 3000);
  log.record({ at: T0, rechazados: 11, uptimeS: 100 });
  assert.deepEqual(log.record({ at: T0 + 20_000, rechazados: 48, uptimeS: 120 }), []);
  // The next rise is measured from there.
  assert.deepEqual(log.record({ at: T0 + 21_000, rechazados: 50, uptimeS: 121 }), [
    { at: T0 + 21_000, count: 2 },
  ]);
});

Deno.test("RejectionLog takes another daemon's total (a restart, another node answering) as no rise", () => {
  const log = new RejectionLog(60_000, 3000);
  log.record({ at: T0, rechazados: 5, uptimeS: 3600 });
  // Restarted: its own total, from a short uptime.
  assert.deepEqual(log.record({ at: T0 + 1000, rechazados: 11, uptimeS: 2 }), []);
  // Another node of the cluster, up for longer: its total is not a rise either.
  assert.deepEqual(log.record({ at: T0 + 2000, rechazados: 17, uptimeS: 9000 }), []);
  // Then that node's own rises are drawn.
  assert.deepEqual(log.record({ at: T0 + 3000, rechazados: 18, uptimeS: 9001 }), [
    { at: T0 + 3000, count: 1 },
  ]);
});

Deno.test("RejectionLog still draws rises from a daemon whose STATS give no uptime", () => {
  const log = new RejectionLog(60_000, 3000);
  log.record({ at: T0, rechazados: 1, uptimeS: Number.NaN });
  assert.deepEqual(log.record({ at: T0 + 1000, rechazados: 3, uptimeS: Number.NaN }), [
    { at: T0 + 1000, count: 2 },
  ]);
});
