/**
 * The `client` subcommand: sends one request to the daemon and prints the
 * reply for people (in Spanish, like the daemon) or, with `--json`, each
 * reply line exactly as received.
 *
 * Exit status (docs/protocol.md §7): 0 ok, 1 refused by the daemon, 2 bad usage,
 * 3 cannot connect (or the connection is lost before the reply, or the
 * daemon does not answer within {@linkcode REPLY_TIMEOUT_MS} of what the
 * request asks it to wait).
 *
 * @module
 */

import { stopSignals } from "./stop_signals.ts";
import { clientPermissionHint } from "./client_config.ts";
import {
  ConfigError,
  type ConfigSources,
  wantsHelp,
  withoutPositionalAdvice,
} from "../server/config/settings.ts";
import { MAX_REQUEST_BYTES } from "../server/config/server_config.ts";
import type { Reply } from "../server/protocol/replies.ts";
import { RequestFramer } from "../server/protocol/framing.ts";
import { CLIENT_USAGE, type ClientCommand, parseClientArgs } from "./cli_args.ts";
import { ClientError, formatAddress, PedidosClient } from "./client.ts";
import { firstToConnect } from "./dial.ts";
import { describeFinal, describeReply, describeWaitCutShort, printable } from "./describe_reply.ts";
import { checkReply, fieldOf, opOf } from "./check_reply.ts";
import { pipeWriter } from "./pipe_writer.ts";

/** The exit statuses of {@linkcode runClient}. */
export const EXIT = Object.freeze({
  ok: 0,
  refused: 1,
  usage: 2,
  unreachable: 3,
  interrupted: 130,
});

/**
 * A bad-usage message as `load`, `web` and `server` print theirs: after
 * the command's name, with the usage below. node's parseArgs, when
 * positionals are allowed (they are here), adds to "Unknown option" advice
 * on positionals starting with "-" that does not apply to a client's words
 * (and whose quotes do not close): cut, as the other commands never show it.
 */
function usageError(message: string): string {
  return `pedidos client: ${withoutPositionalAdvice(message)}\n\n${CLIENT_USAGE}`;
}

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
  /** Stops connecting and waiting; {@linkcode runClient} then returns 130. @default {SIGINT or SIGTERM} */
  signal?: AbortSignal;
  /** {@linkcode REPLY_TIMEOUT_MS} (tests make it short). */
  replyTimeoutMs?: number;
  /** {@linkcode SILENT_HOST_MS} (tests make it short). */
  silentHostMs?: number;
}

/**
 * How long a reply may be late, past the time the request itself asks the
 * daemon to wait (`ESTADO esperar`'s `timeout_ms`): a daemon that accepted
 * the connection and never answers (stopped, or its host gone silent) is
 * then given up on, exit 3, rather than waited for for ever. Longer than
 * the daemon's own worst case for an order on PostgreSQL (a connection and
 * a commit of 15 s each, 5 s to learn a lost commit's outcome, behind one
 * such batch): past it, it answers by itself.
 */
export const REPLY_TIMEOUT_MS = 60_000;

/**
 * How long a host may stay silent on a request that changes nothing and
 * waits for nothing ({@linkcode SAFE_OPS}) before the next host is asked,
 * when there is one: such a request answers in milliseconds.
 */
export const SILENT_HOST_MS = 5_000;

/** Requests that change nothing: asking the next host instead is safe. */
const SAFE_OPS = new Set(["PING", "STATS", "LISTAR", "ESTADO"]);

/** `ESTADO esperar`'s wait when the request names none (§2.2). */
const DEFAULT_WAIT_MS = 30_000;

/**
 * The most of stdin read: the largest request a daemon takes
 * (`--max-request-bytes` at most), and room for whitespace around it.
 * Reading more would only hold it all in memory (`< /dev/zero` grew
 * without end) to be refused as `too_large`.
 */
const MAX_STDIN_BYTES = MAX_REQUEST_BYTES + 64 * 1024;

/** Why stdin cannot be sent as it is: it is not UTF-8 text. */
class NotUtf8Error extends Error {
  /**
   * @param offset Where its first byte that is not UTF-8 is.
   * @param byte That byte.
   */
  constructor(readonly offset: number, readonly byte: number) {
    super(
      `Cannot send stdin: it is not UTF-8 text (byte 0x${
        byte.toString(16).padStart(2, "0")
      } at offset ${offset}), which the daemon refuses as invalid_json; save it as UTF-8 first`,
    );
    this.name = "NotUtf8Error";
  }
}

