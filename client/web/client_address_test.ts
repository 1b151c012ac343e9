import assert from "node:assert/strict";
import { addressKey } from "./client_address.ts";

Deno.test("addressKey() counts IPv4 as is and IPv6 by its /64", () => {
  assert.equal(addressKey("203.0.113.9"), "203.0.113.9");
  assert.equal(addressKey("::ffff:203.0.113.9"), "203.0.113.9", "IPv4 through a dual-stack socket");
  assert.equal(addressKey("2001:db8:0:7::1"), "2001:db8:0:7::/64");
  assert.equal(addressKey("2001:0db8:0000:0007:ffff:1:2:3"), "2001:db8:0:7::/64");
  assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(addressKey("::1"), "0:0:0:0::/64");
  assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(addressKey("desconocida"), "desconocida");
});
