/**
 * The end of a load run with `esperar`: waits until every accepted order is
 * final, and times it by the daemon's own `fecha_fin`. The orders already
 * final are read in pages of `LISTAR` (a thousand a request, newest first,
 * over the range of the accepted ids); only the others are waited on, one
 * `ESTADO esperar` each, pipelined on a few connections. So the check adds
 * little to the daemon's work while it may still be processing the run's
 * last orders. When the daemon waited on stops or dies, the wait goes on
 * from the next of the hosts that answers (a cluster's daemons share their
 * orders). Used by `run_load.ts`.
 *
 * @module
 */

import type { Estado, Pedido } from "../../server/protocol/messages.ts";
import type { PedidosClient } from "../client.ts";
import { pause } from "../../server/pause.ts";
import { FailoverLink } from "./failover_link.ts";
import type { LoadSettings } from "./load_settings.ts";
import { LatencySamples, type LatencySummary, round } from "./latency_samples.ts";

/** The wait for `listo` (with `esperar`). */
export interface WaitSummary {
  /** Accepted orders seen `listo`. */
  listos: number;
  /** Accepted orders that ended `error`. */
  conError: number;
  /** Accepted orders cancelled (by someone else) before they ran. */
  cancelados: number;
  /**
   * Accepted orders the daemon no longer has (`not_found`) before they were
   * seen final: deleted by retention (`--retain-s`, which deletes finished
   * orders only), or lost with a database that did not last (`:memory:`).
   * Not known to be `listo`.
   */
  borrados: number;
  /** Accepted orders not seen finished when the wait ended (timeout, lost connection). */
  sinTerminar: number;
  /**
   * Whether, with orders not seen finished, no daemon could be reached at
   * the end of the wait (it stopped or died, and none came back): the
   * summary says so rather than leave them merely unfinished.
   */
  sinServidor: boolean;
  /**
   * Seconds from the start of sending until the last accepted order's
   * `fecha_fin` (the daemon's clock, so checking adds nothing), capped by
   * when it was seen; null unless every accepted order was seen `listo`.
   */
  hastaListosS: number | null;
  /** Per order, `fecha_fin − fecha_recibido` in ms. */
  latenciaMs: LatencySummary;
}

/** How long to wait before asking again when no daemon answers, or one is stopping, ms. */
const RETRY_MS = 200;

/** Refusals that another daemon, or the same one a moment later, may not give. */
const AGAIN: ReadonlySet<string> = new Set(["shutting_down", "unavailable", "busy"]);

/** Whether an order in `estado` has ended: it will not change by itself any more. */
function isFinal(estado: Estado): boolean {
  switch (estado) {
    case "listo":
    case "error":
    case "cancelado":
      return true;
    case "pendiente":
    case "en proceso":
      return false;
  }
}

/**
 * Waits until every id is final (or `esperarTimeoutMs`, or `signal`), and
 * calls `onListo` for each order seen `listo`.
 */