/**
 * `bytes` as UTF-8 text (a leading byte order mark dropped, as the daemon
 * drops it). Never replaced by U+FFFD, which would send something other
 * than what was typed.
 *
 * @throws {NotUtf8Error} When `bytes` is not UTF-8, naming the first bad byte.
 */
function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstNotUtf8(bytes);
    throw new NotUtf8Error(at, bytes[at] ?? 0);
  }
}

/**
 * Where the first byte of `bytes` is that does not belong to well-formed
 * UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF):
 * the lead byte of a sequence cut short or otherwise wrong; `bytes.length`
 * when there is none.
 */
export function firstNotUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    // The sequence's length, and the range its second byte must be in.
    let length: number, low = 0x80, high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) length = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead === 0xe0) low = 0xa0; // not overlong
      if (lead === 0xed) high = 0x9f; // not a surrogate
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead === 0xf0) low = 0x90; // not overlong
      if (lead === 0xf4) high = 0x8f; // not past U+10FFFF
    } else return i;
    if (i + length > bytes.length) return i;
    const second = bytes[i + 1]!;
    if (second < low || second > high) return i;
    for (let k = 2; k < length; k++) {
      const next = bytes[i + k]!;
      if (next < 0x80 || next > 0xbf) return i;
    }
    i += length;
  }
  return bytes.length;
}

/**
 * The text of `stream`, or null (and the stream cancelled) once it passes `max` bytes.
 *
 * @throws {NotUtf8Error} When it is not UTF-8 text.
 */
async function readAtMost(
  stream: ReadableStream<Uint8Array>,
  max: number,
): Promise<string | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > max) return null; // leaving the loop cancels the stream
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return decodeUtf8(bytes);
}

/** A reply, and whether the daemon ended the wait it answers early ({@linkcode cutShort}). */
interface Answer {
  reply: Reply;
  /** The daemon answered `timeout` before the wait asked for was over: it is stopping. */
  stopping: boolean;
}

/**
 * §7: 0 on `ok` (a wait's reply too, whatever the order's end, or its time
 * being up), 1 when the daemon refused, or ended the wait early as it stops.
 */
function exitFor({ reply, stopping }: Answer): number {
  return reply.ok && !stopping ? EXIT.ok : EXIT.refused;
}

/**
 * How much sooner than the wait asked for a `timeout` reply must come to
 * have ended early: the daemon starts timing a wait once it reads it, after
 * the client started, so a wait whose time is up comes after it; this only
 * leaves room for timers a little early.
 */
const EARLY_MS = 100;

/**
 * Whether `reply` ends a wait of `waitMs` the daemon cut short, `elapsedMs`
 * after it was sent: a `timeout` before that time passed. A daemon does so
 * only as it stops: at the end of its drain it answers every wait with the
 * order's state then and `"timeout":true` (docs/protocol.md, "esperar during
 * a stop"), then closes the connection.
 */
function cutShort(reply: Reply, waitMs: number, elapsedMs: number): boolean {
  return waitMs > 0 && reply.ok && (reply as { timeout?: unknown }).timeout === true &&
    elapsedMs < waitMs - EARLY_MS;
}

interface Session {
  client: PedidosClient;
  /**
   * A connection to the next host after the one in use, or null when none is
   * left or answers: for a request a stopping or full daemon refused.
   */
  nextHost: () => Promise<{ client: PedidosClient; where: string } | null>;
  /** Whether a host after the one in use is left to try. */
  hostsLeft: () => boolean;
  /** {@linkcode SILENT_HOST_MS} (tests make it short). */
  silentHostMs: number;
  command: ClientCommand;
  stdinText: string | null;
  out: (text: string) => void;
  err: (text: string) => void;
  signal: AbortSignal | undefined;
  replyTimeoutMs: number;
}

/**
 * A connection to the next host when `exchange` has not settled within
 * {@linkcode Session.silentHostMs} and a host after this one accepts one;
 * else null (it settled first, or no host is left that accepts).
 */
