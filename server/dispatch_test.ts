import assert from "node:assert/strict";
import { SqliteStore } from "./store/sqlite_store.ts";
import type { AccountStore } from "./store/store.ts";
import { AccountService } from "./accounts/account_service.ts";
import { createDispatcher, isReply, type OrderOperations } from "./dispatch.ts";
import { Logger } from "./log.ts";
import type { OrderStats } from "./orders/order_service.ts";
import { PasswordHasher } from "./accounts/password_hash.ts";
import { testWith } from "../tests/permissions.ts";
import { StoreUnavailableError } from "./store/store_unavailable_error.ts";
import type { Reply } from "./protocol/replies.ts";
import { ReplyStream } from "./protocol/reply_stream.ts";

/** Orders are not under test here: only `stats().workers` is read. */
const ORDERS = {
  countReceived() {},
  stats: () => ({ workers: 4 }) as OrderStats,
  settleEnds: () => Promise.resolve(),
} as unknown as OrderOperations;

async function setup(store?: AccountStore) {
  const own = store ? null : await SqliteStore.open({ path: ":memory:" });
  const lines: string[] = [];
  const logger = new Logger({ level: "debug", write: (line) => lines.push(line) });
  const accounts = new AccountService({
    store: store ?? own!,
    logger,
    hasher: new PasswordHasher({ params: { ln: 10, r: 8, p: 1 } }),
  });
  const dispatcher = createDispatcher({
    orders: ORDERS,
    accounts,
    logger,
    connections: () => 0,
    startedAt: 0,
  });
  return {
    lines,
    // deno-lint-ignore no-explicit-any -- tests read any field of any reply
    async send(request: unknown): Promise<any> {
      const parsed = dispatcher.parse(JSON.stringify(request));
      return isReply(parsed) ? parsed : await whole(await dispatcher.run(parsed));
    },
    async [Symbol.asyncDispose]() {
      await own?.close();
    },
  };
}

testWith("read")(
  "dispatcher: REGISTRO → LOGIN → GET_TAREAS_HTML, the happy path of §2.6",
  async () => {
    await using d = await setup();
    assert.deepEqual(
      await d.send({ op: "REGISTRO", data: { usuario: "ana", password: "s3cret-pass" } }),
      { ok: true, usuario: "ana" },
    );
    const login = await d.send({ op: "LOGIN", data: { username: "ana", password: "s3cret-pass" } });
    assert.equal(login.ok, true);
    assert.equal(login.usuario, "ana");
    assert.equal(typeof login.token, "string");
    const tareas = await d.send({ op: "GET_TAREAS_HTML", data: { token: login.token } });
    assert.equal(tareas.ok, true);
    assert.match(String(tareas.html), /¡Hola, ana!/);
    assert.match(String(tareas.html), /<strong>4<\/strong> workers/);
  },
);

testWith("read")("dispatcher: each account error code", async () => {
  await using d = await setup();
  await d.send({ op: "REGISTRO", usuario: "ana", password: "s3cret-pass" });
  const cases: [unknown, string][] = [
    [{ op: "REGISTRO", usuario: "ANA", password: "s3cret-pass" }, "user_exists"],
    [{ op: "REGISTRO", usuario: "a", password: "s3cret-pass" }, "invalid_user"],
    [{ op: "REGISTRO", usuario: "ana", password: "short" }, "invalid_user"],
    [{ op: "LOGIN", usuario: "<script>", password: "s3cret-pass" }, "invalid_user"],
    [{ op: "LOGIN", usuario: "ana", password: "wrong-pass" }, "bad_credentials"],
    [{ op: "LOGIN", usuario: "nadie", password: "s3cret-pass" }, "bad_credentials"],
    [{ op: "GET_TAREAS_HTML" }, "unauthorized"],
    [{ op: "GET_TAREAS_HTML", token: "not-a-token" }, "unauthorized"],
  ];
  for (const [request, code] of cases) {
    const reply = await d.send(request);
    assert.equal(reply.ok, false, JSON.stringify(request));
    assert.equal(reply.error, code, JSON.stringify(request));
    assert.match(String(reply.mensaje), /^❌ /);
  }
});

Deno.test("dispatcher: without an account service the account ops are unknown_op", async () => {
  const dispatcher = createDispatcher({
    orders: ORDERS,
    logger: new Logger({ write: () => {} }),
    connections: () => 0,
    startedAt: 0,
  });
  for (const op of ["REGISTRO", "LOGIN"]) {
    const parsed = dispatcher.parse(
      JSON.stringify({ op, usuario: "ana", password: "s3cret-pass" }),
    );
    const reply = isReply(parsed) ? parsed : await whole(await dispatcher.run(parsed));
    assert.equal(reply.ok === false && reply.error, "unknown_op");
    assert.match(String(reply.ok === false && reply.mensaje), /no disponible en este servidor/);
  }
});

Deno.test("dispatcher: a storage failure is internal, and the log shows no password", async () => {
  const broken: AccountStore = {
    findUser: () => Promise.resolve(null),
    createUser: () => Promise.reject(new Error("Cannot createUser: database or disk is full")),
    createSession: () => Promise.reject(new Error("unreachable")),
    findSession: () => Promise.reject(new Error("Cannot findSession: disk I/O error")),
    deleteExpiredSessions: () => Promise.resolve(0),
    setRole: () => Promise.resolve(false),
  };
  await using d = await setup(broken);
  const reply = await d.send({ op: "REGISTRO", usuario: "ana", password: "s3cret-pass" });
  assert.equal(reply.error, "internal");
  assert.equal((await d.send({ op: "GET_TAREAS_HTML", token: "tok-abcdef" })).error, "internal");
  const log = d.lines.join("\n");
  assert.match(log, /database or disk is full/);
  assert.ok(!log.includes("s3cret-pass") && !log.includes("tok-abcdef"));
});

