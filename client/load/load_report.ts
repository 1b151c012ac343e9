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
        wait.sinTerminar > 0 ? `${wait.sinTerminar} sin terminar` : "",
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
  for (const detail of summary.detalles) lines.push(`           ${detail}`);
  return lines.join("\n") + "\n";
}
