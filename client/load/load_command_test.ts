import assert from "node:assert/strict";
import { LOAD_USAGE } from "./load_args.ts";
import { LOAD_EXIT, loadStatus, runLoadCommand } from "./load_command.ts";
import { rawConnect, runMain, startInProcess, tempDir, within } from "../../tests/test_util.ts";
import { NO_SOURCES } from "../testing/cli_harness.ts";
import { SAMPLE_LOAD_SUMMARY as SUMMARY } from "../testing/sample_load_summary.ts";
import { unusedPort } from "../testing/unused_port.ts";
import { testWith } from "../../tests/permissions.ts";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (text: string) => void out.push(text),
      stderr: (text: string) => void err.push(text),
      sources: NO_SOURCES,
      signal: new AbortController().signal,
      isTerminal: false,
    },
  };
}

Deno.test("loadStatus() maps a run to its exit status", () => {
  const ok = { ...SUMMARY, errores: 0, erroresPorTipo: {} };
  assert.equal(loadStatus(ok, false), LOAD_EXIT.ok);
  assert.equal(loadStatus(SUMMARY, false), LOAD_EXIT.errors);
  assert.equal(loadStatus({ ...ok, interrumpido: true }, false), LOAD_EXIT.interrupted);
  assert.equal(
    loadStatus({
      ...ok,
      conexiones: { abiertas: 0, fallidas: 3, perdidas: 0 },
      incidencias: { conexion: 3 },
    }, false),
    LOAD_EXIT.unreachable,
  );
  // Every connection turned away with busy: the daemon answered; the run failed.
  assert.equal(
    loadStatus({
      ...ok,
      conexiones: { abiertas: 0, fallidas: 3, perdidas: 0 },
      incidencias: { busy: 3 },
    }, false),
    LOAD_EXIT.errors,
  );
  assert.equal(loadStatus(ok, true), LOAD_EXIT.errors, "esperar without all listo");
  // No order failed, but a connection did: not a clean run.
  for (
    const conexiones of [{ abiertas: 3, fallidas: 1, perdidas: 0 }, {
      abiertas: 3,
      fallidas: 0,
      perdidas: 1,
    }]
  ) {
    assert.equal(
      loadStatus({ ...ok, conexiones }, false),
      LOAD_EXIT.errors,
      JSON.stringify(conexiones),
    );
  }
});

Deno.test("runLoadCommand() --json prints only the spec's object", async () => {
  await using daemon = await startInProcess({ maxPedidos: 1000 });
  const { out, err, io } = capture();
  const status = await runLoadCommand([
    "--host",
    "127.0.0.1",
    "--port",
    String(daemon.port),
    "--clientes",
    "3",
    "--pedidos",
    "4",
    "--esperar",
    "--json",
  ], io);
  assert.equal(status, LOAD_EXIT.ok, err.join(""));
  assert.equal(out.length, 1);
  assert.ok(out[0]!.endsWith("}\n") && !out[0]!.includes("\r"));
  const json = JSON.parse(out[0]!);
  assert.deepEqual(Object.keys(json), [
    "enviados",
    "aceptados",
    "rechazados",
    "errores",
    "por_segundo",
    "latencia_ms",
    "listos",
    "hasta_listos_s",
  ]);
  assert.deepEqual(Object.keys(json.latencia_ms), ["p50", "p95", "p99", "max"]);
  assert.equal(json.enviados, 12);
  assert.equal(json.aceptados, 12);
  assert.equal(json.listos, 12);
  assert.equal(typeof json.hasta_listos_s, "number");
});

Deno.test("runLoadCommand() draws a progress line only on a terminal, and erases it", async () => {
  await using daemon = await startInProcess({ maxPedidos: 1000 });
  const args = ["--host", "127.0.0.1", "--port", String(daemon.port), "--duracion", "0.4"];
  const plain = capture();
  assert.equal(await runLoadCommand(args, plain.io), LOAD_EXIT.ok);
  assert.ok(!plain.out.join("").includes("\r"), "no progress when not a terminal");
  assert.match(plain.out.join(""), /^carga +10 clientes × ∞ pedidos/);

  const tty = capture();
  assert.equal(await runLoadCommand(args, { ...tty.io, isTerminal: true }), LOAD_EXIT.ok);
  const progress = tty.out.filter((text) => text.startsWith("\r") && text.length > 3);
  assert.ok(progress.length > 0, "at least one progress line");
  assert.match(progress[0]!, /enviados \d+ · aceptados \d+ · rechazados \d+ · errores \d+/);
  assert.ok(progress[0]!.endsWith("\x1b[K"));
  const erase = tty.out.indexOf("\r\x1b[K");
  assert.ok(erase > 0 && tty.out[erase + 1]!.startsWith("carga"), "erased before the summary");
});

