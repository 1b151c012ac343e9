import assert from "node:assert/strict";
import { DaemonMetrics } from "./daemon_metrics.ts";
import { Histogram } from "./histogram.ts";
import type { Stats } from "../protocol/replies.ts";

Deno.test("DaemonMetrics on a shared store: an order ending while the cluster's counts are read is in neither the finished counters nor the histogram, not in one alone", async () => {
  const durations = new Histogram([0.1, 1]);
  const stats = { recibidos: 1, aceptados: 1, rechazados: 0, listos: 0, errores: 0, cancelados: 0 };
  const metrics = new DaemonMetrics();
  metrics.attach({
    stats: () => ({ ...stats, conexiones: 0, workers: 1 }) as unknown as Stats,
    cluster: () => {
      // An order ends while the database answers.
      stats.listos++;
      durations.observe(0.5);
      return Promise.resolve({ pendientes: 0, en_proceso: 0, capacidad: 6, libres: 6 });
    },
    durations: () => durations.snapshot(),
    workerRestarts: () => 0,
    retention: () => null,
  });
  const families = await metrics.families();
  const finished = families.find((f) => f.name === "pedidos_finalizados_total");
  const histogram = families.find((f) => f.name === "pedidos_duracion_segundos");
  assert.ok(finished?.type === "counter" && histogram?.type === "histogram");
  const listos = finished.samples.find((s) => s.labels?.estado === "listo")?.value;
  assert.equal(
    histogram.histogram.count,
    listos,
    "the histogram counts the orders counted finished",
  );
});
