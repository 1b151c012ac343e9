import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SqliteOrderStore } from "./sqlite_order_store.ts";
import type { AccountStore } from "./store/store.ts";

const T0 = "2026-11-23T12:00:00.000Z";
const LATER = "2026-11-24T12:00:00.000Z";

/** One suite, run against every way the SQLite store reads (style §3.15). */
function accountStoreSuite(name: string, open: () => Promise<AccountStore & AsyncDisposable>) {
  Deno.test(`${name}: createUser() stores an account once, names ignoring ASCII case`, async () => {
    await using store = await open();
    const id = await store.createUser("Ana", "hash-1", T0);
    assert.equal(typeof id, "number");
    assert.equal(await store.createUser("ana", "hash-2", T0), null);
    assert.equal(await store.createUser("ANA", "hash-3", T0), null);
    assert.deepEqual(await store.findUser("aNa"), {
      id,
      usuario: "Ana",
      hash: "hash-1",
      creado: T0,
    });
    assert.equal(await store.findUser("eva"), null);
  });

  Deno.test(`${name}: findSession() finds a live session by token hash, not an expired one`, async () => {
    await using store = await open();
    const id = (await store.createUser("ana", "h", T0))!;
    await store.createSession("th-1", id, LATER);
    assert.deepEqual(await store.findSession("th-1", T0), {
      usuarioId: id,
      usuario: "ana",
      expira: LATER,
    });
    assert.equal(await store.findSession("th-1", LATER), null, "expired at its expiry");
    assert.equal(await store.findSession("th-2", T0), null);
  });

  Deno.test(`${name}: deleteExpiredSessions() deletes only ended sessions`, async () => {
    await using store = await open();
    const id = (await store.createUser("ana", "h", T0))!;
    await store.createSession("old", id, T0);
    await store.createSession("new", id, LATER);
    assert.equal(await store.deleteExpiredSessions(T0), 1);
    assert.equal(await store.deleteExpiredSessions(T0), 0);
    assert.notEqual(await store.findSession("new", T0), null);
  });

  Deno.test(`${name}: createSession() refuses an unknown account`, async () => {
    await using store = await open();
    await assert.rejects(store.createSession("th", 999, LATER), /FOREIGN KEY/);
  });
}

accountStoreSuite("SqliteOrderStore (:memory:)", () => SqliteOrderStore.open({ path: ":memory:" }));

accountStoreSuite("SqliteOrderStore (file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pedidos_accounts_" });
  const store = await SqliteOrderStore.open({ path: `${dir}/pedidos.db` });
  return Object.assign(store, {
    async [Symbol.asyncDispose]() {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  });
});

Deno.test("SqliteOrderStore keeps accounts in usuarios and sesiones, readable by any SQLite tool", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pedidos_accounts_" });
  try {
    const store = await SqliteOrderStore.open({ path: `${dir}/pedidos.db` });
    const id = (await store.createUser("ana", "$scrypt$x", T0))!;
    await store.createSession("ab".repeat(32), id, LATER);
    await store.close();
    const db = new DatabaseSync(`${dir}/pedidos.db`, { readOnly: true });
    try {
      const users = db.prepare("SELECT usuario, hash FROM usuarios").all();
      assert.deepEqual(users.map((u) => ({ ...u })), [{ usuario: "ana", hash: "$scrypt$x" }]);
      const sessions = db.prepare("SELECT token_hash, usuario_id FROM sesiones").all();
      assert.deepEqual(sessions.map((s) => ({ ...s })), [{
        token_hash: "ab".repeat(32),
        usuario_id: id,
      }]);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
