import assert from "node:assert/strict";
import { formatAddr, listenAll, planListeners } from "./listen.ts";
import { Logger } from "./log.ts";

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

/**
 * A port held on ::1 and free on 127.0.0.1. Another process on the machine
 * may hold 127.0.0.1 on the port picked for ::1: then another is picked.
 */
function takenOnIpv6Only(): { taken: Deno.Listener; port: number } {
  for (let tries = 0;; tries++) {
    const taken = Deno.listen({ hostname: "::1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return { taken, port };
    } catch (error) {
      taken.close();
      if (!(error instanceof Deno.errors.AddrInUse) || tries === 20) throw error;
    }
  }
}

Deno.test("listenAll() fails with AddrInUse when a fixed port is taken and leaves nothing open", () => {
  const { taken, port } = takenOnIpv6Only();
  try {
    assert.throws(() => listenAll(["127.0.0.1", "::1"], port), Deno.errors.AddrInUse);
    // 127.0.0.1 was bound first and must have been closed again.
    const again = Deno.listen({ hostname: "127.0.0.1", port });
    again.close();
  } finally {
    taken.close();
  }
});

Deno.test("planListeners() binds wildcards first and leaves out what they cover", () => {
  const h = (host: string, address = host) => ({ host, address });
  assert.deepEqual(planListeners([h("0.0.0.0"), h("::")], { dualStack: true }), {
    bind: ["::"],
    covered: [{ host: "0.0.0.0", by: "::" }],
  });
  assert.deepEqual(planListeners([h("0.0.0.0"), h("::")], { dualStack: false }), {
    bind: ["::", "0.0.0.0"],
    covered: [],
  });
  assert.deepEqual(
    planListeners([h("127.0.0.1"), h("::1"), h("::")], { dualStack: true }),
    { bind: ["::"], covered: [{ host: "127.0.0.1", by: "::" }, { host: "::1", by: "::" }] },
  );
  assert.deepEqual(
    planListeners([h("127.0.0.1"), h("::1"), h("0.0.0.0")], { dualStack: true }),
    { bind: ["0.0.0.0", "::1"], covered: [{ host: "127.0.0.1", by: "0.0.0.0" }] },
  );
  assert.deepEqual(
    planListeners([h("127.0.0.1"), h("::1"), h("::")], { dualStack: false }),
    { bind: ["::", "127.0.0.1"], covered: [{ host: "::1", by: "::" }] },
  );
});

Deno.test("planListeners() binds an address named twice once", () => {
  assert.deepEqual(
    planListeners([
      { host: "127.0.0.1", address: "127.0.0.1" },
      { host: "localhost", address: "127.0.0.1" },
      { host: "::1", address: "::1" },
    ], { dualStack: true }),
    { bind: ["127.0.0.1", "::1"], covered: [{ host: "localhost", by: "127.0.0.1" }] },
  );
  // A host that could not be resolved is only matched as it is.
  assert.deepEqual(
    planListeners([{ host: "db.invalid", address: "db.invalid" }, {
      host: "0.0.0.0",
      address: "0.0.0.0",
    }], { dualStack: true }),
    { bind: ["0.0.0.0", "db.invalid"], covered: [] },
  );
});

Deno.test("listenAll() binds 127.0.0.1 and localhost, one address, once", () => {
  const logged: string[] = [];
  const logger = new Logger({ level: "info", write: (line) => logged.push(line) });
  const listeners = listenAll(["127.0.0.1", "localhost"], 0, { logger });
  try {
    const addrs = listeners.map((l) => l.addr as Deno.NetAddr);
    const shown = addrs.map(formatAddr);
    assert.equal(new Set(shown).size, shown.length, `no address twice: ${shown}`);
    assert.equal(addrs[0]!.hostname, "127.0.0.1");
    assert.ok(addrs.every((addr) => addr.port === addrs[0]!.port));
    if (addrs.length === 1) {
      // localhost is 127.0.0.1 here: logged as covered, not bound again
      assert.match(logged.join("\n"), /INFO listen\.covered host=localhost by=127\.0\.0\.1:\d+/);
    }
  } finally {
    closeAll(listeners);
  }
});

Deno.test("planListeners() takes an IPv4-mapped IPv6 address for the IPv4 address it names", () => {
  const hosts = (...names: string[]) => names.map((name) => ({ host: name, address: name }));
  assert.deepEqual(
    planListeners(hosts("::ffff:127.0.0.1", "127.0.0.1"), { dualStack: true }),
    { bind: ["::ffff:127.0.0.1"], covered: [{ host: "127.0.0.1", by: "::ffff:127.0.0.1" }] },
  );
  assert.deepEqual(
    planListeners(hosts("127.0.0.1", "::ffff:0.0.0.0"), { dualStack: true }),
    { bind: ["::ffff:0.0.0.0"], covered: [{ host: "127.0.0.1", by: "::ffff:0.0.0.0" }] },
  );
  // `::` takes IPv4-mapped connections only where it takes IPv4 ones.
  assert.deepEqual(
    planListeners(hosts("::", "::ffff:127.0.0.1"), { dualStack: false }).bind,
    ["::", "::ffff:127.0.0.1"],
  );
});

Deno.test("listenAll() binds ::ffff:127.0.0.1 and 127.0.0.1, one address, once, on a free port", () => {
  // Both bound on one port would fail AddrInUse, 20 times over, as if another program held it.
  try {
    Deno.listen({ hostname: "::ffff:127.0.0.1", port: 0 }).close();
  } catch {
    return; // no dual-stack IPv6 here: such an address cannot be bound at all
  }
  const listeners = listenAll(["::ffff:127.0.0.1", "127.0.0.1"], 0);
  try {
    assert.equal(listeners.length, 1);
  } finally {
    closeAll(listeners);
  }
});

Deno.test("listenAll() binds 0.0.0.0 and :: in either order, :: first, on one port", async () => {
  for (const hosts of [["0.0.0.0", "::"], ["::", "0.0.0.0"], ["[::]", "0.0.0.0", "127.0.0.1"]]) {
    const listeners = listenAll(hosts, 0);
    try {
      const addrs = listeners.map((l) => l.addr as Deno.NetAddr);
      assert.equal(addrs[0]!.hostname, "::", hosts.join(","));
      // [::] alone where it is dual-stack (Linux's default), 0.0.0.0 beside it where not.
      assert.ok(addrs.length <= 2 && addrs.every((a) => a.port === addrs[0]!.port));
      assert.ok(addrs.slice(1).every((a) => a.hostname === "0.0.0.0"), JSON.stringify(addrs));
      for (const hostname of ["127.0.0.1", "::1"]) {
        const conn = await Deno.connect({ hostname, port: addrs[0]!.port });
        conn.close();
      }
    } finally {
      closeAll(listeners);
    }
  }
});

Deno.test("listenAll() still fails with AddrInUse naming the address when another listener holds it", () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    for (const hosts of [["127.0.0.1", "localhost"], ["::1", "127.0.0.1"], ["0.0.0.0", "::"]]) {
      assert.throws(
        () => listenAll(hosts, port),
        (error) =>
          error instanceof Deno.errors.AddrInUse &&
          /^Cannot listen on (127\.0\.0\.1|0\.0\.0\.0|\[::\]):\d+: /.test(error.message),
        hosts.join(","),
      );
    }
    // ::1 was bound first and closed again.
    Deno.listen({ hostname: "::1", port }).close();
  } finally {
    taken.close();
  }
});

