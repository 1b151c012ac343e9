/**
 * What `pedidos load` prints: the progress line, the summary for people,
 * and the spec's JSON object. Pure: no I/O.
 *
 * @module
 */

import { formatAddress } from "../client.ts";
import type { LoadCommand } from "./load_args.ts";
import type { LoadProgress, LoadSummary } from "./run_load.ts";

/**
 * The summary as the JSON object of docs/protocol.md §7, and nothing else:
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
  // Only when there are some (a rerun with --clave-prefijo): otherwise the keys are §7's.
  if (summary.duplicados > 0) json.duplicados = summary.duplicados;
  if (esperar) {
    json.listos = summary.esperar?.listos ?? 0;
    json.hasta_listos_s = summary.esperar?.hastaListosS ?? null;
    // Only when there are some: the summary's keys are otherwise those of §7.
    const borrados = summary.esperar?.borrados ?? 0;
    if (borrados > 0) json.borrados = borrados;
  }
  return json;
}

function ms(value: number | null): string {
  return value === null ? "—" : `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
}

/**
 * The progress line (without the carriage return), to fit in `columns`
 * characters when given: a line longer than the terminal wraps, and the
 * carriage return that redraws it then goes back to its last row only, so
 * every redraw would leave a row behind. Too wide, it uses short words
 * (`env`, `acept`, `rech`, `err`), spaces only between them and the rate
 * in whole orders; still too wide, it is cut.
 */
export function formatProgress(progress: LoadProgress, columns = Infinity): string {
  const head = progress.fase === "conectando" ? "conectando…" : `${progress.segundos.toFixed(1)} s`;
  const rate = `${progress.porSegundo.toFixed(1)}/s`;
  const { enviados, aceptados, rechazados, errores, listos } = progress;
  const long = [
    head,
    `enviados ${enviados}`,
    `aceptados ${aceptados}`,
    `rechazados ${rechazados}`,
    `errores ${errores}`,
    rate,
  ];
  if (listos !== null) long.push(`esperando: listos ${listos}`);
  // One column is left free: a line that fills the last one wraps on some terminals.
  const width = Math.max(1, columns - 1);
  const line = long.join(" · ");
  if ([...line].length <= width) return line;
  const compact = [
    head,
    `env ${enviados}`,
    `acept ${aceptados}`,
    `rech ${rechazados}`,
    `err ${errores}`,
    `${Math.round(progress.porSegundo)}/s`,
    ...(listos === null ? [] : [`listos ${listos}`]),
  ].join(" ");
  const chars = [...compact];
  return chars.length <= width ? compact : chars.slice(0, width).join("");
}

/** Options of {@linkcode formatLoadSummary}. */
export interface SummaryOptions {
  /**
   * Whether the failure messages kept (`detalles`) end the summary; a failed
   * run's go to stderr as its reason instead.
   * @default {true}
   */
  detalles?: boolean;
}

/** The summary for people, in Spanish like the daemon. */
export function formatLoadSummary(
  summary: LoadSummary,
  command: LoadCommand,
  shown: SummaryOptions = {},
): string {
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
      const total = wait.listos + wait.conError + wait.cancelados + wait.borrados +
        wait.sinTerminar;
      const time = wait.hastaListosS === null
        ? "no todos llegaron a listo"
        : wait.hastaListosS === 0
        ? "todos listos ya al empezar"
        : `todos listos a los ${wait.hastaListosS.toFixed(2)} s`;
      const extra = [
        wait.conError > 0 ? `${wait.conError} con error` : "",
        wait.cancelados > 0 ? `${wait.cancelados} cancelados` : "",
        wait.borrados > 0
          ? `${wait.borrados} ya borrados antes de verlos: la retención (--retain-s) o una base que no duró`
          : "",
        wait.sinTerminar > 0
          ? `${wait.sinTerminar} sin terminar${
            wait.sinServidor ? ": ningún servidor respondía al final de la espera" : ""
          }`
          : "",
      ].filter(Boolean).join(", ");
      lines.push(`listos     ${wait.listos} de ${total}: ${time}${extra ? ` (${extra})` : ""}`);
    }
  }
  const list = (counts: Record<string, number>) =>
    Object.entries(counts).map(([kind, count]) => `${kind} ${count}`).join(" · ");
  if (Object.keys(summary.erroresPorTipo).length > 0) {
    lines.push(`errores    ${list(summary.erroresPorTipo)}`);
  }
  if (Object.keys(summary.incidencias).length > 0) {
    lines.push(`incidencias ${list(summary.incidencias)}`);
  }
  if (shown.detalles ?? true) {
    for (const detail of summary.detalles) lines.push(`           ${detail}`);
  }
  return lines.join("\n") + "\n";
}

/** Options of {@linkcode formatFailure}. */
export interface FailureOptions {
  /** No connection could be opened (exit status 3), rather than a run that went wrong (1). */
  unreachable: boolean;
  /** The run waited for its orders to be `listo`. */
  esperar: boolean;
}

/**
 * Why a run failed, for stderr: one line saying what went wrong, then the
 * failure messages kept (`detalles`), indented.
 */
export function formatFailure(summary: LoadSummary, options: FailureOptions): string {
  const details = summary.detalles.map((detail) => `  ${detail}\n`).join("");
  if (options.unreachable) return `pedidos load: no connection could be opened\n${details}`;
  const { fallidas, perdidas } = summary.conexiones;
  const reasons = [
    summary.errores > 0 ? `${summary.errores} orders failed` : "",
    fallidas > 0 ? `${fallidas} connections failed` : "",
    perdidas > 0 ? `${perdidas} connections were lost` : "",
    options.esperar && summary.esperar?.hastaListosS == null
      ? "not every accepted order was seen listo"
      : "",
  ].filter(Boolean);
  return `pedidos load: the run did not go well: ${reasons.join(", ")}\n${details}`;
}
