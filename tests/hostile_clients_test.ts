/**
 * Hostile clients of the daemon (issue 14): each attack of the review, made
 * small and deterministic, fails. One small request cannot pin a large
 * reply; waits are bounded and end when their client leaves; logins cannot
 * queue without bound; a lone surrogate is refused. Bounded memory is read
 * from the daemon's own counters (`Server.bufferedBytes`, `Server.waits`),
 * never from timings.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { scrypt } from "node:crypto";
import { AccountService } from "../server/accounts/account_service.ts";
import { PasswordHasher } from "../server/accounts/password_hash.ts";
import { parseServerConfig } from "../server/config/server_config.ts";
import { Logger } from "../server/log.ts";
import { ProtocolError } from "../server/protocol/errors.ts";
import { Secret } from "../server/protocol/messages.ts";
import { rawConnect, startInProcess, startSubprocess, tempDir, waitUntil } from "./test_util.ts";
import { testWith } from "./permissions.ts";

const ORDER = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };
/** The connection's fixed cap of unsent reply bytes (`Connection`'s `maxUnsentBytes`). */
const MAX_UNSENT = 262_144;

/** An order of about 62 KB, within the default request limit: 3-byte characters in every field. */
function bigOrder(i: number) {
  const text = (n: number) => `${i}`.padEnd(n, "€");
  return {
    cliente: text(200),
    productos: Array.from({ length: 100 }, () => text(200)),
    direccion: text(500),
  };
}

/** The bytes of a reply line as the daemon wrote it (compact JSON, same key order) plus its newline. */
function lineBytes(reply: unknown): number {
  return Buffer.byteLength(JSON.stringify(reply)) + 1;
}

Deno.test("hostile: LISTAR longer than --max-reply-bytes lists every order up to its limit, in one line written in pieces", async () => {
  const maxReplyBytes = 262_144;
  await using daemon = await startInProcess({ maxReplyBytes, maxPedidos: 30 });
  const client = await daemon.client();
  const ids: number[] = [];
  for (let i = 0; i < 24; i++) {
    const reply = await client.request(bigOrder(i));
    assert.equal(reply.ok, true, JSON.stringify(reply).slice(0, 200));
    ids.push(reply.id as number);
  }
  const all = await client.request({ op: "LISTAR", limit: 1000 });
  assert.ok(lineBytes(all) > 5 * maxReplyBytes, `the reply is ${lineBytes(all)} bytes`);
  assert.deepEqual(Object.keys(all), ["ok", "pedidos"], "the reply of §2.3, nothing else");
  const listed = all.pedidos as { id: number; cliente: string; productos: unknown[] }[];
  assert.deepEqual(listed.map((p) => p.id), ids.toReversed(), "every order once, newest first");
  assert.equal(listed[0]!.cliente, bigOrder(23).cliente, "orders whole");
  assert.equal(listed[0]!.productos.length, 100);
  // limit and antes_de keep their meaning across pieces.
  const some = await client.request({ op: "LISTAR", limit: 10, antes_de: ids[20] });
  assert.deepEqual(
    (some.pedidos as { id: number }[]).map((p) => p.id),
    ids.slice(10, 20).toReversed(),
  );
  const small = await client.request({ op: "LISTAR", limit: 2 });
  assert.deepEqual(
    (small.pedidos as { id: number }[]).map((p) => p.id),
    ids.slice(-2).toReversed(),
  );
  // The connection goes on: a request after the long reply is answered.
  assert.equal((await client.request({ op: "PING" })).pong, true);
});

