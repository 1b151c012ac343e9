/**
 * The `client` subcommand: sends one request to the daemon and prints the
 * reply for people (in Spanish, like the daemon) or, with `--json`, each
 * reply line exactly as received.
 *
 * Exit status (PROTOCOL.md §7): 0 ok, 1 refused by the daemon, 2 bad usage,
 * 3 cannot connect (or the connection is lost before the reply).
 *
 * @module
 */

import { ConfigError, type ConfigSources } from "../server/config/settings.ts";
import type { Reply } from "../server/protocol/messages.ts";
import { CLIENT_USAGE, type ClientCommand, parseClientArgs } from "./cli_args.ts";
import { ClientError, formatAddress, PedidosClient, type ReplyLine } from "./client.ts";

/** The exit statuses of {@linkcode runClient}. */
export const EXIT = Object.freeze({
  ok: 0,
  refused: 1,
  usage: 2,
  unreachable: 3,
  interrupted: 130,
});

/** The outside world of {@linkcode runClient}; tests replace it. */
export interface ClientIo {
  /** Where a JSON request is read from when no order flags are given. @default {Deno.stdin.readable} */
  stdin?: ReadableStream<Uint8Array>;
  /** Writes text as-is (lines end with `\n`). @default {writes to Deno.stdout} */
  stdout?: (text: string) => void;
  /** Writes text as-is. @default {writes to Deno.stderr} */
  stderr?: (text: string) => void;
  /** Where the environment and env file are read. @default {the real ones} */
  sources?: ConfigSources;
  /** Stops connecting and waiting; {@linkcode runClient} then returns 130. */
  signal?: AbortSignal;
}

const encoder = new TextEncoder();

function writeAllSync(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let written = 0; written < bytes.length;) {
    written += file.writeSync(bytes.subarray(written));
  }
}

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function width(text: string): number {
  return [...text].length;
}

function pad(text: string, size: number, right = false): string {
  const fill = " ".repeat(Math.max(0, size - width(text)));
  return right ? fill + text : text + fill;
}

function cut(text: string, size: number): string {
  const chars = [...text];
  return chars.length <= size ? text : chars.slice(0, size - 1).join("") + "…";
}

