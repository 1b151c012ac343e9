import assert from "node:assert/strict";
import { formatPeer, Logger } from "./log.ts";

Deno.test("Logger writes one line per event at or above its level", () => {
  const lines: string[] = [];
  const log = new Logger({
    level: "warn",
    write: (line) => lines.push(line),
    now: () => new Date("2026-11-23T13:16:00.123Z"),
  });
  log.info("conn.open", { peer: "1.2.3.4:5" });
  log.warn("conn.busy", { peer: "1.2.3.4:5", open: 3 });
  log.error("order.failed", { error: "disk full", note: undefined });
  assert.deepEqual(lines, [
    "2026-11-23T13:16:00.123Z WARN conn.busy peer=1.2.3.4:5 open=3",
    '2026-11-23T13:16:00.123Z ERROR order.failed error="disk full"',
  ]);
});

Deno.test("formatPeer() shows IPv4 clients of a dual-stack socket as plain IPv4", () => {
  const tcp = (hostname: string, port: number): Deno.NetAddr => ({
    transport: "tcp",
    hostname,
    port,
  });
  assert.equal(formatPeer(tcp("::ffff:127.0.0.1", 5000)), "127.0.0.1:5000");
  assert.equal(formatPeer(tcp("127.0.0.1", 5000)), "127.0.0.1:5000");
  assert.equal(formatPeer(tcp("::1", 5000)), "[::1]:5000");
  assert.equal(formatPeer(tcp("2001:db8::1", 80)), "[2001:db8::1]:80");
});

Deno.test("Logger.repeated() writes a failure that repeats once per 10 s, saying how many it held back", () => {
  const lines: string[] = [];
  let ms = Date.parse("2026-12-01T00:00:00Z");
  const logger = new Logger({ write: (line) => lines.push(line), now: () => new Date(ms) });
  for (let i = 0; i < 1000; i++) {
    logger.repeated("error", "order.insert_failed", { error: `disk is full (order ${i})` });
    ms += 5; // 1000 failures in 5 s
  }
  logger.repeated("error", "order.insert_failed", { error: "another reason" });
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[0]!, /ERROR order\.insert_failed error="disk is full \(order 0\)"$/);
  assert.match(lines[1]!, /error="another reason"$/);
  ms += 10_000;
  logger.repeated("error", "order.insert_failed", { error: "disk is full (order 1000)" });
  assert.match(lines[2]!, /error="disk is full \(order 1000\)" repeated=999$/);
});

Deno.test("Logger escapes every control character in a value: none reaches the terminal raw", () => {
  const lines: string[] = [];
  const log = new Logger({
    level: "info",
    write: (line) => lines.push(line),
    now: () => new Date("2026-11-23T13:16:00.123Z"),
  });
  log.warn("worker.crash", { error: "\u001b[2J\u001b[31mboom", del: "a\u007fb", c1: "x\u009by" });
  assert.deepEqual(lines, [
    '2026-11-23T13:16:00.123Z WARN worker.crash error="\\u001b[2J\\u001b[31mboom" del="a\\u007fb" ' +
    'c1="x\\u009by"',
  ]);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(lines[0]!, /[\u0000-\u001f\u007f-\u009f]/);
});