Deno.test("hostile: a LISTAR in pieces keeps request order: a CANCELAR sent after it does not show in its later pieces", async () => {
  const maxReplyBytes = 262_144;
  await using daemon = await startInProcess({
    maxReplyBytes,
    maxPedidos: 30,
    workers: 1,
    processMs: { min: 60_000, max: 60_000 }, // the oldest runs, the others stay pendiente
  });
  const client = await daemon.client();
  const ids: number[] = [];
  for (let i = 0; i < 24; i++) ids.push((await client.request(bigOrder(i))).id as number);
  await using conn = await rawConnect(daemon.port);
  // The second oldest is in the LISTAR's last piece; the CANCELAR comes right behind it.
  await conn.write(
    '{"op":"LISTAR","limit":1000}\n' + JSON.stringify({ op: "CANCELAR", id: ids[1] }) + "\n",
  );
  const listed = await conn.readLine(30_000);
  const second = (listed?.pedidos as { id: number; estado: string }[]).at(-2)!;
  assert.equal(second.id, ids[1]);
  assert.equal(second.estado, "pendiente", "listed as it was before the CANCELAR");
  const cancelled = await conn.readLine(30_000);
  assert.equal(cancelled?.ok, true, JSON.stringify(cancelled));
  assert.equal((cancelled?.pedido as { estado: string }).estado, "cancelado");
});

Deno.test("hostile: a peer that pipelines LISTARs and never reads holds at most the unsent cap plus one piece; others are served; memory returns when it leaves", async () => {
  const maxReplyBytes = 262_144;
  await using daemon = await startInProcess({ maxReplyBytes, maxPedidos: 30 });
  const client = await daemon.client();
  for (let i = 0; i < 24; i++) assert.equal((await client.request(bigOrder(i))).ok, true);
  // Each request is 29 bytes, each reply 1.5 MB: it is made a piece at a time as it is read.
  const bound = MAX_UNSENT + maxReplyBytes;
  const attackers = await Promise.all(Array.from({ length: 3 }, () => rawConnect(daemon.port)));
  try {
    for (const attacker of attackers) {
      await attacker.write('{"op":"LISTAR","limit":1000}\n'.repeat(100));
    }
    // The kernel's buffers fill first; then a piece waits in the daemon for each.
    await waitUntil(() => daemon.server.bufferedBytes > 3 * maxReplyBytes / 2, {
      what: "replies to wait in the daemon for the peers that never read",
    });
    let most = daemon.server.bufferedBytes;
    for (let i = 0; i < 5; i++) {
      assert.equal((await client.request({ op: "PING" })).pong, true, "another client is answered");
      const page = await client.request({ op: "LISTAR", limit: 1000 });
      assert.equal((page.pedidos as unknown[]).length, 24);
      most = Math.max(most, daemon.server.bufferedBytes);
    }
    assert.ok(
      most <= attackers.length * bound,
      `${most} bytes held for ${attackers.length} peers (at most ${bound} each)`,
    );
  } finally {
    for (const attacker of attackers) attacker.close();
  }
  await waitUntil(() => daemon.server.bufferedBytes === 0 && daemon.server.connections === 1, {
    what: "the peers' replies to be dropped when they leave",
  });
});

testWith("read", "write", "run")(
  "hostile: a peer pipelining 200,000 bad lines does not hold up another client's PING until its flood is answered",
  async () => {
    // A daemon of its own process: the flood and the PING meet in its event
    // loop only. Bad lines are answered without the store, each at once: the
    // daemon must still give other connections their turn between them.
    await using dir = await tempDir();
    await using daemon = await startSubprocess(dir.path, ["--db", `${dir.path}/p.db`]);
    const lines = 200_000;
    await using flooder = await rawConnect(daemon.port);
    await using pinger = await rawConnect(daemon.port);
    let answered = 0;
    const counted = (async () => {
      const chunk = new Uint8Array(65536);
      while (answered < lines) {
        const n = await flooder.conn.read(chunk).catch(() => null);
        if (n === null) return;
        for (let i = 0; i < n; i++) if (chunk[i] === 10) answered++;
      }
    })();
    const sent = flooder.write("x\n".repeat(lines));
    await waitUntil(() => answered > 0, { what: "the flood to be answered" });
    const whenPinged = answered;
    await pinger.write('{"op":"PING"}\n');
    assert.equal((await pinger.readLine(30_000))?.pong, true);
    const between = answered - whenPinged;
    await sent;
    await counted;
    assert.equal(answered, lines, "every bad line is answered");
    // Without turns, the PING waited for a whole read of the flood to be
    // answered (32,768 lines of 64 KiB, about 63,000 here: two reads); with
    // them, about 3,500 here.
    assert.ok(
      between < 16_384,
      `${between} bad lines of the other peer were answered while the PING waited`,
    );
  },
);

