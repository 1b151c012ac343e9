/**
 * `pedidos client cancelar ID` and `pedidos client reintentar ID` against a
 * real daemon, as a person runs them: what they print and their exit status.
 */
import assert from "node:assert/strict";
import { rawConnect, runMain, startInProcess, tempDir } from "./test_util.ts";
import { testWith } from "./permissions.ts";

const SCRIPTED = new URL("./fixtures/processors/scripted.ts", import.meta.url).pathname;

function order(cliente: string): string {
  return JSON.stringify({ cliente, productos: ["pan"], direccion: "C 1" }) + "\n";
}

testWith("read", "write", "run", "env")(
  "client cancelar cancels a waiting order (exit 0), and says why not for one that started (exit 1)",
  async () => {
    await using dir = await tempDir();
    // One worker busy for a minute: the second order waits, pendiente.
    await using daemon = await startInProcess({
      workers: 1,
      processMs: { min: 60_000, max: 60_000 },
      drainTimeoutMs: 50,
    });
    await using conn = await rawConnect(daemon.port);
    await conn.write(order("primero") + order("segundo"));
    const running = (await conn.readLine())?.id;
    const waiting = (await conn.readLine())?.id;
    const port = ["--host", "127.0.0.1", "--port", String(daemon.port)];
    const cancelled = await runMain(dir.path, ["client", ...port, "cancelar", String(waiting)]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stdout, /estado: +cancelado/);
    const refused = await runMain(dir.path, ["client", ...port, "cancelar", String(running)]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /solo se cancela un pedido pendiente\. \(not_cancellable\)/);
    const json = await runMain(dir.path, ["client", ...port, "cancelar", "999", "--json"]);
    assert.equal(json.code, 1);
    assert.equal(JSON.parse(json.stdout).error, "not_found");
    const usage = await runMain(dir.path, ["client", ...port, "cancelar"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /Usage: client cancelar ID/);
  },
);

testWith("read", "write", "run", "env")(
  "client reintentar sends an error order back to the queue; the order then runs again",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startInProcess({ processor: SCRIPTED, maxIntentos: 1 });
    await using conn = await rawConnect(daemon.port);
    await conn.write(order("flaky-2"));
    const id = (await conn.readLine())?.id;
    await conn.write(`{"op":"ESTADO","id":${id},"esperar":true}\n`);
    assert.equal(((await conn.readLine())?.pedido as { estado: string }).estado, "error");
    const port = ["--host", "127.0.0.1", "--port", String(daemon.port)];
    const retried = await runMain(dir.path, [
      "client",
      ...port,
      "reintentar",
      String(id),
      "--json",
    ]);
    assert.equal(retried.code, 0, retried.stderr);
    assert.equal(JSON.parse(retried.stdout).pedido.estado, "pendiente");
    const done = await runMain(dir.path, ["client", ...port, "estado", String(id), "--esperar"]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /estado: +listo/);
    assert.match(done.stdout, /resultado: +\{"starts":\[[\d,]+\],"intento":2\}/);
    const again = await runMain(dir.path, ["client", ...port, "reintentar", String(id)]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not_retryable/);
  },
);
