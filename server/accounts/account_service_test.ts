import assert from "node:assert/strict";
import { scrypt, type ScryptOptions } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../store/sqlite_store.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { AccountService, hashToken } from "./account_service.ts";
import { Logger } from "../log.ts";
import { PasswordHasher } from "./password_hash.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { type Credentials, Secret } from "../protocol/messages.ts";
import { testWith } from "../../tests/permissions.ts";

const FAST = { ln: 10, r: 8, p: 1 };
const PASSWORD = "s3cret-pass";

function creds(usuario: string, password = PASSWORD): Credentials {
  return { usuario, password: new Secret(password) };
}

/** An AccountService on a fresh SQLite file, with its log lines and a settable clock. */
async function setup(options: { ln?: number; ttlS?: number } = {}) {
  const dir = await Deno.makeTempDir({ prefix: "pedidos_accounts_" });
  const path = `${dir}/pedidos.db`;
  const store = await SqliteStore.open({ path });
  const lines: string[] = [];
  const clock = { now: Date.parse("2026-11-23T12:00:00.000Z") };
  const accounts = new AccountService({
    store,
    logger: new Logger({ level: "debug", write: (line) => lines.push(line) }),
    hasher: new PasswordHasher({ params: { ...FAST, ln: options.ln ?? FAST.ln } }),
    sessionTtlS: options.ttlS ?? 3600,
    now: () => clock.now,
  });
  return {
    accounts,
    store,
    path,
    lines,
    clock,
    async [Symbol.asyncDispose]() {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function refusal(promise: Promise<unknown>): Promise<ProtocolError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ProtocolError, String(error));
    return error;
  }
  assert.fail("expected a ProtocolError");
}

function rows(path: string, sql: string): Record<string, unknown>[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(sql).all().map((row) => ({ ...row }));
  } finally {
    db.close();
  }
}

testWith("read", "write")(
  "AccountService.register() stores a salted scrypt hash, never the password",
  async () => {
    await using t = await setup();
    assert.deepEqual(await t.accounts.register(creds("ana")), { ok: true, usuario: "ana" });
    assert.deepEqual(await t.accounts.register(creds("eva")), { ok: true, usuario: "eva" });
    const users = rows(t.path, "SELECT usuario, hash FROM usuarios ORDER BY id");
    assert.equal(users.length, 2);
    for (const { hash } of users) {
      assert.match(String(hash), /^\$scrypt\$ln=10,r=8,p=1,nfc=1\$/);
      assert.ok(!String(hash).includes(PASSWORD));
    }
    assert.notEqual(users[0]!.hash, users[1]!.hash, "same password, different salts");
  },
);

