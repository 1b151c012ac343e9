import assert from "node:assert/strict";
import { isPostgresUrl, parsePostgresUrl, redactDatabaseUrl } from "./postgres_url.ts";

Deno.test("a --db URL with a parameter given twice takes its last value, as libpq and psql do: sslmode=disable&sslmode=require requires TLS", () => {
  const target = parsePostgresUrl(
    "postgres://ana@db/pedidos?sslmode=disable&application_name=a&sslmode=require&application_name=b",
  );
  assert.equal(target.sslmode, "require");
  assert.equal(target.applicationName, "b");
  assert.throws(
    () => parsePostgresUrl("postgres://ana@db/pedidos?sslmode=require&sslmode=bogus"),
    /sslmode "bogus"/,
  );
});

Deno.test("a --db URL's database name may hold a %-encoded slash, as libpq reads it; an unencoded one is still two segments", () => {
  assert.equal(
    parsePostgresUrl("postgres://ana@db/ventas%2F2026%20%C3%A9").database,
    "ventas/2026 é",
  );
  assert.throws(() => parsePostgresUrl("postgres://ana@db/a/b"), /must name one database/);
  assert.throws(() => parsePostgresUrl("postgres://ana@db/"), /must name one database/);
});

Deno.test("a --db URL whose host is a Unix socket directory, or whose port is 0, is refused at start rather than retried forever", () => {
  assert.throws(
    () => parsePostgresUrl("postgres://ana:s3cret@%2Fvar%2Frun%2Fpostgresql/pedidos"),
    (error: Error) => /Unix socket/.test(error.message) && !error.message.includes("s3cret"),
  );
  assert.throws(() => parsePostgresUrl("postgres://ana@db:0/pedidos"), /port 0/);
  assert.equal(parsePostgresUrl("postgres://ana@%6Cocalhost/pedidos").host, "localhost");
});

Deno.test("a --db URL with a NUL (%00) in any part is refused at start, naming the part, not the password", () => {
  for (
    const [db, part] of [
      ["postgres://ana@db/pedidos?application_name=a%00b", "application_name"],
      ["postgres://an%00a@db/pedidos", "user"],
      ["postgres://ana@db/ped%00idos", "database"],
      ["postgres://ana:s3c%00ret@db/pedidos", "password"],
      ["postgres://ana@d%00b/pedidos", "host"],
    ]
  ) {
    assert.throws(
      () => parsePostgresUrl(db!),
      (error: Error) =>
        error.message === `has a NUL (%00) in its ${part}, which PostgreSQL cannot take` &&
        !error.message.includes("s3c"),
      db,
    );
  }
});

