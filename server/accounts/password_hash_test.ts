import assert from "node:assert/strict";
import { scrypt } from "node:crypto";
import type { Buffer } from "node:buffer";
import { DEFAULT_SCRYPT, PasswordHasher } from "./password_hash.ts";

const FAST = { ln: 10, r: 8, p: 1 };

Deno.test("PasswordHasher.hash() makes a salted PHC string that verify() accepts", async () => {
  const hasher = new PasswordHasher({ params: FAST });
  const a = await hasher.hash("s3cret-pass");
  const b = await hasher.hash("s3cret-pass");
  assert.match(a, /^\$scrypt\$ln=10,r=8,p=1,nfc=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.notEqual(a, b, "each hash has its own salt");
  assert.ok(!a.includes("s3cret-pass"));
  assert.equal(await hasher.verify("s3cret-pass", a), true);
  assert.equal(await hasher.verify("s3cret-pass", b), true);
  assert.equal(await hasher.verify("s3cret-pasS", a), false);
  assert.equal(await hasher.verify("", a), false);
});

Deno.test("PasswordHasher: a password is one password however its accents are typed (NFC)", async () => {
  const hasher = new PasswordHasher({ params: FAST });
  const composed = "contraseña-1"; // ñ is U+00F1
  const decomposed = "contrasen\u0303a-1"; // n + a combining tilde
  assert.notEqual(composed, decomposed);
  const pairs: [string, string][] = [[composed, decomposed], [decomposed, composed]];
  for (const [typed, stored] of pairs) {
    const hash = await hasher.hash(stored);
    assert.equal(
      await hasher.verify(typed, hash),
      true,
      `${JSON.stringify(typed)} for ${JSON.stringify(stored)}`,
    );
    assert.equal(await hasher.verify("contrasena-1", hash), false, "the accent still counts");
  }
  // Only the canonical forms are one: a fullwidth letter is another password.
  const plain = await hasher.hash("pass-word");
  assert.equal(await hasher.verify("pass-wor\uFF44", plain), false);
});

Deno.test("PasswordHasher.verify(): a hash made before passwords were composed is checked as typed then", async () => {
  const hasher = new PasswordHasher({ params: FAST });
  const decomposed = "contrasen\u0303a-1";
  // What hash() made before: the password's UTF-8 as given, and no `nfc=1`.
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const key = await new Promise<Buffer>((resolve, reject) =>
    scrypt(decomposed, salt, 32, { N: 2 ** 10, r: 8, p: 1 }, (e, k) => e ? reject(e) : resolve(k))
  );
  const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/=+$/, "");
  const legacy = `$scrypt$ln=10,r=8,p=1$${b64(salt)}$${b64(key)}`;
  assert.equal(await hasher.verify(decomposed, legacy), true);
  assert.equal(await hasher.verify("contraseña-1", legacy), false);
  assert.equal(await hasher.verify(decomposed, legacy.replace("p=1$", "p=1,nfc=1$")), false);
});

Deno.test("PasswordHasher.verify() reads the cost from the stored hash", async () => {
  const old = await new PasswordHasher({ params: { ln: 9, r: 4, p: 1 } }).hash("pass-1234");
  const current = new PasswordHasher({ params: FAST });
  assert.equal(await current.verify("pass-1234", old), true);
});

Deno.test("PasswordHasher.verify() is false for a malformed stored hash", async () => {
  const hasher = new PasswordHasher({ params: FAST });
  for (const stored of ["", "s3cret-pass", "$scrypt$ln=10,r=8,p=1$abc", "$argon2id$v=19$x$y"]) {
    assert.equal(await hasher.verify("s3cret-pass", stored), false, stored);
  }
});

Deno.test("PasswordHasher.dummyHash() is made once, with no derivation, and matches no password", async () => {
  let derivations = 0;
  const counting = ((...args: Parameters<typeof scrypt>) => {
    derivations++;
    (scrypt as (...a: unknown[]) => void)(...args);
  }) as typeof scrypt;
  const hasher = new PasswordHasher({ params: FAST, scrypt: counting });
  const dummy = hasher.dummyHash();
  assert.equal(hasher.dummyHash(), dummy);
  assert.equal(derivations, 0);
  assert.match(dummy, /^\$scrypt\$ln=10,r=8,p=1,nfc=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.equal(await hasher.verify("s3cret-pass", dummy), false);
});

Deno.test("PasswordHasher hashes off the main thread: the event loop turns while a hash runs", async () => {
  const hasher = new PasswordHasher({ params: DEFAULT_SCRYPT, concurrency: 2 });
  // Turns of the event loop (timer callbacks) before the first hash is done.
  // A hash computed on this thread holds the loop until it ends: none at all.
  let turns = 0;
  let first = false;
  const hashes = [1, 2, 3, 4].map((i) => hasher.hash(`password-${i}`));
  hashes[0]!.then(() => first = true);
  while (!first && turns < 3) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (!first) turns++;
  }
  await Promise.all(hashes);
  assert.equal(turns, 3, "the event loop turned three times during the first hash");
});

Deno.test("PasswordHasher runs at most `concurrency` hashes at once", async () => {
  let running = 0;
  let most = 0;
  const counting = ((...args: Parameters<typeof scrypt>) => {
    running++;
    most = Math.max(most, running);
    const done = args[args.length - 1] as (error: Error | null, key: Buffer) => void;
    const wrapped = (error: Error | null, key: Buffer) => {
      running--;
      done(error, key);
    };
    (scrypt as (...a: unknown[]) => void)(...args.slice(0, -1), wrapped);
  }) as typeof scrypt;
  for (const concurrency of [1, 2]) {
    most = 0;
    const hasher = new PasswordHasher({
      params: { ln: 10, r: 8, p: 1 },
      concurrency,
      scrypt: counting,
    });
    const hashes = await Promise.all([1, 2, 3, 4, 5].map((i) => hasher.hash(`password-${i}`)));
    assert.equal(most, concurrency, `at most ${concurrency} at once`);
    // Every queued hash still ran, and each checks.
    assert.equal(new Set(hashes).size, 5);
    assert.equal(await hasher.verify("password-3", hashes[2]!), true);
  }
});