export async function waitForListos(
  ids: number[],
  options: {
    settings: LoadSettings;
    /** When sending started: `Date.now()` and `performance.now()`. */
    started: { wall: number; mono: number };
    signal: AbortSignal;
    onListo: () => void;
  },
): Promise<WaitSummary> {
  const { settings, started, signal, onListo } = options;
  const unique = [...new Set(ids)].sort((a, b) => a - b);
  const latency = new LatencySamples();
  const summary: WaitSummary = {
    listos: 0,
    conError: 0,
    cancelados: 0,
    borrados: 0,
    sinTerminar: 0,
    sinServidor: false,
    hastaListosS: null,
    latenciaMs: latency.summary(),
  };
  if (unique.length === 0) {
    summary.hastaListosS = 0;
    return summary;
  }
  const deadline = performance.now() + settings.esperarTimeoutMs;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), settings.esperarTimeoutMs);
  const stop = AbortSignal.any([signal, timeout.signal]);
  const links: FailoverLink[] = [];
  let lastFin = -Infinity;
  let next = 0;
  /** Whether the last try to reach a daemon did (null: none tried yet). */
  let reached: boolean | null = null;

  /** Counts `pedido` when it is final; whether it was. */
  function record(pedido: Pedido): boolean {
    if (!isFinal(pedido.estado)) return false;
    const fin = Date.parse(pedido.fecha_fin ?? "");
    const recibido = Date.parse(pedido.fecha_recibido);
    if (Number.isFinite(fin)) lastFin = Math.max(lastFin, fin);
    if (Number.isFinite(fin) && Number.isFinite(recibido)) latency.add(fin - recibido);
    if (pedido.estado === "listo") {
      summary.listos++;
      onListo();
    } else if (pedido.estado === "error") summary.conError++;
    else summary.cancelados++;
    return true;
  }

  /**
   * Reads the orders of `ids` that are final already, a page of `LISTAR`
   * at a time from the newest down to the oldest; the ids still to wait for.
   */
  async function sweep(client: PedidosClient, ids: number[]): Promise<number[]> {
    const left = new Set(ids);
    const oldest = ids[0]!;
    let before = ids.at(-1)! + 1;
    while (before > oldest && !stop.aborted) {
      let reply;
      try {
        reply = await client.call("LISTAR", { antes_de: before, limit: 1000 }, { signal: stop });
      } catch {
        break;
      }
      if (!reply.ok || reply.pedidos.length === 0) break;
      for (const pedido of reply.pedidos) {
        if (left.has(pedido.id) && record(pedido)) left.delete(pedido.id);
      }
      const lowest = Math.min(...reply.pedidos.map((p) => p.id));
      if (!(lowest < before)) break;
      before = lowest;
    }
    return ids.filter((id) => left.has(id));
  }

  /**
   * Waits on the order `id` until it is final, on `link`'s daemon; on
   * another when that one stops, dies or cannot reach its store for a
   * moment.
   */
  async function check(link: FailoverLink, id: number): Promise<void> {
    for (;;) {
      const left = Math.ceil(deadline - performance.now());
      if (left <= 0 || stop.aborted) break;
      let client: PedidosClient;
      try {
        client = await link.get();
      } catch {
        // No daemon answers now: one may come back before the deadline.
        reached = false;
        await pause(RETRY_MS, stop);
        continue;
      }
      let reply;
      try {
        reply = await client.call("ESTADO", { id, esperar: true, timeout_ms: left }, {
          signal: stop,
        });
      } catch {
        if (stop.aborted) break;
        reached = false;
        link.drop(client);
        // A moment before the next connection: a daemon whose replies cannot be
        // read would otherwise be connected to in a loop until the deadline.
        await pause(RETRY_MS, stop);
        continue;
      }
      reached = true;
      if (!reply.ok) {
        if (reply.error === "not_found") {
          summary.borrados++;
          return;
        }
        if (reply.error === "queue_full") {
          // Too many waits open on the daemon (its --max-waiters, shared with
          // every other client): one is taken again once others have ended.
          await pause(RETRY_MS, stop);
          continue;
        }
        if (!AGAIN.has(reply.error)) break;
        link.drop(client);
        await pause(RETRY_MS, stop);
        continue;
      }
      if (record(reply.pedido)) return;
      // Not final yet (the wait ran out, or the daemon is stopping): a moment
      // before asking again, so a daemon that answers at once is not asked in a loop.
      await pause(RETRY_MS, stop);
    }
  }

  let waiting: number[] = unique;
  async function worker(link: FailoverLink): Promise<void> {
    const inflight = new Set<Promise<void>>();
    while (next < waiting.length && !stop.aborted) {
      const task = check(link, waiting[next++]!);
      inflight.add(task);
      task.finally(() => inflight.delete(task));
      if (inflight.size >= 128) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  }

  try {
    const count = Math.min(4, settings.clientes, unique.length);
    const { hosts, port, connectTimeoutMs } = settings;
    links.push(
      ...Array.from(
        { length: count },
        () => new FailoverLink({ hosts, port, connectTimeoutMs, signal: stop }),
      ),
    );
    const first = await links[0]!.get().catch(() => null);
    reached = first !== null;
    if (first !== null) waiting = await sweep(first, unique);
    await Promise.all(links.map(worker));
  } finally {
    clearTimeout(timer);
    await Promise.all(links.map((link) => link.close()));
  }
  summary.sinTerminar = unique.length - summary.listos - summary.conError - summary.cancelados -
    summary.borrados;
  summary.sinServidor = summary.sinTerminar > 0 && reached === false;
  summary.latenciaMs = latency.summary();
  if (summary.listos === unique.length) {
    const seen = (performance.now() - started.mono) / 1000;
    const byClock = (lastFin - started.wall) / 1000;
    summary.hastaListosS = round(Math.min(seen, Math.max(0, byClock)), 3);
  }
  return summary;
}
