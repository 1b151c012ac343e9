/**
 * The `load` subcommand: many concurrent clients against a running daemon
 * (PROTOCOL.md §7), with a live progress line on a terminal and a summary
 * for people, or with `--json` exactly the spec's object.
 *
 * Exit status: 0 the run went through (refusals with `queue_full` are the
 * semaphore at work, not errors), 1 there were errors (or, with
 * `--esperar`, an accepted order was not seen `listo`), 2 bad usage, 3 no
 * connection could be opened, 130 interrupted (the summary is printed still).
 *
 * @module
 */

import {
  CLIENT_SETTINGS,
  type ClientConfig,
  ConfigError,
  type ConfigSources,
  type ExtraFlag,
  formatUsage,
  resolveConfig,
  wholeNumber,
} from "../../server/config.ts";
import { formatAddress } from "../client.ts";
import { type LoadOptions, type LoadProgress, type LoadSummary, runLoad } from "./run_load.ts";

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
}

/** A parsed `load` command line. */
export interface LoadCommand {
  /** `--help` was asked for. */
  help: boolean;
  /** Print the spec's JSON object instead of the summary for people. */
  json: boolean;
  /** Where the daemon is. */
  config: ClientConfig;
  /** What {@linkcode runLoad} gets. */
  options: LoadOptions & {
    clientes: number;
    pedidos: number;
    pipeline: number;
    esperar: boolean;
  };
}

const EXTRA_FLAGS: Record<string, ExtraFlag> = {
  clientes: { type: "string" },
  pedidos: { type: "string" },
  pipeline: { type: "string" },
  tasa: { type: "string" },
  duracion: { type: "string" },
  "clave-prefijo": { type: "string" },
  esperar: { type: "boolean" },
  "timeout-ms": { type: "string" },
  json: { type: "boolean" },
};

/** The usage text of `load`, printed with a usage error and with `--help`. */
export const LOAD_USAGE: string = formatUsage(
  `Usage:
  pedidos load [--clientes N] [--pedidos M] [--pipeline K] [--tasa R] [--duracion S]
               [--clave-prefijo P] [--esperar [--timeout-ms MS]] [--json]

Opens N connections to the daemon and sends M orders on each, one at a time
(or K in flight with --pipeline), then prints what happened: sent, accepted,
rejected (queue_full), errors, orders per second and latency. A live line
shows progress on a terminal. Ctrl-C stops and still prints the summary.
Exit status: 0 done, 1 errors, 2 bad usage, 3 cannot connect, 130 interrupted.`,
  CLIENT_SETTINGS,
  [
    ["--clientes N", "concurrent connections (default 10)"],
    ["--pedidos M", "orders per connection (default 10; no limit with --duracion)"],
    ["--pipeline K", "orders in flight per connection (default 1: one at a time)"],
    ["--tasa R", "orders per second over all connections (default: as fast as it answers)"],
    ["--duracion S", "stop sending after S seconds"],
    ["--clave-prefijo P", "orders carry clave P-CONN-N, so a rerun is deduplicated"],
    ["--esperar", "then wait until every accepted order is listo, and report the time"],
    ["--timeout-ms MS", "with --esperar, how long to wait (default 60000)"],
    ["--json", "print one JSON object: the summary of PROTOCOL.md §7"],
  ],
);

function flagValue<T>(
  flags: Record<string, unknown>,
  flag: string,
  parse: (text: string) => T,
): T | null {
  const text = flags[flag];
  if (typeof text !== "string") return null;
  try {
    return parse(text);
  } catch (error) {
    throw new ConfigError(`Invalid --${flag} "${text}": ${(error as Error).message}`);
  }
}

function positiveNumber(text: string): number {
  const value = /^\s*(\d+\.?\d*|\.\d+)\s*$/.test(text) ? Number(text) : NaN;
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError("must be a number above 0");
  return value;
}

function prefix(text: string): string {
  if (text.length < 1 || text.length > 100) throw new RangeError("must be 1 to 100 characters");
  return text;
}

