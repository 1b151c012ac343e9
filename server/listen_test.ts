import assert from "node:assert/strict";
import { formatAddr, listenAll } from "./listen.ts";

function closeAll(listeners: Deno.Listener[]) {
  for (const l of listeners) l.close();
}

Deno.test("listenAll() binds 127.0.0.1 and ::1 on the same free port", () => {
  const listeners = listenAll(["127.0.0.1", "::1"], 0);
  try {
    const addrs = listeners.map((l) => l.addr as Deno.NetAddr);
    assert.equal(addrs.length, 2);
    assert.equal(addrs[0]!.hostname, "127.0.0.1");
    assert.equal(addrs[1]!.hostname, "::1");
    assert.equal(addrs[0]!.port, addrs[1]!.port);
    assert.notEqual(addrs[0]!.port, 0);
    assert.equal(formatAddr(addrs[1]!), `[::1]:${addrs[1]!.port}`);
  } finally {
    closeAll(listeners);
  }
});

Deno.test("listenAll() accepts bracketed IPv6 and drops duplicate hosts", () => {
  const listeners = listenAll(["[::1]", "::1", "127.0.0.1"], 0);
  try {
    assert.deepEqual(listeners.map((l) => (l.addr as Deno.NetAddr).hostname), ["::1", "127.0.0.1"]);
  } finally {
    closeAll(listeners);
  }
});

Deno.test("listenAll() fails with AddrInUse when a fixed port is taken and leaves nothing open", () => {
  const taken = Deno.listen({ hostname: "::1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    assert.throws(() => listenAll(["127.0.0.1", "::1"], port), Deno.errors.AddrInUse);
    // 127.0.0.1 was bound first and must have been closed again.
    const again = Deno.listen({ hostname: "127.0.0.1", port });
    again.close();
  } finally {
    taken.close();
  }
});