Deno.test("hostile: a TASK whose result would pass --max-reply-bytes is refused invalid_task, the reply within the limit", async () => {
  const maxReplyBytes = 135_168;
  await using daemon = await startInProcess({ maxReplyBytes });
  const client = await daemon.client();
  // `ΐ` is 2 bytes in UTF-8 and its upper case `Ϊ́` 6: 64 KB asked, 192 KB to answer.
  const big = await client.request({ op: "TASK", task: { name: "upper", s: "ΐ".repeat(32_000) } });
  assert.equal(big.error, "invalid_task", JSON.stringify(big).slice(0, 200));
  assert.equal(big.campo, "task.s");
  assert.match(big.mensaje as string, /--max-reply-bytes 135168/);
  assert.ok(lineBytes(big) <= maxReplyBytes);
  // One that fits is answered whole, and the connection goes on.
  const fits = await client.request({ op: "TASK", task: { name: "upper", s: "ΐ".repeat(20_000) } });
  assert.ok(fits.result === "ΐ".repeat(20_000).toUpperCase(), "the whole text, upper case");
  assert.ok(lineBytes(fits) <= maxReplyBytes, `${lineBytes(fits)} bytes`);
});

Deno.test("hostile: --max-reply-bytes below one order of --max-request-bytes is refused at start", () => {
  const noFile = { getEnv: () => undefined, readFile: () => null };
  assert.throws(
    () => parseServerConfig(["--max-reply-bytes", "100000"], noFile),
    /--max-reply-bytes 100000: must be at least 135168/,
  );
  assert.equal(
    parseServerConfig(["--max-request-bytes", "1000", "--max-reply-bytes", "70632"], noFile)
      .maxReplyBytes,
    70632,
  );
});

testWith("read", "write")(
  "hostile: ESTADO esperar waits beyond the per-connection bound are held until one ends (pipelining goes on); beyond the total they get queue_full, but one with timeout_ms 0 (no wait) is answered; waits end with the order",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startInProcess({
      db: `${dir.path}/p.db`,
      workers: 1,
      processMs: { min: 60_000, max: 60_000 },
      drainTimeoutMs: 50,
      maxWaiters: 3,
      maxWaitersPerConnection: 2,
    });
    const client = await daemon.client();
    await client.request(ORDER); // takes the only worker
    const { id } = await client.request(ORDER); // stays pendiente
    const wait = `{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":60000}\n`;
    await using a = await rawConnect(daemon.port);
    await using b = await rawConnect(daemon.port);
    await using c = await rawConnect(daemon.port);
    await a.write(wait.repeat(3));
    await waitUntil(() => daemon.server.waits === 2, { what: "two waits on the first connection" });
    await b.write(wait);
    await waitUntil(() => daemon.server.waits === 3, {
      what: "a third wait, on another connection",
    });
    await c.write(wait);
    const refused = await c.readLine();
    assert.equal(refused?.error, "queue_full");
    assert.equal(refused?.campo, "esperar");
    assert.match(String(refused?.mensaje), /esperas abiertas en el servidor \(máximo 3\)/);
    await c.write(`{"op":"ESTADO","id":${id}}\n`);
    assert.equal((await c.readLine())?.ok, true, "a read without esperar is still answered");
    // timeout_ms 0 waits for nothing: the state now, as a timed-out wait.
    await c.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":0}\n`);
    const now = await c.readLine();
    assert.equal(now?.ok, true, JSON.stringify(now));
    assert.equal(now?.timeout, true);
    assert.equal((now?.pedido as { estado: string }).estado, "pendiente");
    // The order ends (cancelled): every wait on it is answered at once.
    assert.equal((await client.request({ op: "CANCELAR", id })).ok, true);
    for (let i = 0; i < 2; i++) {
      const answered = await a.readLine();
      assert.equal((answered?.pedido as { estado: string }).estado, "cancelado");
      assert.equal(answered?.timeout, undefined);
    }
    // The connection's third wait was held, not refused: it started once the
    // first two ended, and its order has ended too.
    const third = await a.readLine();
    assert.equal(third?.ok, true, `the third wait is answered: ${JSON.stringify(third)}`);
    assert.equal((third?.pedido as { estado: string }).estado, "cancelado");
    assert.equal(((await b.readLine())?.pedido as { estado: string }).estado, "cancelado");
    assert.equal(daemon.server.waits, 0);
  },
);