async function silentThenNext(
  session: Session,
  exchange: Promise<unknown>,
): Promise<{ client: PedidosClient; where: string } | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = exchange.then(() => "settled" as const, () => "settled" as const);
  const silent = new Promise<"silent">((resolve) => {
    timer = setTimeout(() => resolve("silent"), session.silentHostMs);
  });
  try {
    if (await Promise.race([settled, silent]) === "settled") return null;
  } finally {
    clearTimeout(timer);
  }
  // (Answered meanwhile, while the next host is being reached, it is asked
  // there all the same: the request changes nothing.)
  return await session.nextHost();
}

async function send(
  session: Session,
  line: string,
  human: (reply: Reply, op: string | null) => string = describeReply,
): Promise<Answer> {
  const request = asRequest(line);
  const op = opOf(request);
  const waitMs = waitsFor(request);
  const limitMs = session.replyTimeoutMs + waitMs;
  const late = AbortSignal.timeout(limitMs);
  const signal = session.signal ? AbortSignal.any([session.signal, late]) : late;
  const sentAt = performance.now();
  const exchange = session.client.exchange(line, { signal });
  // A request that changes nothing and waits for nothing goes on to the next
  // host when this one is silent a while (paused, or cut off without a reset),
  // once that host has accepted a connection: answered there, it is answered
  // as it would have been here. Until then, and with no host that accepts,
  // this one's reply is still awaited.
  if (waitMs === 0 && SAFE_OPS.has(op ?? "") && session.hostsLeft()) {
    const next = await silentThenNext(session, exchange);
    if (next !== null) {
      exchange.catch(() => {}); // given up with its connection
      session.err(
        `⚠️ Sin respuesta en ${session.silentHostMs / 1000} s; se prueba ${next.where}.\n`,
      );
      await session.client.close();
      session.client = next.client;
      return await send(session, line, human);
    }
  }
  let answer;
  try {
    answer = await exchange;
  } catch (error) {
    if (session.signal?.aborted) throw error;
    // An order may have been stored meanwhile (§6), whether the daemon fell silent or the
    // connection broke after it was sent: say how to find out, not that it was lost. Only an
    // order with a clave may simply be sent again: without one, a resend of an order that was
    // stored makes a second order.
    const order = !isOrder(line)
      ? ""
      : hasClave(line)
      ? " No se sabe si el pedido fue aceptado: reenvíelo con la misma clave (o búsquelo con listar)."
      : " No se sabe si el pedido fue aceptado: búsquelo con listar antes de reenviarlo (sin clave, reenviarlo crearía un segundo pedido si ya fue aceptado).";
    if (late.aborted) {
      throw new ClientError(
        "timeout",
        `El servidor no respondió en ${limitMs / 1000} s.${order}`,
        { cause: error },
      );
    }
    // (The client cannot tell a request never written from one written and lost: it says the
    // safe thing for both.)
    if (error instanceof ClientError && error.code === "connection_closed" && order !== "") {
      throw new ClientError(error.code, `${error.message}.${order}`, { cause: error });
    }
    throw error;
  }
  const { reply, raw } = answer;
  if (!reply.ok && (reply.error === "shutting_down" || reply.error === "busy")) {
    // Not done there (§3): the next host, when there is one.
    const next = await session.nextHost();
    if (next !== null) {
      // Under --json, stdout holds the answer of the host that did the request (one line per
      // request, as scripts read it); the one set aside is told of on stderr.
      session.err(
        `⚠️ ${
          reply.error === "busy" ? "Servidor lleno" : "Servidor deteniéndose"
        }; se prueba ${next.where}.\n`,
      );
      await session.client.close();
      session.client = next.client;
      return await send(session, line, human);
    }
  }
  const stopping = cutShort(reply, waitMs, performance.now() - sentAt);
  if (session.command.json) {
    session.out(`${raw}\n`);
    // stdout keeps the reply line as received; why the status is 1 goes to stderr, and so
    // does why it is 3: a reply without the fields its request's answer has is no answer,
    // under --json too (a script reading exit 0 as "accepted" must not get it for `{"ok":true}`).
    checkReply(request, reply);
    if (stopping) session.err(describeWaitCutShort(reply));
    return { reply, stopping };
  }
  // Printed for people: only a reply of the shape its request expects.
  checkReply(request, reply);
  if (stopping) session.err(describeWaitCutShort(reply));
  else if (reply.ok) session.out(human(reply, op));
  else session.err(human(reply, op));
  return { reply, stopping };
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
      const { reply: first } = await send(session, line);
      if (!first.ok) return EXIT.refused;
      if (!command.esperar) return EXIT.ok;
      // What was sent is an order (--esperar with anything else is refused before
      // it is sent): an `ok` without its id is the server's fault, not a bad usage
      // (a bare order read from stdin is checked as a PEDIDO: here too, whatever it was).
      const id = (first as { id?: unknown }).id;
      if (!Number.isSafeInteger(id) || (id as number) < 1) {
        throw new ClientError(
          "protocol",
          'Respuesta inválida del servidor: el campo "id" falta o no es del tipo esperado',
        );
      }
      if (!command.json) session.out(`⏳ Esperando el pedido ${id}…\n`);
      const wait: Record<string, unknown> = { op: "ESTADO", id, esperar: true };
      if (command.timeoutMs !== null) wait.timeout_ms = command.timeoutMs;
      try {
        return exitFor(await send(session, JSON.stringify(wait), describeFinal));
      } catch (error) {
        if (!session.signal?.aborted) {
          // The wait failed (the connection broke, the daemon fell silent): the order was
          // accepted all the same, and goes on; say so, lest it be sent again.
          if (!(error instanceof ClientError) || error.code === "protocol") throw error;
          throw new ClientError(
            error.code,
            `${error.message.replace(/\.?$/, ".")} El pedido ${id} fue recibido y sigue su ` +
              `curso; la espera se interrumpió: consúltelo con estado ${id}.`,
            { cause: error },
          );
        }
        // Ctrl-C while waiting: the order was accepted all the same, and goes on.
        if (!command.json) {
          session.out(
            `⏹️ Espera interrumpida. El pedido ${id} fue recibido y sigue su curso: consúltelo con estado ${id}.\n`,
          );
        }
        return EXIT.interrupted;
      }
    }
    default:
      return exitFor(await send(session, JSON.stringify(command.request)));
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
  const out = io.stdout ?? pipeWriter(Deno.stdout);
  const err = io.stderr ?? pipeWriter(Deno.stderr);
  // Ctrl-C or SIGTERM: it says what it had done (an order accepted while it
  // waited goes on), and exits 130.
  using stop = io.signal === undefined ? stopSignals() : null;
  const signal = io.signal ?? stop!.signal;

  // Help is shown whatever else is wrong (a bad value in the environment or env file).
  if (wantsHelp(args)) {
    out(CLIENT_USAGE);
    return EXIT.ok;
  }
  let command: ClientCommand;
  try {
    command = parseClientArgs(args, io.sources);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(usageError(`${error.message}${clientPermissionHint(error)}`));
    return EXIT.usage;
  }

  let stdinText: string | null = null;
  if (command.kind === "stdin") {
    if (io.stdin === undefined && Deno.stdin.isTerminal()) {
      err("Escriba un pedido en JSON y termine con Ctrl-D:\n");
    }
    let read: string | null;
    try {
      read = await readAtMost(io.stdin ?? Deno.stdin.readable, MAX_STDIN_BYTES);
    } catch (error) {
      if (error instanceof NotUtf8Error) {
        // Sent, its bytes would be refused (or, replaced, stored as other text): nothing is sent.
        err(usageError(error.message));
        return EXIT.usage;
      }
      // `client < some-directory`: nothing to send, said plainly rather than as a stack trace.
      const reason = error instanceof Error ? error.message : String(error);
      err(usageError(`Cannot read stdin: ${reason}`));
      return EXIT.usage;
    }
    if (read === null) {
      err(
        usageError(
          `Cannot send stdin: it is larger than ${
            MAX_REQUEST_BYTES / (1024 * 1024)
          } MiB, more than any daemon takes (--max-request-bytes)`,
        ),
      );
      return EXIT.usage;
    }
    stdinText = read.trim();
    if (stdinText === "") {
      err(
        usageError(
          "Nothing to send: give --cliente, --producto and --direccion, or one JSON request on stdin",
        ),
      );
      return EXIT.usage;
    }
    // One request per run: more would be sent and stored, yet only the first answered here.
    const requests = countRequests(stdinText);
    if (requests === 0) {
      // The daemon would wait for the rest of it: nothing would be answered.
      err(
        usageError(
          "Cannot send stdin: its request is incomplete (a { or [ is never closed outside strings)",
        ),
      );
      return EXIT.usage;
    }
    if (requests > 1) {
      err(
        usageError(
          `Cannot send stdin: it holds ${requests} requests, and the client sends one (a request ends at a newline outside braces); send each on its own, or use deno task load`,
        ),
      );
      return EXIT.usage;
    }
    if (command.esperar && asRequest(stdinText) !== null && !isOrder(stdinText)) {
      // Refused before it is sent: a request run and then called bad usage would mislead a script.
      err(
        usageError(
          `Cannot use --esperar: the request on stdin is not an order (its "op" is not PEDIDO); to wait for an order, use client estado ID --esperar`,
        ),
      );
      return EXIT.usage;
    }
  }

  const { hosts, port } = command.config;
  let client: PedidosClient;
  let used: number;
  try {
    ({ client, index: used } = await connectFrom(hosts, port, 0, signal));
  } catch (error) {
    if (signal?.aborted) return EXIT.interrupted;
    if (!(error instanceof ClientError)) throw error;
    const where = hosts.map((host) => formatAddress(host, port)).join(", ");
    err(`❌ No se pudo conectar con el servidor de pedidos en ${where}. ${error.message}\n`);
    return EXIT.unreachable;
  }
  try {
    const replyTimeoutMs = io.replyTimeoutMs ?? REPLY_TIMEOUT_MS;
    const nextHost = async () => {
      if (used + 1 >= hosts.length) return null;
      try {
        const next = await connectFrom(hosts, port, used + 1, signal);
        used = next.index;
        return { client: next.client, where: formatAddress(hosts[used]!, port) };
      } catch {
        return null;
      }
    };
    const hostsLeft = () => used + 1 < hosts.length;
    const session = {
      client,
      nextHost,
      hostsLeft,
      silentHostMs: io.silentHostMs ?? SILENT_HOST_MS,
      command,
      stdinText,
      out,
      err,
      signal,
      replyTimeoutMs,
    };
    try {
      return await run(session);
    } finally {
      client = session.client;
    }
  } catch (error) {
    if (signal?.aborted) return EXIT.interrupted;
    if (!(error instanceof ClientError)) throw error;
    err(
      error.code === "timeout"
        ? `❌ Sin respuesta del servidor. ${error.message}\n`
        : error.code === "protocol"
        ? `❌ El servidor respondió algo que no es una respuesta válida. ${
          printable(error.message)
        }\n`
        : `❌ Se perdió la conexión con el servidor antes de la respuesta. ${error.message}\n`,
    );
    return EXIT.unreachable;
  } finally {
    await client.close();
  }
}

