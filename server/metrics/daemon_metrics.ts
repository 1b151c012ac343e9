/**
 * The daemon's metrics (docs/protocol.md §10), as the families the endpoint
 * exports: the counters and gauges of STATS, the processing-time histogram,
 * and the operator's health — the writer's batch sizes and commit times,
 * worker restarts, retention passes, memory. Every metric is documented in
 * the README ("Metrics").
 *
 * @module
 */

import type { PruneStats } from "../orders/pruner.ts";
import type { Stats } from "../protocol/replies.ts";
import { Histogram, type HistogramSnapshot } from "./histogram.ts";
import { encodeMetrics, type MetricFamily } from "./prometheus_text.ts";
import { withDeadline } from "../store/postgres/deadline.ts";

/** The queue's gauges: this daemon's, or on a shared store the cluster's. */
type QueueGauges = Pick<Stats, "pendientes" | "en_proceso" | "capacidad" | "libres">;

/** Where the numbers come from, read at each scrape. */
export interface MetricsSources {
  /** STATS now, as this daemon knows it. */
  stats: () => Stats;
  /**
   * On a shared store (§9): the cluster's `pendientes`, `en_proceso`,
   * `capacidad` and `libres`, read from the database (rejects while it
   * cannot be reached). Null, or absent, on a store of one daemon.
   */
  cluster?: () => Promise<QueueGauges> | null;
  /** Processing times of orders finished since start, in seconds. */
  durations: () => HistogramSnapshot;
  /** Processor workers replaced since start. */
  workerRestarts: () => number;
  /** What retention did; null when it is off (`--retain-s 0`). */
  retention: () => PruneStats | null;
}

/** Buckets of `pedidos_escritor_lote_operaciones`. */
export const BATCH_BOUNDS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/** Buckets of `pedidos_escritor_commit_segundos`. */
export const COMMIT_BOUNDS_S: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
];

/**
 * The longest a scrape waits for the cluster's counts: well inside
 * Prometheus's default scrape timeout (10 s).
 */
const CLUSTER_READ_MS = 2000;

/**
 * Collects what is observed as it happens (the writer's batches) and renders
 * everything on a scrape. The writer reports from the moment the store is
 * open; the rest is {@linkcode DaemonMetrics.attach}ed once the daemon is
 * up (the endpoint answers 503 before that).
 */
export class DaemonMetrics {
  #sources: MetricsSources | null = null;
  readonly #batchSize = new Histogram(BATCH_BOUNDS);
  readonly #commit = new Histogram(COMMIT_BOUNDS_S);

  /** Gives the sources of the numbers read at each scrape. */
  attach(sources: MetricsSources): void {
    this.#sources = sources;
  }

  /** Whether the daemon is up and its sources given. */
  get attached(): boolean {
    return this.#sources !== null;
  }

  /** Records one batch the writer committed. */
  observeWriterBatch(batch: { size: number; commitMs: number }): void {
    this.#batchSize.observe(batch.size);
    this.#commit.observe(batch.commitMs / 1000);
  }

  /** The families now. */
  async families(): Promise<MetricFamily[]> {
    const writer: MetricFamily[] = [
      {
        name: "pedidos_escritor_lote_operaciones",
        help: "Operations per transaction of the store's writer (group commit).",
        type: "histogram",
        histogram: this.#batchSize.snapshot(),
      },
      {
        name: "pedidos_escritor_commit_segundos",
        help: "Time of one writer transaction, BEGIN to COMMIT.",
        type: "histogram",
        histogram: this.#commit.snapshot(),
      },
    ];
    const sources = this.#sources;
    if (sources === null) return writer;
    const s = sources.stats();
    // With the counters, before the cluster's counts are awaited: an order
    // ending meanwhile is then in neither, never in the histogram alone.
    const durations = sources.durations();
    const retention = sources.retention();
    const reading = sources.cluster?.() ?? null;
    // The queue's gauges: the cluster's when the store is shared. While its
    // database cannot be reached they are NaN (unknown: this daemon's own
    // view would look like an empty queue), but the capacity, which every
    // daemon of the cluster has the same; pedidos_almacen_disponible says why.
    let queue: QueueGauges = s;
    let available: number | null = null;
    if (reading !== null) {
      // Within a scrape's time: a database that does not answer (a network
      // path gone silent) shows as unavailable rather than failing the scrape.
      const cluster = await withDeadline(reading, CLUSTER_READ_MS, "read the cluster's counts")
        .catch(() => null);
      available = cluster === null ? 0 : 1;
      queue = cluster ?? { pendientes: NaN, en_proceso: NaN, capacidad: s.capacidad, libres: NaN };
    }
    const families: MetricFamily[] = [
      counter("pedidos_recibidos_total", "PEDIDO requests received (valid or not).", s.recibidos),
      counter("pedidos_aceptados_total", "New orders accepted.", s.aceptados),
      counter("pedidos_rechazados_total", "Orders refused with queue_full.", s.rechazados),
      {
        name: "pedidos_finalizados_total",
        help: "Orders finished, by final state.",
        type: "counter",
        samples: [
          { labels: { estado: "listo" }, value: s.listos },
          { labels: { estado: "error" }, value: s.errores },
          { labels: { estado: "cancelado" }, value: s.cancelados },
        ],
      },
      gauge("pedidos_pendientes", "Orders waiting for a worker now.", queue.pendientes),
      gauge("pedidos_en_proceso", "Orders on a worker now.", queue.en_proceso),
      gauge("pedidos_capacidad", "Capacity (--max-pedidos).", queue.capacidad),
      gauge("pedidos_libres", "Capacity slots free now.", queue.libres),
      ...(available === null ? [] : [
        gauge(
          "pedidos_almacen_disponible",
          "1 while the shared database answers, 0 while it cannot be reached.",
          available,
        ),
      ]),
      gauge("pedidos_conexiones", "Open TCP connections.", s.conexiones),
      {
        name: "pedidos_duracion_segundos",
        help: "Processing time of finished orders (fecha_fin - fecha_inicio).",
        type: "histogram",
        histogram: durations,
      },
      gauge("pedidos_workers", "Processor workers.", s.workers),
      counter(
        "pedidos_workers_reiniciados_total",
        "Processor workers replaced (crashed, hung, or ignored an abort).",
        sources.workerRestarts(),
      ),
      ...writer,
    ];
    if (retention !== null) {
      families.push(
        counter("pedidos_retencion_pasadas_total", "Retention passes finished.", retention.passes),
        counter("pedidos_retencion_lotes_total", "Retention batches deleted.", retention.batches),
        counter(
          "pedidos_retencion_borrados_total",
          "Finished orders deleted by retention.",
          retention.deleted,
        ),
        counter(
          "pedidos_retencion_fallos_total",
          "Retention batches that failed.",
          retention.failures,
        ),
      );
    }
    families.push(
      gauge("pedidos_uptime_segundos", "Seconds since the daemon started.", s.uptime_s),
      gauge(
        "process_resident_memory_bytes",
        "Resident memory of the daemon's process.",
        Deno.memoryUsage().rss,
      ),
    );
    return families;
  }

  /** The exposition text now. */
  async render(): Promise<string> {
    return encodeMetrics(await this.families());
  }
}

function counter(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: "counter", samples: [{ value }] };
}

function gauge(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: "gauge", samples: [{ value }] };
}