testWith("read", "write")(
  "hostile: clients that close during ESTADO esperar hold their waits and places only until their timeout",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startInProcess({
      db: `${dir.path}/p.db`,
      workers: 1,
      processMs: { min: 60_000, max: 60_000 },
      drainTimeoutMs: 50,
      maxConnections: 4,
    });
    const client = await daemon.client();
    const { id } = await client.request(ORDER);
    const peers = await Promise.all(Array.from({ length: 3 }, () => rawConnect(daemon.port)));
    for (const peer of peers) {
      await peer.write(`{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":1000}\n`);
    }
    await waitUntil(() => daemon.server.waits === 3 && daemon.server.connections === 4, {
      what: "three waiting clients",
    });
    // TCP cannot tell a close from a half-close until the daemon writes: each
    // wait runs to its timeout, then its reply finds the peer gone.
    for (const peer of peers) peer.close();
    await waitUntil(() => daemon.server.waits === 0 && daemon.server.connections === 1, {
      what: "the waits and connections to be released when their timeout passes",
    });
    // Their places are free: new clients get in instead of busy.
    await using next = await rawConnect(daemon.port);
    await next.write('{"op":"PING"}\n');
    assert.equal((await next.readLine())?.pong, true);
  },
);

testWith("read", "write")(
  "hostile: after a half-close a pending ESTADO esperar still waits for its order, then the daemon closes",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startInProcess({
      db: `${dir.path}/p.db`,
      workers: 1,
      processMs: { min: 800, max: 800 },
      drainTimeoutMs: 50,
    });
    const client = await daemon.client();
    const { id } = await client.request(ORDER);
    await using peer = await rawConnect(daemon.port);
    await peer.write(
      `{"op":"PING"}\n{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":30000}\n`,
    );
    assert.equal((await peer.readLine())?.pong, true);
    await waitUntil(() => daemon.server.waits === 1, { what: "the wait to start" });
    await peer.conn.closeWrite(); // as `nc -N` does at the end of its input
    const answered = await peer.readLine(20_000);
    assert.equal(answered?.ok, true);
    assert.equal(answered?.timeout, undefined, JSON.stringify(answered));
    assert.equal((answered?.pedido as { estado: string }).estado, "listo");
    assert.equal(await peer.readLine(), null, "then the daemon closes");
    assert.equal(daemon.server.waits, 0);
  },
);

Deno.test("hostile: a flood of LOGINs beyond --max-login-queue gets queue_full at once; orders on other connections are answered", async () => {
  await using daemon = await startInProcess({ maxLoginQueue: 1 });
  const setup = await daemon.client();
  assert.equal(
    (await setup.request({ op: "REGISTRO", usuario: "ana", password: "s3cret-pass" })).ok,
    true,
  );
  const peers = await Promise.all(Array.from({ length: 30 }, () => rawConnect(daemon.port)));
  try {
    const login = '{"op":"LOGIN","usuario":"ana","password":"wrong-pass"}\n';
    await Promise.all(peers.map((peer) => peer.write(login)));
    const order = await setup.request(ORDER);
    assert.equal(order.ok, true, "an order is answered while logins are hashed");
    const replies = await Promise.all(peers.map((peer) => peer.readLine(30_000)));
    const codes = replies.map((reply) => reply?.error);
    const busy = replies.filter((reply) => reply?.error === "queue_full");
    assert.ok(busy.length >= 1, `some logins refused: ${codes.join(",")}`);
    assert.match(String(busy[0]?.mensaje), /Demasiados inicios de sesión y registros en espera/);
    assert.ok(
      codes.every((code) => code === "queue_full" || code === "bad_credentials"),
      codes.join(),
    );
    // Capacity given back: after the flood a real login works.
    const ok = await setup.request({ op: "LOGIN", usuario: "ana", password: "s3cret-pass" });
    assert.equal(ok.ok, true);
  } finally {
    for (const peer of peers) peer.close();
  }
});

