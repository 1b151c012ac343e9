/**
 * §8 "Effects in request order": requests pipelined on one connection take
 * effect in the order sent, as if each waited for the previous reply. Each
 * pair is sent in one write, many rounds, against a real daemon.
 */
import assert from "node:assert/strict";
import { rawConnect, startInProcess, tempDir } from "./test_util.ts";
import type { ServerSettings } from "../server/server.ts";
import { testWith } from "./permissions.ts";

const ROUNDS = 40;

/**
 * A daemon on a database file: its reads run on the main thread, apart from
 * the writer, which is where a read could overtake an earlier write.
 */
async function daemonOnFile(overrides: Partial<ServerSettings>) {
  const dir = await tempDir();
  const daemon = await startInProcess({ ...overrides, db: `${dir.path}/pedidos.db` });
  const stop = daemon[Symbol.asyncDispose].bind(daemon);
  return Object.assign(daemon, {
    async [Symbol.asyncDispose]() {
      await stop();
      await dir[Symbol.asyncDispose]();
    },
  });
}

/**
 * A daemon on a file whose one worker is busy for a minute with the first
 * order it gets, so every later order stays `pendiente`.
 */
function busyDaemonOnFile(maxPedidos: number) {
  return daemonOnFile({
    maxPedidos,
    workers: 1,
    processMs: { min: 60_000, max: 60_000 },
    drainTimeoutMs: 50,
  });
}

function order(cliente: string): string {
  return JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1" });
}

function withClave(cliente: string, clave: string): string {
  return JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1", clave });
}

/** Sends one order alone and returns its id (the base for predicting the next ids). */
async function firstId(conn: Awaited<ReturnType<typeof rawConnect>>): Promise<number> {
  await conn.write(order("base") + "\n");
  const reply = await conn.readLine();
  assert.equal(reply?.ok, true);
  return reply?.id as number;
}

testWith("read", "write")(
  "ESTADO pipelined after PEDIDO sees the order it names, every round",
  async () => {
    await using daemon = await daemonOnFile({ maxPedidos: 1000 });
    await using conn = await rawConnect(daemon.port);
    let id = await firstId(conn);
    for (let round = 0; round < ROUNDS; round++) {
      id++;
      await conn.write(`${order(`Eva ${round}`)}\n{"op":"ESTADO","id":${id}}\n`);
      const accepted = await conn.readLine();
      const estado = await conn.readLine();
      assert.equal(accepted?.id, id, `round ${round}: ids are consecutive on a fresh daemon`);
      assert.equal(estado?.ok, true, `round ${round}: ${JSON.stringify(estado)}`);
      assert.equal((estado?.pedido as { cliente: string }).cliente, `Eva ${round}`);
    }
  },
);

testWith("read", "write")(
  "LISTAR pipelined after PEDIDO lists that order first, every round",
  async () => {
    await using daemon = await daemonOnFile({ maxPedidos: 1000 });
    await using conn = await rawConnect(daemon.port);
    for (let round = 0; round < ROUNDS; round++) {
      await conn.write(`${order(`Eva ${round}`)}\n{"op":"LISTAR","limit":1}\n`);
      const accepted = await conn.readLine();
      const listed = await conn.readLine();
      const pedidos = listed?.pedidos as { id: number; cliente: string }[];
      assert.deepEqual(pedidos.map((p) => [p.id, p.cliente]), [[accepted?.id, `Eva ${round}`]]);
    }
  },
);

testWith("read", "write")(
  "STATS pipelined after PEDIDO counts it and its slot, every round",
  async () => {
    await using daemon = await busyDaemonOnFile(1000);
    await using conn = await rawConnect(daemon.port);
    for (let round = 1; round <= ROUNDS; round++) {
      await conn.write(`${order("Eva")}\n{"op":"STATS"}\n`);
      assert.equal((await conn.readLine())?.ok, true);
      const stats = (await conn.readLine())?.stats as Record<string, number>;
      assert.deepEqual(
        [stats.recibidos, stats.aceptados, stats.en_proceso, stats.pendientes, stats.libres],
        [round, round, 1, round - 1, 1000 - round],
      );
    }
  },
);

