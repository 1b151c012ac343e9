import assert from "node:assert/strict";
import { randomToken, safeEqual, SessionStore } from "./sessions.ts";

Deno.test("randomToken() gives 32 random bytes as 43 base64url characters", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const token = randomToken();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    seen.add(token);
  }
  assert.equal(seen.size, 100);
});

Deno.test("safeEqual() compares whole strings", () => {
  assert.equal(safeEqual("abc", "abc"), true);
  assert.equal(safeEqual("abc", "abd"), false);
  assert.equal(safeEqual("abc", "ab"), false);
  assert.equal(safeEqual("", ""), true);
});

Deno.test("SessionStore.signIn() replaces the old session with a new id and CSRF token, ending it", () => {
  const store = new SessionStore();
  const first = store.signIn(null, { usuario: "ana", token: "t1", expires: Date.now() + 1000 });
  const user = store.signIn(first, { usuario: "ana", token: "t2", expires: Date.now() + 1000 });
  assert.notEqual(user.id, first.id);
  assert.notEqual(user.csrf, first.csrf);
  assert.equal(first.ended.aborted, true, "the old session's live streams end");
  assert.equal(store.get(first.id), null);
  assert.equal(store.get(user.id), user);
  assert.equal(user.rol, "usuario", "the role defaults to usuario");
  assert.equal(store.size, 1);
});

Deno.test("SessionStore.get() ends expired sessions", () => {
  const clock = { now: 1000 };
  const store = new SessionStore({ now: () => clock.now });
  const user = store.signIn(null, { usuario: "ana", token: "t", expires: 1500, rol: "operador" });
  clock.now = 1499;
  assert.equal(store.get(user.id), user);
  assert.equal(user.rol, "operador");
  clock.now = 1500;
  assert.equal(store.get(user.id), null);
  assert.equal(user.ended.aborted, true);
  assert.equal(store.size, 0);
  assert.equal(store.get(undefined), null);
});

Deno.test("SessionStore stays bounded in all and per account, ending the least recently used", () => {
  const store = new SessionStore({ maxSessions: 3, maxPerUser: 2 });
  const later = Date.now() + 1e6;
  const ana1 = store.signIn(null, { usuario: "ana", token: "a1", expires: later });
  const ana2 = store.signIn(null, { usuario: "ana", token: "a2", expires: later });
  const ana3 = store.signIn(null, { usuario: "ANA", token: "a3", expires: later });
  assert.equal(ana1.ended.aborted, true, "a third session of one account ends its oldest");
  assert.equal(store.get(ana2.id), ana2);
  assert.equal(store.get(ana3.id), ana3);
  const eva = store.signIn(null, { usuario: "eva", token: "e", expires: later });
  store.get(ana2.id); // used: now the least recently used is ana3
  const luz = store.signIn(null, { usuario: "luz", token: "l", expires: later });
  assert.equal(store.size, 3);
  assert.equal(store.get(ana3.id), null, "the least recently used goes when the store is full");
  assert.equal(ana3.ended.aborted, true);
  for (const kept of [ana2, eva, luz]) assert.equal(store.get(kept.id), kept);
});
