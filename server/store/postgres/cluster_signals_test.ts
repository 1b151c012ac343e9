import assert from "node:assert/strict";
import postgres from "postgres";
import { Logger } from "../../log.ts";
import { freshDatabase, pgTest, storeDriverOptions } from "../../../tests/postgres_util.ts";
import { ClusterSignals } from "./cluster_signals.ts";
import { testWith } from "../../../tests/permissions.ts";

pgTest({
  name:
    "ClusterSignals: a burst of announcements reaches the other daemons as a few wake-ups, the last after the burst",
  async fn() {
    await using db = await freshDatabase();
    const driver = storeDriverOptions(db.url);
    const send = postgres({ ...driver, max: 1 });
    const logger = new Logger({ level: "error" });
    let heard = 0;
    let lastHeard = 0;
    const listener = new ClusterSignals({
      nodeId: "b",
      connection: driver,
      send: () => send,
      logger,
      onWork: () => {
        heard++;
        lastHeard = performance.now();
      },
      onFinished: () => {},
    });
    const sender = new ClusterSignals({
      nodeId: "a",
      connection: driver,
      send: () => send,
      logger,
      onWork: () => {},
      onFinished: () => {},
      gapMs: 25,
    });
    try {
      await listener.start();
      await sender.start();
      const announcements = 40;
      let lastAnnounced = 0;
      for (let i = 0; i < announcements; i++) {
        sender.announceWork();
        lastAnnounced = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await sender.close();
      for (let i = 0; i < 100 && lastHeard < lastAnnounced; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(lastHeard >= lastAnnounced, "the work announced last was heard after it");
      assert.ok(heard >= 2, `heard ${heard}`);
      assert.ok(heard < announcements / 2, `${announcements} announcements, ${heard} wake-ups`);
    } finally {
      await sender.close();
      await listener.close();
      await send.end({ timeout: 1 });
    }
  },
});

testWith("env")(
  "ClusterSignals: a finish announced in any microtask after a send's answer is sent too",
  async () => {
    for (let delay = 0; delay < 8; delay++) {
      const sent: string[] = [];
      const answers: (() => void)[] = [];
      // Stands in for the pool: each pg_notify waits until the test answers it.
      const send = () => (_strings: TemplateStringsArray, channel: string, payload: string) => {
        sent.push(`${channel} ${payload}`);
        return new Promise<void>((resolve) => answers.push(resolve));
      };
      const signals = new ClusterSignals({
        nodeId: "a",
        connection: {},
        send: send as never,
        logger: new Logger({ level: "error" }),
        onWork() {},
        onFinished() {},
        gapMs: 0,
      });
      try {
        signals.announceFinished([1]);
        while (sent.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        answers.shift()!();
        for (let i = 0; i < delay; i++) await Promise.resolve();
        signals.announceFinished([2]);
        for (let i = 0; i < 50 && sent.length < 2; i++) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        assert.deepEqual(
          sent.map((s) => s.split(" ")[1]),
          ["a:1", "a:2"],
          `${delay} microtasks after`,
        );
      } finally {
        for (const answer of answers) answer();
        await signals.close(100);
      }
    }
  },
);