testWith("read", "write")(
  "CANCELAR pipelined after PEDIDO cancels that order, and ESTADO after it sees cancelado",
  async () => {
    await using daemon = await busyDaemonOnFile(1000);
    await using conn = await rawConnect(daemon.port);
    let id = await firstId(conn);
    for (let round = 0; round < ROUNDS; round++) {
      id++;
      await conn.write(
        `${order(`Eva ${round}`)}\n{"op":"CANCELAR","id":${id}}\n{"op":"ESTADO","id":${id}}\n` +
          `{"op":"STATS"}\n`,
      );
      assert.equal((await conn.readLine())?.id, id);
      const cancelled = await conn.readLine();
      assert.equal(cancelled?.ok, true, `round ${round}: ${JSON.stringify(cancelled)}`);
      assert.equal((cancelled?.pedido as { estado: string }).estado, "cancelado");
      const estado = await conn.readLine();
      assert.equal((estado?.pedido as { estado: string }).estado, "cancelado");
      const stats = (await conn.readLine())?.stats as Record<string, number>;
      assert.equal(stats.cancelados, round + 1);
      assert.equal(stats.libres, 999, "only the running order holds a slot");
    }
  },
);

testWith("read", "write")(
  "PEDIDO pipelined after CANCELAR gets the slot the cancel gave back",
  async () => {
    await using daemon = await busyDaemonOnFile(2);
    await using conn = await rawConnect(daemon.port);
    let id = await firstId(conn); // runs for a minute
    await conn.write(order("espera") + "\n");
    id = (await conn.readLine())?.id as number; // waits: the daemon is full now
    for (let round = 0; round < ROUNDS; round++) {
      await conn.write(`{"op":"CANCELAR","id":${id}}\n${order(`Eva ${round}`)}\n`);
      assert.equal((await conn.readLine())?.ok, true);
      const next = await conn.readLine();
      assert.equal(next?.ok, true, `round ${round}: ${JSON.stringify(next)}`);
      id = next?.id as number;
    }
  },
);

testWith("read", "write")(
  "CANCELAR pipelined after an order a worker took refuses it as ESTADO and STATS show it: en proceso, its worker, its attempt",
  async () => {
    for (let round = 0; round < 5; round++) {
      // The one worker is idle: it takes the order as soon as it is stored.
      await using daemon = await busyDaemonOnFile(5);
      await using conn = await rawConnect(daemon.port);
      await conn.write(
        `${order("Eva")}\n{"op":"CANCELAR","id":1}\n{"op":"ESTADO","id":1}\n{"op":"STATS"}\n`,
      );
      assert.equal((await conn.readLine())?.id, 1);
      const refused = await conn.readLine();
      assert.equal(refused?.error, "not_cancellable", `round ${round}: ${JSON.stringify(refused)}`);
      const shown = refused?.pedido as Record<string, unknown>;
      const estado = (await conn.readLine())?.pedido as Record<string, unknown>;
      const stats = (await conn.readLine())?.stats as Record<string, number>;
      assert.equal(stats.en_proceso, 1);
      for (const seen of [shown, estado]) {
        assert.deepEqual(
          [seen.estado, seen.worker, seen.intentos, typeof seen.fecha_inicio],
          ["en proceso", 1, 1, "string"],
          `round ${round}: ${JSON.stringify(seen)}`,
        );
      }
    }
  },
);

testWith("read", "write")(
  "a PEDIDO pipelined after one with the same clave is answered duplicado even when that one filled the daemon",
  async () => {
    await using daemon = await busyDaemonOnFile(1);
    await using conn = await rawConnect(daemon.port);
    const withClave = JSON.stringify({
      cliente: "Eva",
      productos: ["pan"],
      direccion: "C 1",
      clave: "una-vez",
    });
    await conn.write(`${withClave}\n${withClave}\n${order("sin clave")}\n`);
    const first = await conn.readLine();
    const second = await conn.readLine();
    const third = await conn.readLine();
    assert.equal(first?.ok, true);
    assert.equal(first?.duplicado, undefined);
    assert.deepEqual([second?.ok, second?.id, second?.duplicado], [true, first?.id, true]);
    assert.equal(third?.error, "queue_full", "the daemon is full for anything else");
  },
);

