import assert from "node:assert/strict";
import { parseLoadArgs } from "./load_args.ts";
import { formatLoadSummary, formatProgress, loadJson } from "./load_report.ts";
import { NO_SOURCES as NOTHING } from "../testing/cli_harness.ts";
import { SAMPLE_LOAD_SUMMARY as SUMMARY } from "../testing/sample_load_summary.ts";

Deno.test("loadJson() is exactly the spec's object, with listos and hasta_listos_s only with esperar", () => {
  assert.deepEqual(Object.keys(loadJson(SUMMARY, false)), [
    "enviados",
    "aceptados",
    "rechazados",
    "errores",
    "por_segundo",
    "latencia_ms",
  ]);
  assert.deepEqual(loadJson(SUMMARY, false).latencia_ms, { p50: 1, p95: 2, p99: 3, max: 4 });
  const waited = loadJson({
    ...SUMMARY,
    esperar: {
      listos: 7,
      conError: 0,
      cancelados: 0,
      borrados: 0,
      sinTerminar: 0,
      sinServidor: false,
      hastaListosS: 1.25,
      latenciaMs: { p50: 1, p95: 1, p99: 1, max: 1 },
    },
  }, true);
  assert.deepEqual(waited, {
    enviados: 10,
    aceptados: 7,
    rechazados: 2,
    errores: 1,
    por_segundo: 20,
    latencia_ms: { p50: 1, p95: 2, p99: 3, max: 4 },
    listos: 7,
    hasta_listos_s: 1.25,
  });
  assert.deepEqual(loadJson(SUMMARY, true).hasta_listos_s, null, "not waited: null");
});

Deno.test("formatProgress() and formatLoadSummary() show the counts for people", () => {
  const line = formatProgress({
    fase: "enviando",
    segundos: 1.5,
    enviados: 10,
    aceptados: 7,
    rechazados: 2,
    errores: 1,
    porSegundo: 20,
    listos: null,
  });
  assert.equal(line, "1.5 s · enviados 10 · aceptados 7 · rechazados 2 · errores 1 · 20.0/s");
  const text = formatLoadSummary(SUMMARY, parseLoadArgs(["--clientes", "2"], NOTHING));
  assert.match(text, /enviados 10 · aceptados 7 · rechazados 2 · errores 1/);
  assert.match(text, /20\.0 pedidos\/s/);
  assert.match(text, /p50 1\.00 ms · p95 2\.00 ms · p99 3\.00 ms · máx 4\.00 ms/);
  assert.match(text, /errores +internal 1/);
  assert.doesNotMatch(text, /incidencias/, "none: no line");
  const lost = formatLoadSummary(
    { ...SUMMARY, incidencias: { conexion_perdida: 2 } },
    parseLoadArgs([], NOTHING),
  );
  assert.match(lost, /incidencias conexion_perdida 2/);
});

Deno.test("formatLoadSummary() shows how the wait for listo ended, cancelled orders included", () => {
  const command = parseLoadArgs(["--clientes", "2", "--esperar"], NOTHING);
  const text = formatLoadSummary({
    ...SUMMARY,
    esperar: {
      listos: 4,
      conError: 1,
      cancelados: 2,
      borrados: 0,
      sinTerminar: 0,
      sinServidor: false,
      hastaListosS: null,
      latenciaMs: { p50: 1, p95: 1, p99: 1, max: 1 },
    },
  }, command);
  assert.match(text, /^listos +4 de 7: no todos llegaron a listo \(1 con error, 2 cancelados\)$/m);
});

Deno.test("formatLoadSummary() and loadJson() say how many orders were deleted before the wait saw them", () => {
  const command = parseLoadArgs(["--clientes", "2", "--esperar"], NOTHING);
  const summary = {
    ...SUMMARY,
    esperar: {
      listos: 5,
      conError: 0,
      cancelados: 0,
      borrados: 2,
      sinTerminar: 0,
      sinServidor: false,
      hastaListosS: null,
      latenciaMs: { p50: 1, p95: 1, p99: 1, max: 1 },
    },
  };
  assert.match(
    formatLoadSummary(summary, command),
    /^listos +5 de 7: no todos llegaron a listo \(2 ya borrados antes de verlos: la retención \(--retain-s\)/m,
  );
  assert.equal(loadJson(summary, true).borrados, 2);
});

Deno.test("loadJson() says how many accepted orders were duplicates, when there were some", () => {
  assert.equal(loadJson({ ...SUMMARY, duplicados: 4 }, false).duplicados, 4);
  assert.equal("duplicados" in loadJson({ ...SUMMARY, duplicados: 0 }, false), false);
});

Deno.test("formatProgress() fits the terminal's width: short words on 80 columns, cut on fewer, never wrapping", () => {
  const waiting = {
    fase: "esperando" as const,
    segundos: 123.4,
    enviados: 1_000_000,
    aceptados: 999_999,
    rechazados: 12_345,
    errores: 678,
    porSegundo: 12_345.6,
    listos: 987_654,
  };
  const wide = formatProgress(waiting);
  assert.ok(wide.length > 80, "the full line is wider than an 80-column terminal");
  assert.match(wide, /aceptados 999999 .* esperando: listos 987654/);
  const narrow = formatProgress(waiting, 80);
  assert.ok([...narrow].length <= 79, narrow);
  assert.equal(
    narrow,
    "123.4 s env 1000000 acept 999999 rech 12345 err 678 12346/s listos 987654",
  );
  assert.equal([...formatProgress(waiting, 20)].length, 19);
  assert.equal(formatProgress(waiting, 200), wide, "the full line where it fits");
});

Deno.test("formatLoadSummary() says no daemon answered at the end of the wait, when none did", () => {
  const command = parseLoadArgs(["--clientes", "2", "--esperar"], NOTHING);
  const text = formatLoadSummary({
    ...SUMMARY,
    esperar: {
      listos: 4,
      conError: 0,
      cancelados: 0,
      borrados: 0,
      sinTerminar: 3,
      sinServidor: true,
      hastaListosS: null,
      latenciaMs: { p50: 1, p95: 1, p99: 1, max: 1 },
    },
  }, command);
  assert.match(
    text,
    /^listos +4 de 7: no todos llegaron a listo \(3 sin terminar: ningún servidor respondía al final de la espera\)$/m,
  );
});
