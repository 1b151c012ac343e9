import assert from "node:assert/strict";
import { MetricsServer } from "./metrics_server.ts";

Deno.test("MetricsServer answers 503 while the daemon is starting, then the metrics", async () => {
  let ready = false;
  await using server = MetricsServer.start({
    port: 0,
    render: () => "pedidos_libres 6\n",
    ready: () => ready,
  });
  const url = `http://127.0.0.1:${server.addr.port}/metrics`;
  const starting = await fetch(url);
  assert.equal(starting.status, 503);
  assert.equal(starting.headers.get("retry-after"), "1");
  await starting.body?.cancel();
  ready = true;
  const up = await fetch(url);
  assert.equal(up.status, 200);
  assert.equal(await up.text(), "pedidos_libres 6\n");
});