Deno.test("runLoadCommand() with no daemon prints the summary on stdout and why on stderr, and exits 3", async () => {
  const port = unusedPort();
  const { out, err, io } = capture();
  const status = await runLoadCommand(["--host", "127.0.0.1", "--port", String(port)], io);
  assert.equal(status, LOAD_EXIT.unreachable);
  assert.match(out.join(""), /fallidas 10/);
  // The reason is on stderr, as with --json, and only there.
  assert.match(err.join(""), /^pedidos load: no connection could be opened\n/);
  assert.match(err.join(""), /Cannot connect to 127\.0\.0\.1 port/);
  assert.doesNotMatch(out.join(""), /Cannot connect/);
});

Deno.test("runLoadCommand() --json with no daemon prints the spec's object on stdout and why on stderr, and exits 3", async () => {
  const port = unusedPort();
  const { out, err, io } = capture();
  const args = ["--host", "127.0.0.1", "--port", String(port), "--json"];
  assert.equal(await runLoadCommand(args, io), LOAD_EXIT.unreachable);
  assert.equal(out.length, 1);
  assert.equal(JSON.parse(out[0]!).enviados, 0);
  assert.match(err.join(""), /^pedidos load: no connection could be opened\n/);
  assert.match(err.join(""), /Cannot connect to 127\.0\.0\.1 port/);
});

Deno.test("runLoadCommand() --json that does not go well says why on stderr, stdout keeping the spec's object alone", async () => {
  await using daemon = await startInProcess({
    workers: 1,
    processMs: { min: 3000, max: 3000 },
    drainTimeoutMs: 100,
  });
  const { out, err, io } = capture();
  const args = ["--host", "127.0.0.1", "--port", String(daemon.port), "--clientes", "1"];
  args.push("--pedidos", "2", "--esperar", "--timeout-ms", "300", "--json");
  assert.equal(await runLoadCommand(args, io), LOAD_EXIT.errors);
  assert.equal(out.length, 1);
  const json = JSON.parse(out[0]!);
  assert.equal(json.aceptados, 2);
  assert.equal(json.listos, 0);
  assert.match(err.join(""), /listos +0 de 2: no todos llegaron a listo \(2 sin terminar\)/);
});

Deno.test("runLoadCommand() counts a connection turned away with busy as a failed connection only, not as an order", async () => {
  // One place, held by a connection of our own; no grace for a place to free.
  await using daemon = await startInProcess({ maxConnections: 1 }, { busyGraceMs: 0 });
  await using held = await rawConnect(daemon.port);
  await held.write('{"op":"PING"}\n');
  assert.deepEqual(await held.readLine(), { ok: true, pong: true }, "the place is taken");
  const { out, err, io } = capture();
  const args = ["--host", "127.0.0.1", "--port", String(daemon.port), "--clientes", "2"];
  args.push("--pedidos", "1", "--json");
  assert.equal(await runLoadCommand(args, io), LOAD_EXIT.errors);
  const json = JSON.parse(out.join(""));
  assert.equal(json.enviados, 0, out.join(""));
  assert.equal(json.errores, 0, out.join(""));
  const people = err.join("");
  assert.match(people, /pedidos +enviados 0 · aceptados 0 · rechazados 0 · errores 0\n/);
  assert.match(people, /conexiones abiertas 0 · fallidas 2 · perdidas 0\n/);
  assert.match(people, /incidencias busy 2\n/);
  assert.doesNotMatch(people, /^errores /m, "no order failed");
});

/**
 * A fake daemon on 127.0.0.1 (a free port), for as long as it lives. Each
 * connection, `stopping`: is told `shutting_down` as it is accepted, and
 * closed once the client closes it. `closing`: gets `ok` for its first 2
 * orders, then is closed as its third comes, unanswered. `refusing`: gets
 * `ok` for its first 2 orders, `shutting_down` for every one after, and is
 * closed once the client closes it. Counts the order lines it read.
 */
function fakeDaemon(mode: "stopping" | "closing" | "refusing") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const encoder = new TextEncoder();
  const conns = new Set<Deno.TcpConn>();
  const served: Promise<void>[] = [];
  let orders = 0;
  async function serve(conn: Deno.TcpConn): Promise<void> {
    const reply = (text: string) => conn.write(encoder.encode(text + "\n"));
    try {
      if (mode === "stopping") await reply('{"ok":false,"error":"shutting_down"}');
      const buffer = new Uint8Array(65536);
      let seen = 0;
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        for (const byte of buffer.subarray(0, n)) {
          if (byte !== 10) continue;
          orders++;
          seen++;
          if (mode === "stopping") continue;
          if (seen <= 2) await reply(`{"ok":true,"id":${orders},"estado":"pendiente"}`);
          else if (mode === "closing") return;
          else await reply('{"ok":false,"error":"shutting_down"}');
        }
      }
    } catch {
      // the client went away
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
  }
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      served.push(serve(conn));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get orders() {
      return orders;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // closed already
        }
      }
      await Promise.all(served);
    },
  };
}