Deno.test("hostile: a lone surrogate in any text field gets invalid_order naming the field; nothing is stored", async () => {
  await using daemon = await startInProcess();
  await using conn = await rawConnect(daemon.port);
  const cases: [string, string][] = [
    ['{"cliente":"Ana \\ud800","productos":["pan"],"direccion":"Calle 1"}', "cliente"],
    ['{"cliente":"Ana","productos":["pan","\\udc00x"],"direccion":"Calle 1"}', "productos[1]"],
    [
      '{"cliente":"Ana","productos":[{"nombre":"\\udbff","cantidad":2}],"direccion":"Calle 1"}',
      "productos[0].nombre",
    ],
    ['{"cliente":"Ana","productos":["pan"],"direccion":"\\ud83d"}', "direccion"],
    ['{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1","clave":"k\\ude00"}', "clave"],
  ];
  for (const [line, campo] of cases) {
    await conn.write(line + "\n");
    const reply = await conn.readLine();
    assert.equal(reply?.error, "invalid_order", line);
    assert.equal(reply?.campo, campo, line);
    assert.match(String(reply?.mensaje), /sustituto UTF-16 suelto/);
  }
  // A well-formed pair (an emoji) is a character like any other.
  await conn.write('{"cliente":"Ana \\ud83d\\ude00","productos":["pan"],"direccion":"Calle 1"}\n');
  assert.equal((await conn.readLine())?.ok, true);
  await conn.write('{"op":"LISTAR","cliente":"\\ud800"}\n');
  const listar = await conn.readLine();
  assert.equal(listar?.error, "invalid_request");
  assert.equal(listar?.campo, "cliente");
  await conn.write('{"op":"LISTAR"}\n');
  const stored = (await conn.readLine())?.pedidos as { cliente: string }[];
  assert.deepEqual(stored.map((p) => p.cliente), ["Ana 😀"]);
});

Deno.test("hostile: AccountService refuses a LOGIN beyond maxLoginQueue with queue_full, checking nothing", async () => {
  // A key derivation that answers only when the test says so.
  const pending: (() => void)[] = [];
  const gated = ((...args: unknown[]) => {
    const keylen = args[2] as number;
    const done = args[4] as (error: Error | null, key: Buffer) => void;
    pending.push(() => done(null, Buffer.alloc(keylen)));
  }) as unknown as typeof scrypt;
  const hasher = new PasswordHasher({ concurrency: 1, maxWaiting: 1, scrypt: gated });
  const user = {
    id: 1,
    usuario: "ana",
    hash: "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    creado: "2026-01-01T00:00:00.000Z",
    rol: "usuario" as const,
  };
  const store = {
    findUser: () => Promise.resolve(user),
    createUser: () => Promise.resolve(null),
    setRole: () => Promise.resolve(false),
    createSession: () => Promise.resolve(),
    findSession: () => Promise.resolve(null),
    deleteExpiredSessions: () => Promise.resolve(0),
  };
  const accounts = new AccountService({
    store,
    hasher,
    logger: new Logger({ level: "error", write: () => {} }),
  });
  const login = () => accounts.login({ usuario: "ana", password: new Secret("wrong-pass") });
  const first = login(); // hashing
  const second = login(); // waiting its turn
  await waitUntil(() => pending.length === 1 && hasher.waiting === 1, {
    what: "one hash, one wait",
  });
  await assert.rejects(
    login(),
    (error) => error instanceof ProtocolError && error.code === "queue_full",
  );
  assert.equal(pending.length, 1, "the refused login hashed nothing");
  pending.shift()!();
  await assert.rejects(first, (e) => e instanceof ProtocolError && e.code === "bad_credentials");
  await waitUntil(() => pending.length === 1, { what: "the waiting login to get its turn" });
  pending.shift()!();
  await assert.rejects(second, (e) => e instanceof ProtocolError && e.code === "bad_credentials");
});