/**
 * Parses the arguments of `load` (after the word `load`).
 *
 * @example Usage
 * ```ts
 * import { parseLoadArgs } from "./load_command.ts";
 * const command = parseLoadArgs(["--clientes", "50", "--pedidos", "20"], { getEnv: () => undefined, readFile: () => null });
 * console.log(command.options.clientes, command.options.pedidos); // 50 20
 * ```
 * @param args The command line after `load`.
 * @param sources Where the environment and env file are read.
 * @returns The command.
 * @throws {ConfigError} On an unknown flag or a bad value.
 */
export function parseLoadArgs(args: string[], sources: ConfigSources = {}): LoadCommand {
  const resolved = resolveConfig(args, CLIENT_SETTINGS, { ...sources, extraFlags: EXTRA_FLAGS });
  const { config, flags, help } = resolved;
  const duracion = flagValue(flags, "duracion", positiveNumber);
  const esperar = flags.esperar === true;
  const timeoutMs = flagValue(flags, "timeout-ms", wholeNumber(1));
  if (timeoutMs !== null && !esperar) {
    throw new ConfigError("Unexpected --timeout-ms: needs --esperar");
  }
  const options: LoadCommand["options"] = {
    hosts: config.hosts,
    port: config.port,
    clientes: flagValue(flags, "clientes", wholeNumber(1, 100_000)) ?? 10,
    pedidos: flagValue(flags, "pedidos", wholeNumber(1)) ?? (duracion === null ? 10 : Infinity),
    pipeline: flagValue(flags, "pipeline", wholeNumber(1, 10_000)) ?? 1,
    tasa: flagValue(flags, "tasa", positiveNumber),
    duracionMs: duracion === null ? null : duracion * 1000,
    clavePrefijo: flagValue(flags, "clave-prefijo", prefix),
    esperar,
  };
  if (timeoutMs !== null) options.esperarTimeoutMs = timeoutMs;
  return { help, json: flags.json === true, config, options };
}

/**
 * The summary as the JSON object of PROTOCOL.md §7, and nothing else:
 * `enviados`, `aceptados`, `rechazados`, `errores`, `por_segundo`,
 * `latencia_ms` (`p50`, `p95`, `p99`, `max`) and, with `esperar`, `listos`
 * and `hasta_listos_s`.
 */
export function loadJson(summary: LoadSummary, esperar: boolean): Record<string, unknown> {
  const { p50, p95, p99, max } = summary.latenciaMs;
  const json: Record<string, unknown> = {
    enviados: summary.enviados,
    aceptados: summary.aceptados,
    rechazados: summary.rechazados,
    errores: summary.errores,
    por_segundo: summary.porSegundo,
    latencia_ms: { p50, p95, p99, max },
  };
  if (esperar) {
    json.listos = summary.esperar?.listos ?? 0;
    json.hasta_listos_s = summary.esperar?.hastaListosS ?? null;
  }
  return json;
}