testWith("read", "write")(
  "orders pipelined with and without a clave take effect in the order sent, also on a database in memory",
  async () => {
    for (const where of ["file", "memory"] as const) {
      const settings: Partial<ServerSettings> = {
        workers: 1,
        processMs: { min: 60_000, max: 60_000 },
        drainTimeoutMs: 50,
      };
      // The daemon full after the first of each pair: the first sent gets the slot.
      {
        await using daemon = where === "file"
          ? await daemonOnFile({ ...settings, maxPedidos: 1 })
          : await startInProcess({ ...settings, maxPedidos: 1, db: ":memory:" });
        await using conn = await rawConnect(daemon.port);
        await conn.write(`${withClave("Ana", "k-1")}\n${order("Bea")}\n{"op":"LISTAR"}\n`);
        const first = await conn.readLine();
        const second = await conn.readLine();
        const listed = (await conn.readLine())?.pedidos as { cliente: string }[];
        assert.equal(first?.ok, true, `${where}: ${JSON.stringify(first)}`);
        assert.equal(second?.error, "queue_full", `${where}: ${JSON.stringify(second)}`);
        assert.deepEqual(listed.map((p) => p.cliente), ["Ana"], where);
      }
      // With room: ids follow the order sent, whichever orders carry a clave.
      {
        await using daemon = where === "file"
          ? await daemonOnFile({ ...settings, maxPedidos: 1000 })
          : await startInProcess({ ...settings, maxPedidos: 1000, db: ":memory:" });
        await using conn = await rawConnect(daemon.port);
        for (let round = 0; round < ROUNDS; round++) {
          await conn.write(
            `${withClave(`Ana ${round}`, `k-${round}`)}\n${order(`Bea ${round}`)}\n`,
          );
          const first = await conn.readLine();
          const second = await conn.readLine();
          assert.ok(
            (first?.id as number) < (second?.id as number),
            `${where}, round ${round}: ${JSON.stringify([first, second])}`,
          );
        }
      }
    }
  },
);

testWith("read", "write")(
  "an order placed with a session token, then one without, pipelined: the first sent gets the last slot",
  async () => {
    // In memory, where the token's session is looked up through the writer.
    await using daemon = await startInProcess({
      db: ":memory:",
      maxPedidos: 1,
      workers: 1,
      processMs: { min: 60_000, max: 60_000 },
      drainTimeoutMs: 50,
    });
    await using conn = await rawConnect(daemon.port);
    await conn.write('{"op":"REGISTRO","data":{"usuario":"ana","password":"s3cret-pass"}}\n');
    assert.equal((await conn.readLine())?.ok, true);
    await conn.write('{"op":"LOGIN","data":{"usuario":"ana","password":"s3cret-pass"}}\n');
    const token = (await conn.readLine())?.token as string;
    const mine = JSON.stringify({ cliente: "Ana", productos: ["pan"], direccion: "C 1", token });
    await conn.write(`${mine}\n${order("Bea")}\n`);
    const first = await conn.readLine();
    const second = await conn.readLine();
    assert.equal(first?.ok, true, JSON.stringify(first));
    assert.equal(second?.error, "queue_full", JSON.stringify(second));
  },
);

testWith("read", "write")(
  "an order pipelined after a duplicate gets the last slot, which the duplicate does not need",
  async () => {
    await using daemon = await busyDaemonOnFile(2);
    await using conn = await rawConnect(daemon.port);
    await firstId(conn); // runs for a minute, in one of the two slots
    // An order with a clave, cancelled: stored, holding no slot.
    await conn.write(withClave("Ana", "hecho") + "\n");
    const stored = await conn.readLine();
    await conn.write(`{"op":"CANCELAR","id":${stored?.id}}\n`);
    assert.equal((await conn.readLine())?.ok, true);
    for (let round = 0; round < ROUNDS; round++) {
      await conn.write(`${withClave("Ana", "hecho")}\n${order(`Bea ${round}`)}\n`);
      const again = await conn.readLine();
      const next = await conn.readLine();
      assert.deepEqual([again?.id, again?.duplicado], [stored?.id, true]);
      assert.equal(next?.ok, true, `round ${round}: ${JSON.stringify(next)}`);
      // Cancelled in turn: the last slot is free again.
      await conn.write(`{"op":"CANCELAR","id":${next?.id}}\n`);
      assert.equal((await conn.readLine())?.ok, true);
    }
  },
);

testWith("read", "write")(
  "reads pipelined after ESTADO esperar see what the wait saw: the order listo, counted in STATS",
  async () => {
    // Each order takes 150 ms on one of two workers: the wait is answered when it ends.
    await using daemon = await daemonOnFile({
      maxPedidos: 100,
      workers: 2,
      processMs: { min: 150, max: 150 },
    });
    await using placer = await rawConnect(daemon.port);
    await using conn = await rawConnect(daemon.port);
    for (let round = 0; round < 5; round++) {
      await placer.write(order(`Gil ${round}`) + "\n");
      const { id } = (await placer.readLine()) as { id: number };
      await conn.write(
        `{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":10000}\n` +
          `{"op":"ESTADO","id":${id}}\n{"op":"LISTAR","limit":1}\n{"op":"STATS"}\n`,
      );
      const waited = (await conn.readLine())?.pedido as { estado: string };
      const after = (await conn.readLine())?.pedido as { estado: string };
      const listed = ((await conn.readLine())?.pedidos as { id: number; estado: string }[])[0];
      const stats = (await conn.readLine())?.stats as Record<string, number>;
      assert.equal(waited.estado, "listo", `round ${round}`);
      assert.equal(after.estado, "listo", `round ${round}: ESTADO after the wait`);
      assert.deepEqual([listed?.id, listed?.estado], [id, "listo"], `round ${round}: LISTAR`);
      assert.equal(stats.listos, round + 1, `round ${round}: STATS`);
      assert.equal(stats.en_proceso, 0, `round ${round}: STATS`);
    }
  },
);

