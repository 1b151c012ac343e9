import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { driverOptions, sslOptions } from "./driver_options.ts";
import { parsePostgresUrl } from "./postgres_url.ts";
import postgres from "postgres";
import { freshDatabase, pgTest } from "../../../tests/postgres_util.ts";
import { testWith } from "../../../tests/permissions.ts";

Deno.test("driverOptions() asks for TLS as each libpq sslmode means; allow takes a server without TLS", () => {
  const ssl = (query: string) =>
    driverOptions(parsePostgresUrl(`postgres://ana@127.0.0.1/pedidos${query}`), {
      poolSize: 1,
      connectTimeoutS: 1,
      idleInTransactionMs: 1000,
      sync: "full",
    }).ssl;
  assert.equal(ssl(""), false);
  assert.equal(ssl("?sslmode=disable"), false);
  assert.equal(ssl("?sslmode=allow"), "prefer", "a server without TLS is taken, not refused");
  assert.equal(ssl("?sslmode=prefer"), "prefer");
  assert.equal(ssl("?sslmode=require"), "require");
  assert.equal(
    typeof ssl("?sslmode=verify-ca&sslrootcert=ca.pem"),
    "object",
    "verified, by the options below",
  );
  assert.equal(typeof ssl("?sslmode=verify-full"), "object");
});

/**
 * A TLS server on 127.0.0.1 with the certificate `name` of tests/fixtures/tls
 * (test-only keys: `ip` is for IP:127.0.0.1, `localhost` for DNS:localhost,
 * both signed by `ca.pem`).
 */
async function tlsServer(name: "ip" | "localhost") {
  const dir = new URL("../../../tests/fixtures/tls/", import.meta.url);
  const server = tls.createServer({
    key: Deno.readTextFileSync(new URL(`${name}.key`, dir)),
    cert: Deno.readTextFileSync(new URL(`${name}.pem`, dir)),
  }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    ca: Deno.readTextFileSync(new URL("ca.pem", dir)),
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Whether a TLS handshake with `ssl` to a server on 127.0.0.1:`port` succeeds
 * ("ok", else the error's message) when the URL names `host`, the way the
 * driver (postgres 3.4.9) makes it: on a connected socket, with `host` as the
 * server name unless it is an IP address, its own modes unverified.
 */
function handshake(
  host: string,
  port: number,
  ssl: ReturnType<typeof sslOptions>,
): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      const options = typeof ssl === "object" ? ssl : { rejectUnauthorized: false };
      const secure = tls.connect({
        socket,
        servername: net.isIP(host) ? undefined : host,
        ...options,
      });
      secure.once("secureConnect", () => {
        secure.destroy();
        resolve("ok");
      });
      secure.once("error", (error) => {
        secure.destroy();
        resolve(error.message);
      });
    });
    socket.once("error", (error) => resolve(`socket: ${error.message}`));
  });
}

const UNKNOWN_AUTHORITY = /unable to verify|self.signed|unknown ?issuer|UnknownIssuer/i;
const WRONG_NAME = /altnames|does not match|not cert's CN/i;

testWith("read")(
  "sslmode verify-full checks the URL's host, an IP address too; verify-ca the chain only; sslrootcert is trusted",
  async () => {
    const tryWith = (host: string, mode: string, port: number, ca?: string) => {
      const rootcert = ca === undefined ? "" : "&sslrootcert=ca.pem";
      const target = parsePostgresUrl(`postgres://ana@${host}/pedidos?sslmode=${mode}${rootcert}`);
      return handshake(host, port, sslOptions(target, ca));
    };
    {
      await using server = await tlsServer("ip");
      const { port, ca } = server;
      assert.equal(await tryWith("127.0.0.1", "verify-full", port, ca), "ok");
      // The certificate is for 127.0.0.1, not for the name in the URL.
      assert.match(await tryWith("db.example", "verify-full", port, ca), WRONG_NAME);
      // Without its authority, it does not verify.
      assert.match(await tryWith("127.0.0.1", "verify-full", port), UNKNOWN_AUTHORITY);
      // require is not verified; with sslrootcert, libpq verifies it as verify-ca.
      assert.equal(await tryWith("127.0.0.1", "require", port), "ok");
      assert.equal(await tryWith("db.example", "require", port, ca), "ok");
      assert.equal(await tryWith("db.example", "verify-ca", port, ca), "ok");
    }
    {
      // Before, with no server name for an IP host, Deno checked "localhost": this was accepted.
      await using server = await tlsServer("localhost");
      const { port, ca } = server;
      assert.match(await tryWith("127.0.0.1", "verify-full", port, ca), WRONG_NAME);
      assert.equal(await tryWith("localhost", "verify-full", port, ca), "ok");
      // verify-ca does not check the name, as in libpq (before, it was checked as verify-full).
      assert.equal(await tryWith("127.0.0.1", "verify-ca", port, ca), "ok");
    }
  },
);

pgTest({
  name:
    "driverOptions() commits as --sync says whatever the database's default: full waits for the disk, normal does not",
  async fn() {
    await using db = await freshDatabase();
    // A database whose owner made commits asynchronous: every ok would have been one.
    await db.sql.unsafe(`ALTER DATABASE ${db.name} SET synchronous_commit = off`);
    for (const [sync, expected] of [["full", "on"], ["normal", "off"]] as const) {
      const sql = postgres(driverOptions(parsePostgresUrl(db.url), {
        poolSize: 1,
        connectTimeoutS: 5,
        idleInTransactionMs: 1000,
        sync,
      }));
      try {
        const [row] = await sql`SHOW synchronous_commit`;
        assert.equal(row?.synchronous_commit, expected, `--sync ${sync}`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    }
    // The database's default is still off for any other session.
    const other = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [row] = await other`SHOW synchronous_commit`;
      assert.equal(row?.synchronous_commit, "off");
    } finally {
      await other.end({ timeout: 1 });
    }
  },
});
