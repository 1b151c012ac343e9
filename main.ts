/**
 * pedidos: one program, several subcommands.
 *
 *   pedidos server   the daemon
 *   pedidos client   one order or query
 *   pedidos load     many concurrent clients
 *   pedidos web      the web gateway
 *   pedidos usuarios gives or takes back the operador role
 *
 * This file picks the subcommand, owns the process's signals and exit
 * status, and is the only place that calls `Deno.exit`. The client, load,
 * web and usuarios subcommands are imported only when chosen (literal specifiers, so
 * `deno compile` still embeds them): the daemon does not carry the web
 * framework in its memory.
 *
 * @module
 */

import { parseServerConfig, SERVER_SETTINGS, SERVER_USAGE } from "./server/config/server_config.ts";
import {
  ConfigError,
  ignoredPostgresVariables,
  isPermissionRefusal,
  unknownVariables,
  wantsHelp,
} from "./server/config/settings.ts";
import { WriterFailedError } from "./server/store/sqlite_store.ts";
import { CLIENT_SETTINGS } from "./client/client_config.ts";
import { WEB_SETTINGS } from "./client/web/config.ts";
import { Logger } from "./server/log.ts";
import { OutputError } from "./client/pipe_writer.ts";
import { type RunSummary, Server } from "./server/server.ts";

const USAGE = `pedidos — takes orders over TCP, stores each durably, processes them in parallel

Usage:
  pedidos server [flags]     run the daemon (pedidos server --help)
  pedidos client [args]      send one order or query (pedidos client --help)
  pedidos load [flags]       many concurrent clients (pedidos load --help)
  pedidos web [flags]        run the web gateway (pedidos web --help)
  pedidos usuarios operador NOMBRE [--db PATH]
                             give an account the operador role: it sees every
                             order and the Panel (pedidos usuarios --help)
  pedidos usuarios usuario NOMBRE [--db PATH]
                             take the role back: it sees only its own orders

Protocol: docs/protocol.md`;

/**
 * The same signal twice, closer together than this, is one signal delivered
 * twice (a SIGTERM to the process group reaches the daemon from the sender
 * and again through `deno task`, which forwards it: measured 0.2–1 ms apart).
 * Short, so that a second stop sent on purpose, even a tenth of a second
 * after the first, is not taken for one. Two different signals are never one.
 */
const DUPLICATE_SIGNAL_MS = 50;

function print(text: string): void {
  try {
    console.log(text);
  } catch {
    // stdout is gone (the terminal closed: EIO; a full disk: ENOSPC): the run goes on.
  }
}

function printError(text: string): void {
  try {
    console.error(text);
  } catch {
    // stderr is gone too: nothing left to tell.
  }
}

/** The summary printed to stdout when the daemon stops. */
export function formatSummary(summary: RunSummary): string {
  const d = summary.duracion_ms;
  const show = (v: number | null) => (v === null ? "-" : String(v));
  return [
    `resumen recibidos=${summary.recibidos} aceptados=${summary.aceptados} ` +
    `rechazados=${summary.rechazados} listos=${summary.listos} errores=${summary.errores} ` +
    `cancelados=${summary.cancelados} pendientes=${show(summary.pendientes)} ` +
    `uptime_s=${summary.uptime_s}`,
    `duracion_ms min=${show(d.min)} p50=${show(d.p50)} p95=${show(d.p95)} max=${show(d.max)} ` +
    `avg=${show(d.avg)}`,
  ].join("\n");
}

/**
 * What to do about a file the process may not read or write: Deno's own
 * advice ("run again with the --allow-read flag") cannot be followed through
 * `deno task server`, which takes no Deno flags, nor with the compiled
 * binary, whose permissions are built in.
 */
function permissionHint(error: unknown): string {
  return isPermissionRefusal(error)
    ? ". (The daemon reads and writes only inside the folder it starts in, through " +
      "`deno task server` as in the compiled binary: give --db, --env-file and --processor " +
      "paths there, or start it in the folder that holds them; or run `deno run` with " +
      "--allow-read and --allow-write for that folder. See Permissions in the README.)"
    : "";
}