Deno.test("dispatcher: an unreachable store's reply says what did not happen, per request", async () => {
  const down = () => Promise.reject(new StoreUnavailableError("read", "connection refused"));
  const orders = {
    ...ORDERS,
    submit: down,
    status: down,
    list: down,
    cancel: down,
    retry: down,
    clusterStats: down,
  } as unknown as OrderOperations;
  const broken: AccountStore = {
    findUser: down,
    createUser: down,
    createSession: down,
    findSession: down,
    deleteExpiredSessions: () => Promise.resolve(0),
    setRole: () => Promise.resolve(false),
  };
  const logger = new Logger({ write: () => {} });
  const dispatcher = createDispatcher({
    orders,
    accounts: new AccountService({
      store: broken,
      logger,
      hasher: new PasswordHasher({ params: { ln: 10, r: 8, p: 1 } }),
    }),
    logger,
    connections: () => 0,
    startedAt: 0,
  });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ cliente: "Ana", productos: ["pan"], direccion: "Calle 1" }, /Nada fue aceptado/],
    [{ op: "REINTENTAR", id: 1 }, /No se reintentó/],
    [{ op: "CANCELAR", id: 1 }, /No se canceló/],
    [{ op: "REGISTRO", data: { usuario: "ana", password: "s3cret-pass" } }, /No se registró/],
    [{ op: "ESTADO", id: 1 }, /No se pudo leer/],
    [{ op: "ESTADO", id: 1, esperar: true }, /No se pudo leer/],
    [{ op: "LISTAR" }, /No se pudo leer/],
    [{ op: "STATS" }, /No se pudo leer/],
    [{ op: "LOGIN", data: { username: "ana", password: "s3cret-pass" } }, /No se inició sesión/],
  ];
  for (const [request, effect] of cases) {
    const parsed = dispatcher.parse(JSON.stringify(request));
    assert.ok(!isReply(parsed), JSON.stringify(parsed));
    const reply = await whole(await dispatcher.run(parsed));
    assert.equal(reply.ok === false && reply.error, "unavailable", JSON.stringify(request));
    const mensaje = String(reply.ok === false && reply.mensaje);
    assert.match(mensaje, /no está disponible/);
    assert.match(mensaje, effect, JSON.stringify(request));
    if (request.op !== undefined) assert.doesNotMatch(mensaje, /aceptado/, JSON.stringify(request));
  }
});

/** A reply as one object, a reply in pieces read to its end. */
async function whole(reply: Reply | ReplyStream): Promise<Reply> {
  return reply instanceof ReplyStream ? JSON.parse(await reply.text()) : reply;
}

/** A dispatcher whose orders count `counts()`, and whose ends settle once `settled` resolves. */
function settlingDispatcher(
  counts: () => Partial<OrderStats>,
  countReceived: () => void,
  settled: Promise<void>,
) {
  return createDispatcher({
    orders: {
      countReceived,
      stats: () => ({ workers: 4, ...counts() }) as OrderStats,
      settleEnds: () => settled,
    } as unknown as OrderOperations,
    logger: new Logger({ write: () => {} }),
    connections: () => 1,
    startedAt: 0,
  });
}

Deno.test("dispatcher: STATS never counts an order refused or accepted that it does not count received: the intake is read at once", async () => {
  const counts = { recibidos: 10, aceptados: 6, rechazados: 4 };
  const settled = Promise.withResolvers<void>();
  const dispatcher = settlingDispatcher(() => counts, () => {}, settled.promise);
  const parsed = dispatcher.parse('{"op":"STATS"}');
  assert.ok(!isReply(parsed));
  const reply = dispatcher.run(parsed);
  // While ends settle, another connection's order is received and refused queue_full.
  counts.recibidos++;
  counts.rechazados++;
  settled.resolve();
  const stats = await whole(await reply);
  assert.ok(stats.ok && "stats" in stats);
  const { recibidos, aceptados, rechazados } = stats.stats;
  assert.deepEqual({ recibidos, aceptados, rechazados }, {
    recibidos: 10,
    aceptados: 6,
    rechazados: 4,
  });
});

Deno.test("dispatcher: STATS counts in recibidos the orders received before it, not invalid ones parsed while it settles", async () => {
  let recibidos = 10;
  const settled = Promise.withResolvers<void>();
  const dispatcher = settlingDispatcher(
    () => ({ recibidos }),
    () => void recibidos++,
    settled.promise,
  );
  const parsed = dispatcher.parse('{"op":"STATS"}');
  assert.ok(!isReply(parsed));
  const reply = dispatcher.run(parsed);
  // Sent after the STATS: an invalid order is answered (and counted) as it is parsed.
  assert.ok(isReply(dispatcher.parse('{"cliente":""}')));
  assert.equal(recibidos, 11);
  settled.resolve();
  const stats = await whole(await reply);
  assert.equal(stats.ok && "stats" in stats && stats.stats.recibidos, 10);
});
