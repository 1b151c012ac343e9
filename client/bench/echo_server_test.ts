import assert from "node:assert/strict";
import { PedidosClient } from "../client.ts";
import { runEchoServer } from "./echo_server.ts";

async function startEcho(): Promise<{ port: number } & AsyncDisposable> {
  const controller = new AbortController();
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const serving = runEchoServer(0, { signal: controller.signal, onListen: resolve });
  const port = await listening;
  return {
    port,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await serving;
    },
  };
}

Deno.test("runEchoServer() answers each pipelined line like the daemon's accept, in order", async () => {
  await using echo = await startEcho();
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: echo.port });
  const replies = await Promise.all([
    client.request({ cliente: "Ana" }),
    client.exchange("not json").then(({ reply }) => reply),
    client.request({ cliente: "Bea" }),
  ]);
  assert.deepEqual(replies, [
    { ok: true, id: 1, estado: "pendiente", mensaje: "✅ Pedido 1 recibido." },
    { ok: false, error: "invalid_json" },
    { ok: true, id: 3, estado: "pendiente", mensaje: "✅ Pedido 3 recibido." },
  ]);
});

Deno.test("runEchoServer() closes a connection whose line is over 1 MiB", async () => {
  await using echo = await startEcho();
  await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: echo.port });
  await assert.rejects(client.exchange(`"${"x".repeat(1024 * 1024 + 10)}"`), {
    name: "ClientError",
    code: "connection_closed",
  });
});
