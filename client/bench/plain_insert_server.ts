/**
 * The PostgreSQL ceiling of the bench: the least a server that commits one
 * row per order does. Per connection it reads request lines and answers
 * each, in order, after a plain `INSERT … RETURNING id` of it in autocommit
 * (one commit per order) with the same driver as the daemon (`postgres`),
 * from a pool as large as the number of connections the bench opens. No
 * batching, no workers, no queue.
 *
 * `deno run --allow-net=127.0.0.1 --allow-env client/bench/plain_insert_server.ts --db URL [--port N]`
 * prints `listening on 127.0.0.1:PORT` when ready and stops on SIGTERM.
 *
 * @module
 */

import postgres from "postgres";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The lines a connection sends, one at a time; null at its end. */
async function* linesOf(conn: Deno.TcpConn): AsyncGenerator<string> {
  let pending = "";
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return;
    pending += decoder.decode(buffer.subarray(0, n), { stream: true });
    let nl;
    while ((nl = pending.indexOf("\n")) !== -1) {
      yield pending.slice(0, nl);
      pending = pending.slice(nl + 1);
    }
  }
}

async function serve(conn: Deno.TcpConn, sql: postgres.Sql): Promise<void> {
  try {
    for await (const line of linesOf(conn)) {
      if (line.trim() === "") continue;
      let reply: string;
      try {
        const order = JSON.parse(line);
        const [row] = await sql`INSERT INTO pedidos_plain (cliente, productos, direccion, fecha)
          VALUES (${String(order.cliente)}, ${JSON.stringify(order.productos)}::text::jsonb,
            ${String(order.direccion)}, ${new Date().toISOString()})
          RETURNING id`;
        const id = Number(row!.id);
        reply = JSON.stringify({ ok: true, id, estado: "pendiente", mensaje: `✅ Pedido ${id}.` });
      } catch (error) {
        reply = JSON.stringify({ ok: false, error: "internal", mensaje: String(error) });
      }
      const bytes = encoder.encode(reply + "\n");
      for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    }
  } catch {
    // reset by peer
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

if (import.meta.main) {
  const arg = (name: string) => {
    const at = Deno.args.indexOf(name);
    return at === -1 ? undefined : Deno.args[at + 1];
  };
  const url = arg("--db");
  if (url === undefined) throw new Error("plain_insert_server: --db URL is required");
  const sql = postgres(url, { max: Number(arg("--pool") ?? 64), onnotice: () => {} });
  await sql`CREATE TABLE IF NOT EXISTS pedidos_plain (
    id bigserial PRIMARY KEY, cliente text NOT NULL, productos jsonb NOT NULL,
    direccion text NOT NULL, fecha timestamptz NOT NULL)`;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(arg("--port") ?? 0) });
  const stop = () => listener.close();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  Deno.stdout.writeSync(
    encoder.encode(`listening on 127.0.0.1:${(listener.addr as Deno.NetAddr).port}\n`),
  );
  const open = new Set<Promise<void>>();
  try {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      const task = serve(conn, sql).finally(() => open.delete(task));
      open.add(task);
    }
  } catch {
    // closed
  }
  await sql.end({ timeout: 1 });
  Deno.exit(0);
}
