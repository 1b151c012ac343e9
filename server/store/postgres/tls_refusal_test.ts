import assert from "node:assert/strict";
import { tlsRefusal } from "./tls_refusal.ts";
import { PostgresStore } from "./postgres_store.ts";
import { testWith } from "../../../tests/permissions.ts";

/**
 * A server on 127.0.0.1 that answers each connection's first 8 bytes (an
 * `SSLRequest`) with `answer`, or with nothing when null, and closes it once
 * the client sends more or goes.
 */
function fakeServer(answer: "S" | "N" | null, port = 0): { port: number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const conns = new Set<Deno.TcpConn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      void (async () => {
        const buffer = new Uint8Array(1024);
        try {
          await conn.read(buffer);
          if (answer !== null) await conn.write(new TextEncoder().encode(answer));
          await conn.read(buffer);
        } catch {
          // closed
        } finally {
          conns.delete(conn);
          try {
            conn.close();
          } catch {
            // closed
          }
        }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) conn.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test("tlsRefusal() gives a reason only when the server answers that it takes no TLS", async () => {
  {
    await using server = fakeServer("N");
    assert.match((await tlsRefusal("127.0.0.1", server.port)) ?? "", /does not support SSL/);
  }
  {
    await using server = fakeServer("S");
    assert.equal(await tlsRefusal("127.0.0.1", server.port), null);
  }
  {
    // No answer in time, and nothing listening: nothing is known.
    await using server = fakeServer(null);
    assert.equal(await tlsRefusal("127.0.0.1", server.port, { timeoutMs: 200 }), null);
  }
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = (probe.addr as Deno.NetAddr).port;
  probe.close();
  assert.equal(await tlsRefusal("127.0.0.1", closed), null);
});

// The driver reads libpq's PG* variables.
testWith("env")(
  "PostgresStore.open() stops at start, naming why, when the URL requires TLS and the server has none",
  async () => {
    await using server = fakeServer("N");
    for (const sslmode of ["require", "verify-full"]) {
      await assert.rejects(
        PostgresStore.open({
          url: `postgres://ana:s3cret@127.0.0.1:${server.port}/pedidos?sslmode=${sslmode}`,
          capacity: 6,
          connectTimeoutS: 2,
        }),
        (error: Error) => {
          assert.match(
            error.message,
            /^Cannot open database ".*": the server does not support SSL/,
          );
          assert.doesNotMatch(error.message, /s3cret/);
          return true;
        },
      );
    }
  },
);

testWith("read")(
  "PostgresStore.open() stops at start, naming the file, when the URL's sslrootcert cannot be read",
  async () => {
    await assert.rejects(
      PostgresStore.open({
        url:
          "postgres://ana:s3cret@127.0.0.1:1/pedidos?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        capacity: 6,
        connectTimeoutS: 2,
      }),
      (error: Error) => {
        assert.match(
          error.message,
          /^Cannot open database ".*": cannot read sslrootcert \/nonexistent\/ca\.pem: /,
        );
        assert.doesNotMatch(error.message, /s3cret/);
        return true;
      },
    );
  },
);

testWith("env")(
  "PostgresStore started while its server is away stops, naming why, once it finds the server has no TLS the URL requires",
  async () => {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const fatal = Promise.withResolvers<Error>();
    // Nothing listens yet: the store opens, down, and keeps trying.
    await using _store = await PostgresStore.open({
      url: `postgres://ana@127.0.0.1:${port}/pedidos?sslmode=require`,
      capacity: 6,
      connectTimeoutS: 2,
      onFatal: fatal.resolve,
    });
    await using _server = fakeServer("N", port);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("still waiting for the server after 10 s")),
        10_000,
      );
    });
    try {
      const error = await Promise.race([fatal.promise, waited]);
      assert.match(error.message, /the server does not support SSL/);
    } finally {
      clearTimeout(timer);
    }
  },
);