async function runServer(args: string[]): Promise<number> {
  if (wantsHelp(args)) {
    print(SERVER_USAGE);
    return 0;
  }
  let config;
  try {
    config = parseServerConfig(args);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    printError(`pedidos server: ${error.message}${permissionHint(error)}\n\n${SERVER_USAGE}`);
    return 2;
  }
  const logger = new Logger({ level: config.log });
  // Listen for signals from the start, before the database is opened and a
  // backlog recovered (which may take seconds): a stop asked meanwhile is
  // carried out once the daemon is up, a graceful one with its summary, not
  // a default kill. A hang-up (SIGHUP: its terminal closed) stops it the same
  // way when it has a terminal; without one (under nohup, a service manager,
  // every stream redirected) a hang-up is not about it, and is ignored.
  const hangUpStops = [Deno.stdin, Deno.stdout, Deno.stderr].some((stream) => stream.isTerminal());
  let signals = 0;
  let firstAt = 0;
  let first: Deno.Signal | null = null;
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  const onSignal = (signal: Deno.Signal) => {
    // One signal can arrive twice at once (a supervisor signalling the process
    // group while `deno task` forwards it): only a later one, or another
    // signal, means "now".
    if (signal === first && performance.now() - firstAt < DUPLICATE_SIGNAL_MS) return;
    signals++;
    if (signals === 1) {
      first = signal;
      firstAt = performance.now();
      logger.info("server.signal", { signal, action: "draining" });
      stop();
    } else {
      logger.warn("server.signal", { signal, action: "exit now" });
      Deno.exit(1);
    }
  };
  const onHangUp = () => {
    if (hangUpStops) return onSignal("SIGHUP");
    logger.info("server.signal", { signal: "SIGHUP", action: "ignored (no terminal)" });
  };
  const onInterrupt = () => onSignal("SIGINT");
  const onTerminate = () => onSignal("SIGTERM");
  Deno.addSignalListener("SIGINT", onInterrupt);
  Deno.addSignalListener("SIGTERM", onTerminate);
  Deno.addSignalListener("SIGHUP", onHangUp);
  // A file past the process's size limit (`ulimit -f`) would end the process
  // at once (SIGXFSZ), answering no one: with it handled, the write fails
  // instead (EFBIG), as a full disk does — `internal` for new orders, reads go on.
  const onFileTooLarge = () =>
    logger.repeated("error", "storage.file_size_limit", {
      advice: "a file reached the process's file size limit (ulimit -f); raise it",
    });
  Deno.addSignalListener("SIGXFSZ", onFileTooLarge);
  const unlisten = () => {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    Deno.removeSignalListener("SIGTERM", onTerminate);
    Deno.removeSignalListener("SIGHUP", onHangUp);
    Deno.removeSignalListener("SIGXFSZ", onFileTooLarge);
  };
  let server: Server;
  try {
    server = await Server.start({ config, logger });
  } catch (error) {
    unlisten();
    const message = error instanceof Error ? error.message : String(error);
    printError(`pedidos server: cannot start: ${message}${permissionHint(error)}`);
    return error instanceof Deno.errors.AddrInUse ? 1 : 2;
  }
  if (config.envFile) {
    logger.info("config.env_file", { path: config.envFile });
    // Read by no subcommand: a typo, which would otherwise change nothing silently.
    const tables = [SERVER_SETTINGS, CLIENT_SETTINGS, WEB_SETTINGS];
    for (const name of unknownVariables(config.envFile, tables)) {
      logger.warn("config.unknown_variable", { name, file: config.envFile });
    }
    // A PG* variable there is never read (PGPASSWORD: the driver reads the environment only).
    const inEnvironment = (name: string) => {
      try {
        return Deno.env.get(name) !== undefined;
      } catch {
        return false;
      }
    };
    for (
      const { name, reason } of ignoredPostgresVariables(config.envFile, config.db, inEnvironment)
    ) {
      logger.warn("config.ignored_variable", { name, file: config.envFile, reason });
    }
  }

  // A PostgreSQL database reached only after the start may refuse this daemon (§9).
  let status = 0;
  server.failed.then((error) => {
    printError(`pedidos server: cannot go on: ${error.message}`);
    // A writer that died can be restarted (a supervisor restarts on 1, not on 2);
    // the other reasons are the database's settings, which a restart would not change.
    status = error instanceof WriterFailedError ? 1 : 2;
    stop();
  });
  // Not ready for anyone when told to stop while starting: no ready line then.
  // A signal that came while the start kept the thread busy (recovering a long
  // backlog) is delivered at a turn of the event loop, possibly the same turn as
  // a timer set now: two turns let its listener run first.
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setTimeout(resolve, 0));
  if (signals === 0) {
    print(server.readyLine);
    if (server.metricsLine !== null) print(server.metricsLine);
  }
  await stopped;
  const summary = await server.shutdown();
  print(formatSummary(summary));
  unlisten();
  return status;
}

/** The web gateway, stopped by SIGINT or SIGTERM. */
async function runWeb(args: string[]): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const { runWebCommand } = await import("./client/web/main.ts");
    return await runWebCommand(args, { signal: stop.signal });
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

/**
 * Runs a command-line tool (`client`, `load`); when its output cannot be
 * written (a full disk), says so on stderr and ends with status 1.
 */
async function writingOutput(command: string, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof OutputError)) throw error;
    printError(`pedidos ${command}: ${error.message}`);
    return 1;
  }
}

/** Runs the subcommand named by `args[0]` and returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "server":
      return await runServer(rest);
    case "client":
      return await writingOutput(
        command,
        async () => await (await import("./client/cli.ts")).runClient(rest),
      );
    case "load":
      return await writingOutput(
        command,
        async () => await (await import("./client/load/load_command.ts")).runLoadCommand(rest),
      );
    case "web":
      return await runWeb(rest);
    case "usuarios":
      return await (await import("./server/accounts/usuarios_command.ts")).runUsuariosCommand(rest);
    case undefined:
      // Bad usage, as every other: the usage goes to stderr, stdout stays empty.
      printError(`pedidos: no subcommand given\n\n${USAGE}`);
      return 2;
    case "help":
    case "--help":
    case "-h":
      print(USAGE);
      return 0;
    default:
      printError(`pedidos: unknown subcommand "${command}"\n\n${USAGE}`);
      return 2;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
