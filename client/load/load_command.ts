/**
 * The `load` subcommand: many concurrent clients against a running daemon
 * (docs/protocol.md §7), with a live progress line on a terminal and a summary
 * for people, or with `--json` exactly the spec's object.
 *
 * Exit status: 0 the run went through (refusals with `queue_full` are the
 * semaphore at work, not errors), 1 there were errors (or, with
 * `--esperar`, an accepted order was not seen `listo`), 2 bad usage, 3 no
 * connection could be opened, 130 interrupted (the summary is printed still).
 * Why a run failed (1 or 3) goes to stderr, with or without `--json`.
 *
 * @module
 */

import { stopSignals } from "../stop_signals.ts";
import { clientPermissionHint } from "../client_config.ts";
import { ConfigError, type ConfigSources, wantsHelp } from "../../server/config/settings.ts";
import { LOAD_USAGE, type LoadCommand, parseLoadArgs } from "./load_args.ts";
import { formatFailure, formatLoadSummary, formatProgress, loadJson } from "./load_report.ts";
import { type LoadSummary, runLoad } from "./run_load.ts";
import { pipeWriter } from "../pipe_writer.ts";

/** The exit statuses of {@linkcode runLoadCommand}. */
export const LOAD_EXIT = Object.freeze({
  ok: 0,
  errors: 1,
  usage: 2,
  unreachable: 3,
  interrupted: 130,
});

/** The outside world of {@linkcode runLoadCommand}; tests replace it. */
export interface LoadIo {
  /** Writes text as-is. @default {writes to Deno.stdout} */
  stdout?: (text: string) => void;
  /** Writes text as-is. @default {writes to Deno.stderr} */
  stderr?: (text: string) => void;
  /** Where the environment and env file are read. @default {the real ones} */
  sources?: ConfigSources;
  /** Stops the run (the summary is still printed). @default {SIGINT and SIGTERM} */
  signal?: AbortSignal;
  /** Whether stdout is a terminal, which turns the progress line on. @default {Deno.stdout.isTerminal()} */
  isTerminal?: boolean;
  /** The terminal's width, which the progress line fits in. @default {Deno.consoleSize().columns, read at each redraw} */
  columns?: () => number;
}

/** The terminal's width, or no limit when it cannot be known. */
function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns || Infinity;
  } catch {
    return Infinity;
  }
}

/** The exit status of a finished run. */
export function loadStatus(summary: LoadSummary, esperar: boolean): number {
  if (summary.interrumpido) return LOAD_EXIT.interrupted;
  // Unreachable: no connection could be opened at all (one turned away with
  // `busy` reached the daemon: that is an error of the run, not this).
  const { abiertas, fallidas, perdidas } = summary.conexiones;
  if (abiertas === 0 && fallidas === (summary.incidencias.conexion ?? 0)) {
    return LOAD_EXIT.unreachable;
  }
  if (summary.errores > 0 || fallidas > 0 || perdidas > 0) return LOAD_EXIT.errors;
  if (esperar && summary.esperar?.hastaListosS == null) return LOAD_EXIT.errors;
  return LOAD_EXIT.ok;
}

/**
 * Runs `load` with `args` (the words after `load`) and returns the exit status.
 *
 * @example Usage
 * ```ts ignore
 * import { runLoadCommand } from "./load_command.ts";
 * Deno.exit(await runLoadCommand(["--clientes", "50", "--pedidos", "20", "--esperar"]));
 * ```
 */
export async function runLoadCommand(args: string[], io: LoadIo = {}): Promise<number> {
  // A reader gone (`load | head -1`) drops the rest, rather than end in a stack trace.
  const out = io.stdout ?? pipeWriter(Deno.stdout);
  const err = io.stderr ?? pipeWriter(Deno.stderr);
  // Help is shown whatever else is wrong (a bad value in the environment or env file).
  if (wantsHelp(args)) {
    out(LOAD_USAGE);
    return LOAD_EXIT.ok;
  }
  let command: LoadCommand;
  try {
    command = parseLoadArgs(args, io.sources);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(`pedidos load: ${error.message}${clientPermissionHint(error)}\n\n${LOAD_USAGE}`);
    return LOAD_EXIT.usage;
  }
  const terminal = io.isTerminal ?? Deno.stdout.isTerminal();
  const live = terminal && !command.json;
  using signals = io.signal === undefined ? stopSignals() : null;
  const signal = io.signal ?? signals!.signal;
  let drawn = false;
  const columns = io.columns ?? terminalColumns;
  const summary = await runLoad(command.options, {
    signal,
    onProgress: live
      ? (progress) => {
        drawn = true;
        out(`\r${formatProgress(progress, columns())}\x1b[K`);
      }
      : undefined,
  });
  if (drawn) out("\r\x1b[K");
  const status = loadStatus(summary, command.options.esperar);
  const failed = status === LOAD_EXIT.unreachable || status === LOAD_EXIT.errors;
  // The summary's counts go where they are documented; why a run failed goes to stderr
  // whatever the flags, so that `load > run.txt` still shows it, and only there.
  const people = formatLoadSummary(summary, command, { detalles: !failed });
  if (command.json) {
    // stdout is the spec's object alone; the counts for people, when the run did not go
    // well, go to stderr before the reason: the object's counts alone do not say why.
    out(JSON.stringify(loadJson(summary, command.options.esperar)) + "\n");
    if (status === LOAD_EXIT.errors) err(people);
  } else out(people);
  if (failed) {
    err(formatFailure(summary, {
      unreachable: status === LOAD_EXIT.unreachable,
      esperar: command.options.esperar,
    }));
  }
  return status;
}