function loadArgs(hosts: string, port: number, clientes: number, pedidos: number, json = true) {
  const args = ["--host", hosts, "--port", String(port), "--clientes", String(clientes)];
  return [...args, "--pedidos", String(pedidos), ...(json ? ["--json"] : [])];
}

Deno.test("runLoadCommand() that does not go well prints the summary on stdout and why on stderr, and exits 1", async () => {
  await using closing = fakeDaemon("closing");
  const { out, err, io } = capture();
  const run = runLoadCommand(loadArgs("127.0.0.1", closing.port, 2, 5, false), io);
  assert.equal(await within(run, 20_000, "the run"), LOAD_EXIT.errors, err.join(""));
  const people = out.join("");
  assert.match(people, /^carga +2 clientes × 5 pedidos/);
  assert.match(people, /conexiones abiertas 2 · fallidas 0 · perdidas 2\n/);
  assert.doesNotMatch(people, /the daemon closed the connection/);
  assert.match(
    err.join(""),
    /^pedidos load: the run did not go well: 2 orders failed, 2 connections were lost\n {2}the daemon closed the connection\n$/,
  );
});

Deno.test("runLoadCommand() with several hosts moves a connection turned away with shutting_down to the next host", async () => {
  assert.match(LOAD_USAGE, /each connection opens to the first that accepts it/);
  assert.match(
    LOAD_USAGE,
    /lost mid-run, turned away \(busy\) or answered shutting_down moves to the next\nhost/,
  );
  // On 127.0.0.1 a daemon that is stopping; on ::1, the same port, one that serves.
  await using stopping = fakeDaemon("stopping");
  await using daemon = await startInProcess({ hosts: ["::1"], port: stopping.port });
  const { out, err, io } = capture();
  const run = runLoadCommand(loadArgs("127.0.0.1,::1", stopping.port, 2, 3, false), io);
  assert.equal(await within(run, 20_000, "the run"), LOAD_EXIT.ok, err.join(""));
  const people = out.join("");
  assert.match(people, /pedidos +enviados 6 · aceptados 6 · rechazados 0 · errores 0\n/);
  assert.match(people, /conexiones abiertas 2 · fallidas 0 · perdidas 0\n/);
  assert.match(people, /incidencias shutting_down 2 · reconectadas 2\n/);
  const stats = await (await daemon.client("::1")).call("STATS");
  assert.equal(stats.ok && stats.stats.recibidos, 6, "every order made on ::1");
});

Deno.test("runLoadCommand() with several hosts sends the orders a connection lost mid-run had not sent to the next host, not those in flight", async () => {
  // 127.0.0.1 serves 2 orders of each connection, then closes it as the third comes.
  await using closing = fakeDaemon("closing");
  await using daemon = await startInProcess({ hosts: ["::1"], port: closing.port });
  const { out, err, io } = capture();
  const run = runLoadCommand(loadArgs("127.0.0.1,::1", closing.port, 2, 5), io);
  assert.equal(await within(run, 20_000, "the run"), LOAD_EXIT.errors, err.join(""));
  assert.equal(closing.orders, 6, "3 orders of each connection read on 127.0.0.1");
  const json = JSON.parse(out.join(""));
  // The third of each is lost with the connection (no reply), not sent again.
  assert.deepEqual([json.enviados, json.aceptados, json.errores], [10, 8, 2], out.join(""));
  const people = err.join("");
  assert.match(people, /conexiones abiertas 2 · fallidas 0 · perdidas 0\n/);
  assert.match(people, /errores +sin_respuesta 2\n/);
  assert.match(people, /incidencias conexion_perdida 2 · reconectadas 2\n/);
  const stats = await (await daemon.client("::1")).call("STATS");
  assert.equal(stats.ok && stats.stats.recibidos, 4, "the last 2 of each connection on ::1");
});

Deno.test("runLoadCommand() with several hosts moves a connection answered shutting_down mid-run to the next host once its replies came", async () => {
  await using refusing = fakeDaemon("refusing");
  await using daemon = await startInProcess({ hosts: ["::1"], port: refusing.port });
  const { out, err, io } = capture();
  const run = runLoadCommand(loadArgs("127.0.0.1,::1", refusing.port, 2, 5), io);
  assert.equal(await within(run, 20_000, "the run"), LOAD_EXIT.errors, err.join(""));
  assert.equal(refusing.orders, 6, "none sent to 127.0.0.1 after its shutting_down");
  const json = JSON.parse(out.join(""));
  assert.deepEqual([json.enviados, json.aceptados, json.errores], [10, 8, 2], out.join(""));
  const people = err.join("");
  assert.match(people, /conexiones abiertas 2 · fallidas 0 · perdidas 0\n/);
  assert.match(people, /errores +shutting_down 2\n/);
  assert.match(people, /incidencias reconectadas 2\n/);
  const stats = await (await daemon.client("::1")).call("STATS");
  assert.equal(stats.ok && stats.stats.recibidos, 4);
});