Deno.test("a --db URL with a slash too few is taken for a mistyped PostgreSQL URL, refused, and shown without its password", () => {
  for (const db of ["postgres:/ana:s3cret@db/pedidos", "postgresql:ana:s3cret@db/pedidos"]) {
    assert.ok(isPostgresUrl(db), db);
    assert.throws(() => parsePostgresUrl(db), /must start with postgres:\/\//);
    assert.ok(!redactDatabaseUrl(db).includes("s3cret"), redactDatabaseUrl(db));
  }
  assert.equal(redactDatabaseUrl("postgres:/ana:s3cret@db/x"), "postgres:/ana:***@db/x");
  // With anything before it, the password is masked all the same.
  assert.equal(redactDatabaseUrl('"postgres://ana:s3cret@db/x"'), '"postgres://ana:***@db/x"');
  assert.equal(redactDatabaseUrl("postgres//ana:s3@cret@db/x"), "postgres//ana:***@db/x");
  assert.equal(redactDatabaseUrl("postgres://ana:s3cret@db/x"), "postgres://ana:***@db/x");
  // With no "@" (the host left out, or the value cut at a "#"), what follows the user is hidden.
  assert.equal(redactDatabaseUrl("postgres://postgres:Secret123"), "postgres://postgres:***");
  assert.equal(redactDatabaseUrl("postgresql://ana:s3cret/x?y=1"), "postgresql://ana:***");
  for (const db of ["postgres://ana:pa/ss", "postgres://ana:pa?ss", "postgres://ana:pa#ss"]) {
    assert.equal(redactDatabaseUrl(db), "postgres://ana:***", "a password is not cut at / ? #");
  }
  assert.equal(redactDatabaseUrl("postgres://ana:pa ss"), "postgres://ana:***");
  assert.equal(redactDatabaseUrl("postgres://ana:s3\tcret"), "postgres://ana:***");
  // Another scheme, refused for it, is shown masked as well.
  assert.equal(redactDatabaseUrl("pg://ana:s3cret"), "pg://ana:***");
  assert.equal(
    redactDatabaseUrl("postgresql+asyncpg://ana:s3cret"),
    "postgresql+asyncpg://ana:***",
  );
  assert.equal(redactDatabaseUrl("data:v2:orders.db"), "data:v2:orders.db", "a file's name");
  assert.equal(redactDatabaseUrl("postgres://ana@db:5432/x"), "postgres://ana@db:5432/x");
  assert.equal(redactDatabaseUrl("pedidos.db:5"), "pedidos.db:5");
  // SQLite paths are not URLs.
  for (const db of ["pedidos.db", ":memory:", "/var/lib/pedidos/pedidos.db", "postgres.db"]) {
    assert.ok(!isPostgresUrl(db), db);
  }
});

Deno.test("a --db value of user:password@host with no scheme:// at all is shown without its password", () => {
  // The scheme forgotten (the user is "postgres"), or the whole scheme left out.
  assert.equal(
    redactDatabaseUrl("postgres:s3cret@127.0.0.1:5432/x"),
    "postgres:***@127.0.0.1:5432/x",
  );
  assert.equal(redactDatabaseUrl("postgresql:s3cret@h/x"), "postgresql:***@h/x");
  assert.equal(redactDatabaseUrl("ana:s3cret@127.0.0.1/pedidos"), "ana:***@127.0.0.1/pedidos");
  assert.equal(redactDatabaseUrl("ana:s3/cr@et@localhost"), "ana:***@localhost");
  // A path with an "@" and a ":" after a "/" is a file's name, shown whole.
  assert.equal(redactDatabaseUrl("/srv/a:b@c.db"), "/srv/a:b@c.db");
  assert.equal(redactDatabaseUrl("pedidos@2026.db"), "pedidos@2026.db");
});

Deno.test("a --db URL's sslrootcert names the authorities to trust, and only where a certificate is verified", () => {
  const target = parsePostgresUrl(
    "postgres://ana@db/pedidos?sslmode=verify-full&sslrootcert=certs/ca.pem",
  );
  assert.equal(target.sslrootcert, "certs/ca.pem");
  assert.equal(parsePostgresUrl("postgres://ana@db/pedidos").sslrootcert, null);
  assert.equal(
    parsePostgresUrl("postgres://ana@db/x?sslmode=require&sslrootcert=ca.pem").sslrootcert,
    "ca.pem",
  );
  for (const query of ["?sslrootcert=ca.pem", "?sslmode=prefer&sslrootcert=ca.pem"]) {
    assert.throws(() => parsePostgresUrl(`postgres://ana@db/x${query}`), /verifies no certificate/);
  }
  assert.throws(
    () => parsePostgresUrl("postgres://ana@db/x?sslmode=verify-ca&sslrootcert="),
    /empty sslrootcert/,
  );
  // verify-ca checks no name: with every public authority trusted, any certificate would pass.
  for (const query of ["?sslmode=verify-ca", "?sslmode=verify-ca&sslrootcert=system"]) {
    assert.throws(() => parsePostgresUrl(`postgres://ana@db/x${query}`), /verify-ca without/);
  }
  assert.equal(
    parsePostgresUrl("postgres://ana@db/x?sslmode=verify-full&sslrootcert=system").sslrootcert,
    "system",
  );
  assert.throws(
    () => parsePostgresUrl("postgres://ana@db/x?sslmode=require&sslrootcert=system"),
    /needs sslmode=verify-full/,
  );
});
