/**
 * The bench's ceiling: the least an NDJSON request/response server in Deno
 * can do. Per connection it reads, splits lines, parses each line as JSON,
 * and answers one line shaped like the daemon's `ok` reply — all replies of
 * one read in one write. No workers, no storage.
 *
 * Run as its own process so it gets a thread of its own, like the daemon:
 * `deno run --allow-net=127.0.0.1 client/bench/echo_server.ts [--port N]`
 * prints `listening on 127.0.0.1:PORT` when ready and stops on SIGTERM.
 *
 * @module
 */

import { LineReader } from "../line_reader.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Answers one request line: the daemon's accept reply for a made-up id. */
export function echoReply(line: string, id: number): string {
  const request = JSON.parse(line) as Record<string, unknown>;
  const ok = typeof request === "object" && request !== null;
  return JSON.stringify(
    ok
      ? { ok: true, id, estado: "pendiente", mensaje: `✅ Pedido ${id} recibido.` }
      : { ok: false, error: "invalid_json" },
  ) + "\n";
}

/** A request line longer than this closes the connection (the daemon's default limit is 64 KiB). */
const MAX_LINE_BYTES = 1024 * 1024;

/** Serves one connection until the peer leaves. */
async function serve(conn: Deno.TcpConn, nextId: () => number): Promise<void> {
  const reader = new LineReader(conn, { maxLineBytes: MAX_LINE_BYTES, bufferBytes: 64 * 1024 });
  try {
    while (await reader.fill()) {
      let out = "";
      for (let bytes = reader.next(); bytes !== null; bytes = reader.next()) {
        const line = decoder.decode(bytes).trim();
        if (line === "") continue;
        try {
          out += echoReply(line, nextId());
        } catch {
          out += '{"ok":false,"error":"invalid_json"}\n';
        }
      }
      if (out !== "") {
        const bytes = encoder.encode(out);
        for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
      }
    }
  } catch {
    // reset by peer, or a line over the limit
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

/** Listens on 127.0.0.1:`port` and serves until `signal` aborts. */
export async function runEchoServer(
  port: number,
  options: { signal?: AbortSignal; onListen?: (port: number) => void } = {},
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const open = new Set<Deno.TcpConn>();
  const onAbort = () => {
    listener.close();
    for (const conn of open) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  options.onListen?.((listener.addr as Deno.NetAddr).port);
  let id = 0;
  const serving = new Set<Promise<void>>();
  try {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      open.add(conn);
      const task = serve(conn, () => ++id).finally(() => {
        open.delete(conn);
        serving.delete(task);
      });
      serving.add(task);
    }
  } catch {
    // listener closed
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await Promise.all(serving);
  }
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--port");
  const port = at === -1 ? 0 : Number(Deno.args[at + 1]);
  const controller = new AbortController();
  Deno.addSignalListener("SIGTERM", () => controller.abort());
  Deno.addSignalListener("SIGINT", () => controller.abort());
  await runEchoServer(port, {
    signal: controller.signal,
    onListen: (p) => Deno.stdout.writeSync(encoder.encode(`listening on 127.0.0.1:${p}\n`)),
  });
  Deno.exit(0);
}
