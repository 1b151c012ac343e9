/**
 * A scripted line server for the client side's tests: it stands in for the
 * daemon (or anything that answers one line per request line).
 *
 * @module
 */

import { LineReader } from "../line_reader.ts";

/** Where a request line came from. */
export interface LineInfo {
  /** The request's number over every connection, from 0. */
  index: number;
  /** The connection's number, from 0, in the order they were accepted. */
  connection: number;
}

/**
 * What the server does with one request line:
 * - a string: reply with it (a final `\n` is added when missing; several lines may be given);
 * - `null`: no reply;
 * - `{ close: true }`: write `reply` if given, then close its side and read
 *   (and drop) until the client closes, so the reply is not lost to a reset.
 *   Requests after it on that connection are not seen.
 */
export type Answer = string | null | { close: true; reply?: string };

/** The script: an answer for each request line. */
export type Script = (line: string, info: LineInfo) => Answer;

/** Options of {@linkcode fakeLineServer}. */
export interface FakeLineServerOptions {
  /** Where it listens. @default {"127.0.0.1"} */
  hostname?: string;
  /** Its port. @default {0: a free one} */
  port?: number;
  /**
   * Replies are held until this many wait on the connection, then written
   * at once (checked after each read). @default {1}
   */
  batch?: number;
  /**
   * A line to write as soon as a connection is accepted, before reading
   * anything, then close it (as the daemon refuses one with `busy` or
   * `shutting_down`); null serves it. What such a connection sends is not
   * recorded. @default {serve every connection}
   */
  refuse?: (connection: number) => string | null;
}

/** A running {@linkcode fakeLineServer}. */
export interface FakeLineServer extends AsyncDisposable {
  /** The port it listens on. */
  readonly port: number;
  /** Every request line received, over all connections, in arrival order. */
  readonly lines: string[];
  /** The request lines of each connection. */
  readonly linesByConnection: string[][];
  /** Most replies held at once on any connection (requests read but not answered yet). */
  readonly maxInFlight: number;
  /** Connections open now (one it closed counts until the client closes too). */
  readonly openConnections: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

function closeQuietly(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // already closed
  }
}

/**
 * Starts a line server on loopback, port 0, that answers each request line
 * as `script` says. Dispose it to close the listener and every connection.
 *
 * @example Usage
 * ```ts ignore
 * await using server = fakeLineServer(() => '{"ok":true,"pong":true}');
 * await using client = await PedidosClient.connect({ hostname: "127.0.0.1", port: server.port });
 * ```
 */
export function fakeLineServer(
  script: Script,
  options: FakeLineServerOptions = {},
): FakeLineServer {
  const { hostname = "127.0.0.1", port = 0, batch = 1, refuse } = options;
  const listener = Deno.listen({ hostname, port });
  const lines: string[] = [];
  const linesByConnection: string[][] = [];
  const open = new Set<Deno.Conn>();
  const serving = new Set<Promise<void>>();
  let maxInFlight = 0;

  async function serve(conn: Deno.Conn, connection: number): Promise<void> {
    const mine: string[] = [];
    linesByConnection[connection] = mine;
    const reader = new LineReader(conn, { bufferBytes: 64 * 1024 });
    let held = "";
    let count = 0;
    let closing = false;
    try {
      const refusal = refuse?.(connection) ?? null;
      if (refusal !== null) {
        await writeAll(conn, refusal.endsWith("\n") ? refusal : `${refusal}\n`);
        await conn.closeWrite();
        while (await reader.fill()) {
          // drop what the client sends, until it closes
        }
        return;
      }
      while (await reader.fill()) {
        for (let bytes = reader.next(); bytes !== null && !closing; bytes = reader.next()) {
          const line = decoder.decode(bytes);
          lines.push(line);
          mine.push(line);
          const answer = script(line, { index: lines.length - 1, connection });
          const reply = typeof answer === "string" ? answer : answer?.reply;
          if (reply !== undefined) {
            held += reply.endsWith("\n") ? reply : `${reply}\n`;
            maxInFlight = Math.max(maxInFlight, ++count);
          }
          closing = typeof answer === "object" && answer !== null;
        }
        if (closing || (count > 0 && count >= batch)) {
          await writeAll(conn, held);
          held = "";
          count = 0;
        }
        if (closing) {
          await conn.closeWrite();
          while (await reader.fill()) {
            // drop what the client still sends, until it closes
          }
          return;
        }
      }
    } catch {
      // the client went away, or the test closed the connection
    } finally {
      open.delete(conn);
      closeQuietly(conn);
    }
  }

  const accepting = (async () => {
    let connection = 0;
    try {
      for await (const conn of listener) {
        open.add(conn);
        const task = serve(conn, connection++);
        serving.add(task);
        task.finally(() => serving.delete(task));
      }
    } catch {
      // the listener was closed
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    lines,
    linesByConnection,
    get maxInFlight() {
      return maxInFlight;
    },
    get openConnections() {
      return open.size;
    },
    async [Symbol.asyncDispose]() {
      closeQuietly(listener);
      await accepting;
      for (const conn of open) closeQuietly(conn);
      await Promise.all(serving);
    },
  };
}
