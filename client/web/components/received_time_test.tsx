import assert from "node:assert/strict";
import { receivedText, ReceivedTime } from "./received_time.tsx";

/** What `receivedText()` has always drawn, with formatters made afresh for each call. */
function drawnAfresh(at: Date, now: Date, timeZone?: string): string {
  const zone = timeZone === undefined ? {} : { timeZone };
  const day = new Intl.DateTimeFormat("es", { dateStyle: "medium", ...zone });
  const clock = new Intl.DateTimeFormat("es", {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
    timeZoneName: "short",
    ...zone,
  });
  const time = clock.format(at);
  return day.format(at) === day.format(now) ? time : `${day.format(at)}, ${time}`;
}

Deno.test("receivedText() draws the time and zone, and the date for another day, in each zone asked", () => {
  const now = new Date("2024-03-10T20:00:00Z");
  assert.equal(receivedText(new Date("2024-03-10T14:03:05Z"), now, "UTC"), "14:03:05 UTC");
  assert.match(
    receivedText(new Date("2024-03-09T14:03:05Z"), now, "UTC"),
    /^.*2024, 14:03:05 UTC$/,
  );
  // 14:03 UTC on the 10th is the 11th in Tokyo: another day there than `now` (the 11th, 05:00).
  const zones = [undefined, "UTC", "Asia/Tokyo", "America/Mexico_City", "UTC", "Asia/Tokyo"];
  for (const timeZone of zones) {
    for (const hoursAgo of [0, 1, 5, 6, 12, 23, 24, 25, 48, 24 * 400]) {
      const at = new Date(now.getTime() - hoursAgo * 3_600_000 - 17_000);
      assert.equal(
        receivedText(at, now, timeZone),
        drawnAfresh(at, now, timeZone),
        `${hoursAgo} h before, in ${timeZone ?? "the gateway's zone"}`,
      );
    }
  }
  assert.throws(() => receivedText(now, now, "Mars/Olympus_Mons"), RangeError);
  assert.equal(
    String(<ReceivedTime iso="2024-03-10T14:03:05.000Z" now={now.getTime()} timeZone="UTC" />),
    '<time datetime="2024-03-10T14:03:05.000Z">14:03:05 UTC</time>',
  );
});

Deno.test("receivedText() makes its formatters once per time zone, not on every call", () => {
  const original = Intl.DateTimeFormat;
  let made = 0;
  Intl.DateTimeFormat = new Proxy(original, {
    construct(target, args) {
      made++;
      return Reflect.construct(target, args);
    },
  });
  try {
    const now = new Date("2024-03-10T20:00:00Z");
    for (let i = 0; i < 100; i++) {
      receivedText(new Date(now.getTime() - i * 3_600_000), now, "Pacific/Chatham");
    }
    assert.ok(made <= 2, `${made} formatters made for 100 times in one zone`);
  } finally {
    Intl.DateTimeFormat = original;
  }
});