testWith("read", "write")(
  "a LISTAR pipelined right after ESTADO esperar lists the order as the wait saw it, listo",
  async () => {
    // Each order takes 150 ms on one of two workers: the wait is answered when it ends.
    await using daemon = await daemonOnFile({
      maxPedidos: 100,
      workers: 2,
      processMs: { min: 150, max: 150 },
    });
    await using placer = await rawConnect(daemon.port);
    await using conn = await rawConnect(daemon.port);
    for (let round = 0; round < 5; round++) {
      await placer.write(order(`Lis ${round}`) + "\n");
      const { id } = (await placer.readLine()) as { id: number };
      await conn.write(
        `{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":10000}\n` +
          `{"op":"LISTAR","cliente":"Lis ${round}"}\n`,
      );
      const waited = (await conn.readLine())?.pedido as { estado: string };
      const listed = (await conn.readLine())?.pedidos as { id: number; estado: string }[];
      assert.equal(waited.estado, "listo", `round ${round}`);
      assert.deepEqual(
        listed.map((p) => [p.id, p.estado]),
        [[id, "listo"]],
        `round ${round}: LISTAR after the wait`,
      );
    }
  },
);

testWith("read", "write")(
  "reads pipelined while orders go pendiente → en proceso → listo agree with each other and never go back",
  async () => {
    // One worker, orders of 30 ms: every 30 ms one ends and the next starts.
    await using daemon = await daemonOnFile({ workers: 1, processMs: { min: 30, max: 30 } });
    await using conn = await rawConnect(daemon.port);
    const order = JSON.stringify({ cliente: "Eva", productos: ["pan"], direccion: "C 1" });
    await conn.write(`${order}\n`.repeat(6));
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) ids.push((await conn.readLine())?.id as number);
    const rank = { pendiente: 0, "en proceso": 1, listo: 2 } as Record<string, number>;
    const last = new Map<number, number>();
    let groups = 0;
    for (let done = false; !done; groups++) {
      assert.ok(groups < 2000, "the orders never all ended");
      // ESTADO of each, then the lists by state, in one write.
      await conn.write(
        ids.map((id) => `{"op":"ESTADO","id":${id}}\n`).join("") +
          '{"op":"LISTAR","estado":"pendiente"}\n{"op":"LISTAR","estado":"en proceso"}\n',
      );
      const estado = new Map<number, string>();
      for (const id of ids) {
        estado.set(id, ((await conn.readLine())?.pedido as { estado: string }).estado);
      }
      const listed = async () =>
        new Set(((await conn.readLine())?.pedidos as { id: number }[]).map((p) => p.id));
      const pendientes = await listed();
      const enProceso = await listed();
      for (const id of ids) {
        const seen = estado.get(id)!;
        // A later read never shows an earlier state than an earlier read did…
        assert.ok(rank[seen]! >= (last.get(id) ?? 0), `order ${id} went back to ${seen}`);
        last.set(id, rank[seen]!);
        // …and the list of pendientes, read after, has it only if that ESTADO said pendiente.
        if (pendientes.has(id)) assert.equal(seen, "pendiente", `order ${id} listed pendiente`);
        // The list of en proceso, read last, has none that ESTADO saw listo.
        if (enProceso.has(id)) assert.notEqual(seen, "listo", `order ${id} listed en proceso`);
      }
      done = ids.every((id) => estado.get(id) === "listo");
    }
  },
);