/** Connects to the first of `hosts` from `from` on that accepts, and says which. */
async function connectFrom(
  hosts: string[],
  port: number,
  from: number,
  signal: AbortSignal | undefined,
): Promise<{ client: PedidosClient; index: number }> {
  const { value, index } = await firstToConnect(
    hosts.slice(from),
    (host) => PedidosClient.connectAny([host], port, { signal }),
  );
  return { client: value, index: from + index };
}

/** `line` as one JSON object (a request the daemon would read, whatever its `op`), or null. */
function asRequest(line: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(line);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/** Whether `line` is a PEDIDO (the bare order too): what the daemon may store. */
function isOrder(line: string): boolean {
  const request = asRequest(line);
  if (request === null) return false;
  const op = request.op;
  return op === undefined || (typeof op === "string" && op.trim().toUpperCase() === "PEDIDO");
}

/** Whether the order `line` carries a `clave`, so that sending it again makes no second order. */
function hasClave(line: string): boolean {
  return typeof fieldOf(asRequest(line), "clave") === "string";
}

/**
 * How long `request` ({@linkcode asRequest}) asks the daemon to hold its
 * reply: an `ESTADO` with `esperar`'s `timeout_ms`.
 */
function waitsFor(top: Record<string, unknown> | null): number {
  if (top === null) return 0;
  if (fieldOf(top, "esperar") !== true) return 0;
  const ms = fieldOf(top, "timeout_ms");
  return typeof ms === "number" && Number.isFinite(ms) && ms >= 0
    ? Math.min(ms, 600_000)
    : DEFAULT_WAIT_MS;
}

/** How many requests the daemon would read in `text` (its framing, §8: depth of braces). */
function countRequests(text: string): number {
  const framer = new RequestFramer({ maxRequestBytes: Number.MAX_SAFE_INTEGER });
  return framer.push(new TextEncoder().encode(`${text}\n`)).length;
}
