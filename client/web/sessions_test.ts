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

Deno.test("SessionStore.signIn() replaces the anonymous session with a new id and CSRF token", () => {
  const store = new SessionStore();
  const anonymous = store.create();
  const user = store.signIn(anonymous, { usuario: "ana", token: "t", expires: Date.now() + 1000 });
  assert.notEqual(user.id, anonymous.id);
  assert.notEqual(user.csrf, anonymous.csrf);
  assert.equal(store.get(anonymous.id), null);
  assert.equal(store.get(user.id), user);
  assert.equal(store.size, 1);
});

Deno.test("SessionStore.get() drops expired sessions", () => {
  const clock = { now: 1000 };
  const store = new SessionStore({ now: () => clock.now, anonymousTtlMs: 100 });
  const anonymous = store.create();
  const user = store.signIn(null, { usuario: "ana", token: "t", expires: 1500 });
  clock.now = 1099;
  assert.equal(store.get(anonymous.id), anonymous);
  clock.now = 1100;
  assert.equal(store.get(anonymous.id), null);
  assert.equal(store.get(user.id), user);
  clock.now = 1500;
  assert.equal(store.get(user.id), null);
  assert.equal(store.size, 0);
  assert.equal(store.get(undefined), null);
});

Deno.test("SessionStore stays bounded, dropping sessions without a user first", () => {
  const store = new SessionStore({ maxSessions: 3 });
  const ana = store.signIn(null, { usuario: "ana", token: "a", expires: Date.now() + 1e6 });
  const eva = store.signIn(null, { usuario: "eva", token: "e", expires: Date.now() + 1e6 });
  for (let i = 0; i < 100; i++) store.create(); // a flood of anonymous visitors
  assert.equal(store.size, 3);
  assert.equal(store.get(ana.id), ana);
  assert.equal(store.get(eva.id), eva);
  store.signIn(null, { usuario: "luz", token: "l", expires: Date.now() + 1e6 });
  store.signIn(null, { usuario: "sol", token: "s", expires: Date.now() + 1e6 });
  assert.equal(store.size, 3);
  assert.equal(store.get(ana.id), null, "the least recently used user goes when all have one");
});