/** `Deno.listen`, except that `refused` addresses fail as the system would refuse them. */
function bindRefusing(refused: Record<string, () => Error>) {
  return (hostname: string, port: number): Deno.TcpListener => {
    const refusal = refused[hostname];
    if (refusal) throw refusal();
    return Deno.listen({ hostname, port, transport: "tcp" });
  };
}

const NO_IPV6 = {
  "::1": () => new Deno.errors.AddrNotAvailable("Cannot assign requested address (os error 99)"),
};

Deno.test("listenAll() names the address and port when the system refuses a port below 1024", () => {
  const bind = (hostname: string, port: number): Deno.TcpListener => {
    if (port < 1024) throw new Deno.errors.PermissionDenied("Permission denied (os error 13)");
    return Deno.listen({ hostname, port, transport: "tcp" });
  };
  assert.throws(
    () => listenAll(["127.0.0.1"], 80, { bind }),
    (error) =>
      error instanceof Deno.errors.PermissionDenied &&
      error.message === "Cannot listen on 127.0.0.1:80: Permission denied (os error 13)",
  );
});

Deno.test({
  name: "listenAll() names the address and port of a real port below 1024 it may not take",
  fn() {
    // Root (or a machine with ip_unprivileged_port_start = 0) may bind any
    // port: the simulated refusal above stands in for it then. (Deno.uid()
    // would need --allow-sys.)
    let listeners: Deno.TcpListener[];
    try {
      listeners = listenAll(["127.0.0.1"], 1);
    } catch (error) {
      assert.ok(error instanceof Deno.errors.PermissionDenied, String(error));
      assert.match(error.message, /^Cannot listen on 127\.0\.0\.1:1: /);
      return;
    }
    closeAll(listeners);
    console.log("skipped: port 1 could be bound here (running as root?); see the simulated test");
  },
});

Deno.test("listenAll() with the default hosts skips ::1 where IPv6 is off, with a warning, and listens on 127.0.0.1", () => {
  const lines: string[] = [];
  const logger = new Logger({ write: (line) => lines.push(line) });
  const listeners = listenAll(["127.0.0.1", "::1"], 0, {
    bind: bindRefusing(NO_IPV6),
    defaultHosts: true,
    logger,
  });
  try {
    assert.deepEqual(listeners.map((l) => (l.addr as Deno.NetAddr).hostname), ["127.0.0.1"]);
    const port = (listeners[0]!.addr as Deno.NetAddr).port;
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, new RegExp(` WARN listen\\.skipped address=\\[::1\\]:${port} `));
  } finally {
    closeAll(listeners);
  }
});

Deno.test("listenAll() fails on a host the operator named that this machine cannot bind, naming it", () => {
  assert.throws(
    () => listenAll(["127.0.0.1", "::1"], 0, { bind: bindRefusing(NO_IPV6) }),
    (error) => error instanceof Deno.errors.AddrNotAvailable && /\[::1\]:\d+/.test(error.message),
  );
});

Deno.test("listenAll() with the default hosts fails when neither family can be bound", () => {
  const bind = bindRefusing({
    ...NO_IPV6,
    "127.0.0.1": () => new Error("Address family not supported by protocol (os error 97)"),
  });
  assert.throws(
    () => listenAll(["127.0.0.1", "::1"], 0, { bind, defaultHosts: true }),
    /Cannot listen on 127\.0\.0\.1:0: Address family not supported/,
  );
});