testWith("read", "write")(
  "a short ESTADO esperar pipelined behind a long one on the same order is never answered with an older state than the long one's",
  async () => {
    // Each order takes 400 ms: the short wait times out while the order runs,
    // the long one is answered when it is listo, and the short one's reply comes after it.
    await using daemon = await daemonOnFile({
      maxPedidos: 100,
      workers: 2,
      processMs: { min: 400, max: 400 },
    });
    await using placer = await rawConnect(daemon.port);
    await using conn = await rawConnect(daemon.port);
    for (let round = 0; round < 3; round++) {
      await placer.write(order(`Ivo ${round}`) + "\n");
      const { id } = (await placer.readLine()) as { id: number };
      await conn.write(
        `{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":10000}\n` +
          `{"op":"ESTADO","id":${id},"esperar":true,"timeout_ms":50}\n`,
      );
      type Waited = { pedido?: { estado: string }; timeout?: boolean } | null;
      const long = (await conn.readLine()) as Waited;
      const short = (await conn.readLine()) as Waited;
      assert.equal(long?.pedido?.estado, "listo", `round ${round}: ${JSON.stringify(long)}`);
      assert.equal(short?.pedido?.estado, "listo", `round ${round}: ${JSON.stringify(short)}`);
      // As if sent after the long wait's reply: the order had ended, so it did not time out.
      assert.equal(short?.timeout, undefined, `round ${round}: ${JSON.stringify(short)}`);
    }
  },
);

testWith("read", "write")(
  "ESTADO and LISTAR pipelined after a STATS that counted an order ended never show it still en proceso",
  async () => {
    // One worker, 150 ms an order: a TASK pipelined first waits for the
    // worker, so it is answered once the order has run and while its end is
    // still being committed, when STATS (which waits for those commits) and a
    // read beside it could disagree.
    await using daemon = await daemonOnFile({
      maxPedidos: 10,
      workers: 1,
      processMs: { min: 150, max: 150 },
    });
    await using conn = await rawConnect(daemon.port);
    for (let round = 0; round < 5; round++) {
      await conn.write(order(`Olga ${round}`) + "\n");
      const { id } = (await conn.readLine()) as { id: number };
      await conn.write(
        `{"op":"TASK","task":{"name":"sum","args":[1]}}\n{"op":"STATS"}\n` +
          `{"op":"ESTADO","id":${id}}\n{"op":"LISTAR","estado":"en proceso"}\n`,
      );
      const task = await conn.readLine();
      const { stats } = (await conn.readLine()) as {
        stats: { en_proceso: number; pendientes: number };
      };
      const estado = (await conn.readLine()) as { pedido: { estado: string } };
      const listed = (await conn.readLine()) as { pedidos: { id: number }[] };
      assert.equal(task?.ok, true, JSON.stringify(task));
      assert.equal(typeof stats.en_proceso, "number");
      if (stats.en_proceso + stats.pendientes === 0) {
        assert.equal(
          estado.pedido.estado,
          "listo",
          `round ${round}: STATS counted none unfinished`,
        );
        assert.deepEqual(listed.pedidos.map((p) => p.id), [], `round ${round}: listed en proceso`);
      }
    }
  },
);

testWith("read", "write")(
  "ESTADO pipelined after a STATS that counted an order en proceso shows it en proceso, with its worker and attempt",
  async () => {
    // One idle worker, 100 ms an order: it takes each order as soon as it is
    // stored, and its start is committed a moment later, while the STATS and
    // the ESTADO sent with the order are answered.
    await using daemon = await daemonOnFile({
      maxPedidos: 10,
      workers: 1,
      processMs: { min: 100, max: 100 },
    });
    await using conn = await rawConnect(daemon.port);
    let counted = 0;
    for (let round = 1; round <= 15; round++) {
      await conn.write(
        `${order(`Olga ${round}`)}\n{"op":"STATS"}\n{"op":"ESTADO","id":${round}}\n`,
      );
      assert.equal((await conn.readLine())?.id, round);
      const { stats } = (await conn.readLine()) as {
        stats: { en_proceso: number; pendientes: number };
      };
      const { pedido } = (await conn.readLine()) as { pedido: Record<string, unknown> };
      assert.equal(stats.en_proceso + stats.pendientes, 1, `round ${round}: one unfinished`);
      if (stats.en_proceso === 1) {
        counted++;
        assert.deepEqual(
          [pedido.estado, pedido.worker, pedido.intentos, typeof pedido.fecha_inicio],
          ["en proceso", 1, 1, "string"],
          `round ${round}: STATS counted it en proceso, then ESTADO showed ${
            JSON.stringify(pedido)
          }`,
        );
      }
      // The worker idle again before the next round.
      await conn.write(`{"op":"ESTADO","id":${round},"esperar":true}\n`);
      assert.equal(((await conn.readLine())?.pedido as { estado: string }).estado, "listo");
    }
    assert.ok(counted > 0, "STATS counted the order en proceso in some round");
  },
);
