import assert from "node:assert/strict";
import { driverOptions } from "./driver_options.ts";
import { parsePostgresUrl } from "./postgres_url.ts";

Deno.test("driverOptions() asks for TLS as each libpq sslmode means; allow takes a server without TLS", () => {
  const ssl = (query: string) =>
    driverOptions(parsePostgresUrl(`postgres://ana@127.0.0.1/pedidos${query}`), {
      poolSize: 1,
      connectTimeoutS: 1,
      idleInTransactionMs: 1000,
    }).ssl;
  assert.equal(ssl(""), false);
  assert.equal(ssl("?sslmode=disable"), false);
  assert.equal(ssl("?sslmode=allow"), "prefer", "a server without TLS is taken, not refused");
  assert.equal(ssl("?sslmode=prefer"), "prefer");
  assert.equal(ssl("?sslmode=require"), "require");
  assert.equal(ssl("?sslmode=verify-full"), "verify-full");
});
