/**
 * A load run's summary for tests of what is printed from it.
 *
 * @module
 */

import type { LoadSummary } from "../load/run_load.ts";

/** 10 sent: 7 accepted, 2 refused, 1 `internal` error, over 2 connections in 0.5 s. */
export const SAMPLE_LOAD_SUMMARY: LoadSummary = {
  enviados: 10,
  aceptados: 7,
  duplicados: 0,
  rechazados: 2,
  errores: 1,
  erroresPorTipo: { internal: 1 },
  incidencias: {},
  conexiones: { abiertas: 2, fallidas: 0, perdidas: 0 },
  detalles: [],
  segundos: 0.5,
  porSegundo: 20,
  latenciaMs: { p50: 1, p95: 2, p99: 3, max: 4 },
  interrumpido: false,
  ids: [],
  esperar: null,
};
