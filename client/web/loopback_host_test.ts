import assert from "node:assert/strict";
import { hostOf, isLoopbackName } from "./loopback_host.ts";

Deno.test("isLoopbackName() takes this machine's names and addresses only", () => {
  for (
    const name of [
      "localhost",
      "LOCALHOST",
      "app.localhost",
      "127.0.0.1",
      "127.1.2.3",
      "::1",
      "[::1]",
      "::ffff:127.0.0.1",
      "localhost.",
    ]
  ) {
    assert.equal(isLoopbackName(name), true, name);
  }
  for (
    const name of [
      "evil.example",
      "localhost.evil.example",
      "128.0.0.1",
      "10.0.0.1",
      "::2",
      "0.0.0.0",
      "",
      "127.0.0.1.evil.example",
    ]
  ) {
    assert.equal(isLoopbackName(name), false, name);
  }
});

Deno.test("hostOf() drops the port of a Host header, IPv6 in brackets too", () => {
  assert.equal(hostOf("localhost:5000"), "localhost");
  assert.equal(hostOf("[::1]:5000"), "[::1]");
  assert.equal(hostOf("[::1]"), "[::1]");
  assert.equal(hostOf("127.0.0.1"), "127.0.0.1");
});