Deno.test("runLoadCommand() with one host counts a connection turned away or lost, and moves none", async () => {
  assert.match(LOAD_USAGE, /in\s+flight when it was lost count as errors, never resent/);
  {
    await using stopping = fakeDaemon("stopping");
    const { out, err, io } = capture();
    const run = runLoadCommand(loadArgs("127.0.0.1", stopping.port, 2, 1), io);
    assert.equal(await within(run, 20_000, "the run"), LOAD_EXIT.errors, err.join(""));
    assert.equal(JSON.parse(out.join("")).enviados, 0);
    assert.match(err.join(""), /conexiones abiertas 0 · fallidas 2 · perdidas 0\n/);
    assert.match(err.join(""), /incidencias shutting_down 2\n/);
  }
  {
    await using closing = fakeDaemon("closing");
    const { out, err, io } = capture();
    const run = runLoadCommand(loadArgs("127.0.0.1", closing.port, 2, 5), io);
    assert.equal(await within(run, 20_000, "the run"), LOAD_EXIT.errors, err.join(""));
    assert.equal(closing.orders, 6);
    const json = JSON.parse(out.join(""));
    assert.deepEqual([json.enviados, json.aceptados, json.errores], [6, 4, 2], out.join(""));
    assert.match(err.join(""), /conexiones abiertas 2 · fallidas 0 · perdidas 2\n/);
    assert.match(err.join(""), /incidencias conexion_perdida 2\n/);
  }
  {
    // Answered shutting_down mid-run: it sends no more there (before, every order left was
    // sent on to a daemon that had said it was stopping, each one more error).
    await using refusing = fakeDaemon("refusing");
    const { out, err, io } = capture();
    const run = runLoadCommand(loadArgs("127.0.0.1", refusing.port, 2, 5), io);
    assert.equal(await within(run, 20_000, "the run"), LOAD_EXIT.errors, err.join(""));
    assert.equal(refusing.orders, 6, "none after each connection's shutting_down");
    const json = JSON.parse(out.join(""));
    assert.deepEqual([json.enviados, json.aceptados, json.errores], [6, 4, 2], out.join(""));
    assert.match(err.join(""), /errores +shutting_down 2\n/);
    // Ended early, with orders it never sent: lost, as it would be with hosts to go to.
    assert.match(err.join(""), /conexiones abiertas 2 · fallidas 0 · perdidas 2\n/);
    assert.match(err.join(""), /incidencias conexion_perdida 2\n/);
  }
});

Deno.test("runLoadCommand() prints the usage for --help (0) and a bad flag (2)", async () => {
  const help = capture();
  assert.equal(await runLoadCommand(["--help"], help.io), LOAD_EXIT.ok);
  assert.equal(help.out.join(""), LOAD_USAGE);
  const bad = capture();
  assert.equal(await runLoadCommand(["--clientes", "none"], bad.io), LOAD_EXIT.usage);
  assert.match(bad.err.join(""), /^pedidos load: Invalid --clientes "none"/);
  assert.match(LOAD_USAGE, /--clave-prefijo P/);
  assert.match(LOAD_USAGE, /PEDIDOS_PORT/);
});

testWith("read", "write", "run", "env")(
  "main.ts load runs as a subprocess and prints JSON",
  async () => {
    await using daemon = await startInProcess({ maxPedidos: 1000 });
    await using dir = await tempDir();
    const result = await runMain(dir.path, [
      "load",
      "--host",
      "127.0.0.1",
      "--port",
      String(daemon.port),
      "--clientes",
      "2",
      "--pedidos",
      "3",
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).aceptados, 6);
  },
);

Deno.test("runLoadCommand() --help prints the usage even when the environment holds a bad value, or another flag is bad", async () => {
  for (const args of [["--help"], ["--help", "--clientes", "0"], ["-h"]]) {
    const help = capture();
    help.io.sources = {
      getEnv: (name) => name === "PEDIDOS_PORT" ? "abc" : undefined,
      readFile: () => null,
    };
    assert.equal(await runLoadCommand(args, help.io), LOAD_EXIT.ok, args.join(" "));
    assert.equal(help.out.join(""), LOAD_USAGE);
  }
});