testWith("read", "write")(
  "AccountService.register() answers user_exists for a taken name, ignoring case",
  async () => {
    await using t = await setup();
    await t.accounts.register(creds("Ana"));
    for (const usuario of ["Ana", "ana", "ANA"]) {
      const error = await refusal(t.accounts.register(creds(usuario, "other-pass")));
      assert.equal(error.code, "user_exists");
      assert.equal(error.campo, "usuario");
    }
    // Two at once: exactly one wins.
    const results = await Promise.allSettled([
      t.accounts.register(creds("eva")),
      t.accounts.register(creds("EVA")),
    ]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    assert.equal(rows(t.path, "SELECT * FROM usuarios").length, 2);
  },
);

testWith("read", "write")(
  "AccountService.login() issues a random token stored only as its SHA-256",
  async () => {
    await using t = await setup({ ttlS: 60 });
    await t.accounts.register(creds("Ana"));
    const a = await t.accounts.login(creds("ana"));
    const b = await t.accounts.login(creds("ANA"));
    assert.equal(a.ok, true);
    assert.equal(a.usuario, "Ana", "the name as registered");
    assert.match(String(a.token), /^[A-Za-z0-9_-]{43}$/, "32 bytes, base64url");
    assert.notEqual(a.token, b.token);
    assert.equal(a.expira, "2026-11-23T12:01:00.000Z");
    const sessions = rows(t.path, "SELECT token_hash, expira FROM sesiones ORDER BY rowid");
    assert.deepEqual(sessions.map((s) => s.token_hash), [
      hashToken(String(a.token)),
      hashToken(String(b.token)),
    ]);
    const everything = JSON.stringify(rows(t.path, "SELECT * FROM sesiones"));
    assert.ok(!everything.includes(String(a.token)));
  },
);

testWith("read", "write")(
  "AccountService.login() answers bad_credentials alike for a wrong password and an unknown name",
  async () => {
    await using t = await setup();
    await t.accounts.register(creds("ana"));
    const wrong = await refusal(t.accounts.login(creds("ana", "wrong-pass")));
    const unknown = await refusal(t.accounts.login(creds("nadie")));
    assert.equal(wrong.code, "bad_credentials");
    assert.deepEqual(unknown.toReply(), wrong.toReply());
    assert.equal(rows(t.path, "SELECT * FROM sesiones").length, 0);
  },
);

testWith("read", "write")(
  "AccountService.login() does the same work for an unknown name as for a wrong password",
  async () => {
    // Which key derivations each refusal costs, counted, instead of timed.
    const derivations: string[] = [];
    const counting = ((...args: Parameters<typeof scrypt>) => {
      const [, salt, length, options] = args as unknown as [
        unknown,
        Uint8Array,
        number,
        ScryptOptions,
      ];
      derivations.push(
        `N=${options.N} r=${options.r} p=${options.p} salt=${salt.length} out=${length}`,
      );
      (scrypt as (...a: unknown[]) => void)(...args);
    }) as typeof scrypt;
    await using t = await setup();
    const accounts = new AccountService({
      store: t.store,
      logger: new Logger({ write: () => {} }),
      hasher: new PasswordHasher({ params: FAST, scrypt: counting }),
    });
    await accounts.register(creds("ana"));
    const refusals: Record<string, string[]> = {};
    for (const usuario of ["nadie", "ana"]) {
      derivations.length = 0;
      const refused = await refusal(accounts.login(creds(usuario, "wrong-pass")));
      assert.equal(refused.code, "bad_credentials");
      refusals[usuario] = [...derivations];
    }
    assert.equal(refusals.ana?.length, 1, "a wrong password costs one derivation");
    assert.deepEqual(
      refusals.nadie,
      refusals.ana,
      "an unknown name costs the same one, the first too",
    );
  },
);

testWith("read", "write")("AccountService.authenticate() accepts a live token only", async () => {
  await using t = await setup({ ttlS: 60 });
  await t.accounts.register(creds("ana"));
  const { token } = await t.accounts.login(creds("ana"));
  const sesion = await t.accounts.authenticate(new Secret(String(token)));
  assert.equal(sesion.usuario, "ana");
  for (const bad of ["", "x", String(token).slice(1), String(token).toUpperCase()]) {
    const refused = await refusal(t.accounts.authenticate(new Secret(bad)));
    assert.equal(refused.code, "unauthorized");
    assert.equal(refused.campo, "token", "names the field, as a missing token does");
  }
  t.clock.now += 59_999;
  await t.accounts.authenticate(new Secret(String(token)));
  t.clock.now += 1;
  const expired = await refusal(t.accounts.authenticate(new Secret(String(token))));
  assert.equal(expired.code, "unauthorized");
  assert.equal(expired.campo, "token");
});

testWith("read", "write")(
  "AccountService.login() deletes expired sessions at most once a minute",
  async () => {
    await using t = await setup({ ttlS: 10 });
    await t.accounts.register(creds("ana"));
    await t.accounts.login(creds("ana")); // sweeps (nothing yet)
    t.clock.now += 11_000;
    await t.accounts.login(creds("ana")); // within the minute: no sweep
    assert.equal(rows(t.path, "SELECT * FROM sesiones").length, 2);
    t.clock.now += 60_000;
    await t.accounts.login(creds("ana")); // sweeps the two expired ones
    assert.equal(rows(t.path, "SELECT * FROM sesiones").length, 1);
  },
);

testWith("read", "write")("AccountService never logs a password or a token", async () => {
  await using t = await setup();
  await t.accounts.register(creds("ana"));
  await refusal(t.accounts.register(creds("ana")));
  const { token } = await t.accounts.login(creds("ana"));
  await refusal(t.accounts.login(creds("ana", "wrong-pass-1"), { peer: "192.0.2.7:50123" }));
  await refusal(t.accounts.login(creds("s3cret-pass-typed-as-name", "wrong-pass-2")));
  await t.accounts.authenticate(new Secret(String(token)));
  const log = t.lines.join("\n");
  assert.match(log, /account\.registered usuario=ana/);
  assert.match(log, /account\.login usuario=ana/);
  // Where a failed attempt came from, to trace someone guessing.
  assert.match(log, /account\.login_failed peer=192\.0\.2\.7:50123/);
  for (
    const secret of [PASSWORD, "wrong-pass-1", "wrong-pass-2", "s3cret-pass-typed", String(token)]
  ) {
    assert.ok(!log.includes(secret), `the log shows ${secret}`);
  }
});

Deno.test("AccountService.stop(): sign-ins still waiting for the hasher are answered shutting_down, the running one finishes", async () => {
  const store = new MemoryStore();
  // Once gated, a derivation waits until the test lets it go: the first
  // sign-in holds the hasher for as long as the test needs.
  let gated = false;
  const held: (() => void)[] = [];
  const derive = ((...args: Parameters<typeof scrypt>) => {
    const go = () => (scrypt as (...a: unknown[]) => void)(...args);
    if (gated) held.push(go);
    else go();
  }) as typeof scrypt;
  const hasher = new PasswordHasher({ params: FAST, concurrency: 1, scrypt: derive });
  const accounts = new AccountService({
    store,
    logger: new Logger({ level: "error", write: () => {} }),
    hasher,
  });
  await accounts.register(creds("ana"));
  gated = true;
  const logins = ["ana", "ana", "nadie"].map((usuario) =>
    accounts.login(creds(usuario)).then(
      (reply) => reply.ok,
      (error: ProtocolError) => error.code,
    )
  );
  while (hasher.waiting < 2) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.equal(held.length, 1, "one sign-in running, two waiting");
  accounts.stop();
  for (const go of held.splice(0)) go();
  assert.deepEqual(await Promise.all(logins), [true, "shutting_down", "shutting_down"]);
  assert.equal((await refusal(accounts.register(creds("eva")))).code, "shutting_down");
  await store.close();
});