/** `850 ms`, `1.98 s`, or `—`. */
function duration(ms: unknown): string {
  if (typeof ms !== "number") return "—";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** `pan, agua ×2`. */
function summariseProductos(productos: unknown): string {
  if (!Array.isArray(productos)) return text(productos);
  return productos.map((item) => {
    if (!isObject(item)) return text(item);
    const cantidad = typeof item.cantidad === "number" ? item.cantidad : 1;
    return cantidad === 1 ? text(item.nombre) : `${text(item.nombre)} ×${cantidad}`;
  }).join(", ");
}

function text(value: unknown): string {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Aligned `key: value` lines. */
function keyValues(entries: [string, string][]): string {
  const size = Math.max(0, ...entries.map(([key]) => width(key))) + 1;
  return entries.map(([key, value]) => `${pad(`${key}:`, size)} ${value}`).join("\n") + "\n";
}

function describePedido(pedido: Fields, timeout: boolean): string {
  const entries = Object.entries(pedido).map(([key, value]): [string, string] => {
    if (key === "productos") return [key, summariseProductos(value)];
    if (key === "duracion_ms") return ["duracion", duration(value)];
    return [key, text(value)];
  });
  if (timeout) entries.push(["espera", "⌛ se agotó antes de que terminara"]);
  return keyValues(entries);
}

function describeTable(pedidos: unknown[]): string {
  if (pedidos.length === 0) return "(sin pedidos)\n";
  const header = ["ID", "ESTADO", "CLIENTE", "PRODUCTOS", "RECIBIDO", "DURACIÓN"];
  const rows = pedidos.filter(isObject).map((p) => [
    text(p.id),
    text(p.estado),
    cut(text(p.cliente), 24),
    cut(summariseProductos(p.productos), 32),
    text(p.fecha_recibido),
    duration(p.duracion_ms),
  ]);
  const sizes = header.map((h, i) => Math.max(width(h), ...rows.map((row) => width(row[i] ?? ""))));
  const line = (row: string[]) =>
    row.map((cell, i) => pad(cell, sizes[i] ?? 0, i === 0 || i === 5)).join("  ").trimEnd();
  return [header, ...rows].map(line).join("\n") +
    `\n(${rows.length} ${rows.length === 1 ? "pedido" : "pedidos"})\n`;
}

function describeStats(stats: Fields): string {
  return keyValues(
    Object.entries(stats).map(([key, value]): [string, string] => {
      if (!isObject(value)) return [key, key === "uptime_s" ? `${text(value)} s` : text(value)];
      const parts = Object.entries(value).map(([name, v]) => `${name} ${text(v)}`);
      return [key, parts.join(" · ")];
    }),
  );
}

function describeError(reply: Reply): string {
  const mensaje = typeof reply.mensaje === "string"
    ? reply.mensaje
    : "❌ El servidor rechazó la solicitud.";
  const campo = typeof reply.campo === "string" ? `, campo ${reply.campo}` : "";
  return `${mensaje} (${text(reply.error)}${campo})\n`;
}

/** The reply for people, whatever request it answers (so stdin mode prints any reply well). */
function describe(reply: Reply): string {
  if (!reply.ok) return describeError(reply);
  if (reply.pong === true) return "pong\n";
  if ("result" in reply) return `${text(reply.result)}\n`;
  if (Array.isArray(reply.pedidos)) return describeTable(reply.pedidos);
  if (isObject(reply.stats)) return describeStats(reply.stats);
  if (isObject(reply.pedido)) return describePedido(reply.pedido, reply.timeout === true);
  if (typeof reply.id === "number") {
    const estado = text(reply.estado);
    return reply.duplicado === true
      ? `✅ Pedido ${reply.id} ya recibido antes con esa clave (${estado})\n`
      : `✅ Pedido ${reply.id} recibido (${estado})\n`;
  }
  if (typeof reply.mensaje === "string") return `${reply.mensaje}\n`;
  return `${JSON.stringify(reply)}\n`;
}

/** The end of a wait for people: `✅ Pedido 42 listo en 1.98 s (worker 2)`. */
function describeFinal(reply: Reply): string {
  if (!reply.ok || !isObject(reply.pedido)) return describe(reply);
  const p = reply.pedido;
  if (reply.timeout === true) {
    return `⌛ Pedido ${p.id} sigue ${text(p.estado)}: se agotó la espera\n`;
  }
  if (p.estado === "error") {
    return `❌ Pedido ${p.id} terminó con error en ${duration(p.duracion_ms)}: ${
      text(p.detalle_error)
    }\n`;
  }
  const worker = typeof p.worker === "number" ? ` (worker ${p.worker})` : "";
  return `✅ Pedido ${p.id} ${text(p.estado)} en ${duration(p.duracion_ms)}${worker}\n`;
}

/** 0 when the wait ended `listo`; 1 when refused, ended in `error`, or timed out. */
function waitStatus(reply: Reply): number {
  if (!reply.ok || reply.timeout === true) return EXIT.refused;
  return isObject(reply.pedido) && reply.pedido.estado === "error" ? EXIT.refused : EXIT.ok;
}

interface Session {
  client: PedidosClient;
  command: ClientCommand;
  stdinText: string | null;
  out: (text: string) => void;
  err: (text: string) => void;
  signal: AbortSignal | undefined;
}

async function send(session: Session, line: string, human = describe): Promise<Reply> {
  const { reply, raw }: ReplyLine = await session.client.exchange(line, { signal: session.signal });
  if (session.command.json) session.out(`${raw}\n`);
  else if (reply.ok) session.out(human(reply));
  else session.err(human(reply));
  return reply;
}

async function run(session: Session): Promise<number> {
  const { command } = session;
  switch (command.kind) {
    case "help":
      return EXIT.ok;
    case "pedido":
    case "stdin": {
      const line = command.kind === "stdin"
        ? session.stdinText ?? ""
        : JSON.stringify(command.request);
      const first = await send(session, line);
      if (!first.ok) return EXIT.refused;
      if (!command.esperar) return EXIT.ok;
      if (typeof first.id !== "number") {
        session.err("❌ La respuesta no trae un id de pedido que esperar.\n");
        return EXIT.refused;
      }
      if (!command.json) session.out(`⏳ Esperando el pedido ${first.id}…\n`);
      const wait: Record<string, unknown> = { op: "ESTADO", id: first.id, esperar: true };
      if (command.timeoutMs !== null) wait.timeout_ms = command.timeoutMs;
      return waitStatus(await send(session, JSON.stringify(wait), describeFinal));
    }
    case "estado": {
      const reply = await send(session, JSON.stringify(command.request));
      return command.request.esperar === true
        ? waitStatus(reply)
        : reply.ok
        ? EXIT.ok
        : EXIT.refused;
    }
    default: {
      const reply = await send(session, JSON.stringify(command.request));
      return reply.ok ? EXIT.ok : EXIT.refused;
    }
  }
}

/**
 * Runs `client` with `args` (the words after `client`) and returns the exit status.
 *
 * @example Usage
 * ```ts ignore
 * import { runClient } from "./cli.ts";
 * Deno.exit(await runClient(["--port", "8888", "ping"]));
 * ```
 */
export async function runClient(args: string[], io: ClientIo = {}): Promise<number> {
  const out = io.stdout ?? ((text: string) => writeAllSync(Deno.stdout, text));
  const err = io.stderr ?? ((text: string) => writeAllSync(Deno.stderr, text));
  const { signal } = io;

  let command: ClientCommand;
  try {
    command = parseClientArgs(args, io.sources);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(`${error.message}\n\n${CLIENT_USAGE}`);
    return EXIT.usage;
  }
  if (command.kind === "help") {
    out(CLIENT_USAGE);
    return EXIT.ok;
  }

  let stdinText: string | null = null;
  if (command.kind === "stdin") {
    if (io.stdin === undefined && Deno.stdin.isTerminal()) {
      err("Escriba un pedido en JSON y termine con Ctrl-D:\n");
    }
    stdinText = (await new Response(io.stdin ?? Deno.stdin.readable).text()).trim();
    if (stdinText === "") {
      err(
        `Nothing to send: give --cliente, --producto and --direccion, or one JSON request on stdin\n\n${CLIENT_USAGE}`,
      );
      return EXIT.usage;
    }
  }

  let client: PedidosClient;
  try {
    client = await PedidosClient.connectAny(command.config.hosts, command.config.port, { signal });
  } catch (error) {
    if (signal?.aborted) return EXIT.interrupted;
    if (!(error instanceof ClientError)) throw error;
    const { hosts, port } = command.config;
    const where = hosts.map((host) => formatAddress(host, port)).join(", ");
    err(`❌ No se pudo conectar con el servidor de pedidos en ${where}. ${error.message}\n`);
    return EXIT.unreachable;
  }
  try {
    return await run({ client, command, stdinText, out, err, signal });
  } catch (error) {
    if (signal?.aborted) return EXIT.interrupted;
    if (!(error instanceof ClientError)) throw error;
    err(`❌ Se perdió la conexión con el servidor antes de la respuesta. ${error.message}\n`);
    return EXIT.unreachable;
  } finally {
    await client.close();
  }
}
