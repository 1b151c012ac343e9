import assert from "node:assert/strict";
import { fakeLineServer } from "../testing/fake_line_server.ts";
import { FailoverLink } from "./failover_link.ts";

Deno.test("FailoverLink opens a new connection after one is given up, closes every one at close(), and opens none after", async () => {
  await using daemon = fakeLineServer(() => '{"ok":true,"pong":true}');
  const link = new FailoverLink({ hosts: ["127.0.0.1"], port: daemon.port });
  const first = await link.get();
  link.drop(first);
  const second = await link.get();
  assert.notEqual(second, first, "a connection given up is not given again");
  link.drop(second);
  await link.close();
  // (The test's resource sanitizer fails it if either connection is still open here.)
  await assert.rejects(link.get(), /the link is closed/);
});