function ms(value: number | null): string {
  return value === null ? "—" : `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
}

/** The progress line (without the carriage return). */
export function formatProgress(progress: LoadProgress): string {
  const head = progress.fase === "conectando" ? "conectando…" : `${progress.segundos.toFixed(1)} s`;
  const parts = [
    head,
    `enviados ${progress.enviados}`,
    `aceptados ${progress.aceptados}`,
    `rechazados ${progress.rechazados}`,
    `errores ${progress.errores}`,
    `${progress.porSegundo.toFixed(1)}/s`,
  ];
  if (progress.listos !== null) parts.push(`esperando: listos ${progress.listos}`);
  return parts.join(" · ");
}

/** The summary for people, in Spanish like the daemon. */
export function formatLoadSummary(summary: LoadSummary, command: LoadCommand): string {
  const { options, config } = command;
  const where = formatAddress(config.hosts[0] ?? "localhost", config.port);
  const pedidos = options.pedidos === Infinity ? "∞" : String(options.pedidos);
  const lines = [
    `carga      ${options.clientes} clientes × ${pedidos} pedidos, pipeline ${options.pipeline}` +
    (options.tasa ? `, tasa ${options.tasa}/s` : "") + ` → ${where}` +
    (summary.interrumpido ? " (interrumpida)" : ""),
    `pedidos    enviados ${summary.enviados} · aceptados ${summary.aceptados}` +
    (summary.duplicados > 0 ? ` (${summary.duplicados} duplicados)` : "") +
    ` · rechazados ${summary.rechazados} · errores ${summary.errores}`,
    `ritmo      ${summary.porSegundo.toFixed(1)} pedidos/s en ${summary.segundos.toFixed(2)} s`,
    `latencia   p50 ${ms(summary.latenciaMs.p50)} · p95 ${ms(summary.latenciaMs.p95)} · p99 ${
      ms(summary.latenciaMs.p99)
    } · máx ${ms(summary.latenciaMs.max)}`,
    `conexiones abiertas ${summary.conexiones.abiertas} · fallidas ${summary.conexiones.fallidas}` +
    ` · perdidas ${summary.conexiones.perdidas}`,
  ];
  const wait = summary.esperar;
  if (options.esperar) {
    if (wait === null) lines.push("listos     — (no se esperó: la carga se interrumpió)");
    else {
      const total = wait.listos + wait.conError + wait.sinTerminar;
      const time = wait.hastaListosS === null
        ? "no todos llegaron a listo"
        : wait.hastaListosS === 0
        ? "todos listos ya al empezar"
        : `todos listos a los ${wait.hastaListosS.toFixed(2)} s`;
      const extra = [
        wait.conError > 0 ? `${wait.conError} con error` : "",
        wait.sinTerminar > 0 ? `${wait.sinTerminar} sin terminar` : "",
      ].filter(Boolean).join(", ");
      lines.push(`listos     ${wait.listos} de ${total}: ${time}${extra ? ` (${extra})` : ""}`);
    }
  }
  const kinds = Object.entries(summary.erroresPorTipo);
  if (kinds.length > 0) {
    lines.push(`errores    ${kinds.map(([kind, count]) => `${kind} ${count}`).join(" · ")}`);
    for (const detail of summary.detalles) lines.push(`           ${detail}`);
  }
  return lines.join("\n") + "\n";
}

/** The exit status of a finished run. */
export function loadStatus(summary: LoadSummary, esperar: boolean): number {
  if (summary.interrumpido) return LOAD_EXIT.interrupted;
  if (summary.conexiones.abiertas === 0) return LOAD_EXIT.unreachable;
  if (summary.errores > 0) return LOAD_EXIT.errors;
  if (esperar && summary.esperar?.hastaListosS == null) return LOAD_EXIT.errors;
  return LOAD_EXIT.ok;
}

const encoder = new TextEncoder();

function writeAllSync(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let written = 0; written < bytes.length;) {
    written += file.writeSync(bytes.subarray(written));
  }
}

/** Aborts on SIGINT/SIGTERM until disposed. */
function signalController(): { signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const abort = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const name of signals) Deno.addSignalListener(name, abort);
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      for (const name of signals) Deno.removeSignalListener(name, abort);
    },
  };
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
  const out = io.stdout ?? ((text: string) => writeAllSync(Deno.stdout, text));
  const err = io.stderr ?? ((text: string) => writeAllSync(Deno.stderr, text));
  let command: LoadCommand;
  try {
    command = parseLoadArgs(args, io.sources);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(`pedidos load: ${error.message}\n\n${LOAD_USAGE}`);
    return LOAD_EXIT.usage;
  }
  if (command.help) {
    out(LOAD_USAGE);
    return LOAD_EXIT.ok;
  }
  const terminal = io.isTerminal ?? Deno.stdout.isTerminal();
  const live = terminal && !command.json;
  using signals = io.signal === undefined ? signalController() : null;
  const signal = io.signal ?? signals!.signal;
  let drawn = false;
  const summary = await runLoad(command.options, {
    signal,
    onProgress: live
      ? (progress) => {
        drawn = true;
        out(`\r${formatProgress(progress)}\x1b[K`);
      }
      : undefined,
  });
  if (drawn) out("\r\x1b[K");
  if (command.json) out(JSON.stringify(loadJson(summary, command.options.esperar)) + "\n");
  else out(formatLoadSummary(summary, command));
  return loadStatus(summary, command.options.esperar);
}
