/**
 * The live part of the Panel: the daemon's STATS counters and the
 * timeline, re-rendered on every snapshot of its feed.
 *
 * @module
 */

import type { Pedido } from "../../../server/protocol/messages.ts";
import type { Stats } from "../../../server/protocol/replies.ts";
import type { Rejection } from "../live/rejection_log.ts";
import { Counter } from "./counter.tsx";
import { Problem } from "./problem.tsx";
import { type OrderPast, Timeline, type UnlistedWaiting } from "./timeline.tsx";
import { sinceText } from "./since_text.ts";
import type { Coverage } from "../live/timeline_window.ts";

/** Props of {@linkcode PanelContent}. */
export interface PanelContentProps {
  /** The daemon's STATS, or null when they could not be read. */
  stats: Stats | null;
  /** Recent orders, for the timeline. */
  pedidos: Pedido[];
  /** The timeline's right edge, ms since the epoch. */
  now: number;
  /** When orders were refused with `queue_full`. */
  rejections: Rejection[];
  /** A problem reaching the daemon. */
  problem?: string | null;
  /**
   * With several daemons (a cluster), the address of the one whose STATS
   * these are; null with one. In a cluster STATS's queue gauges
   * (capacidad, libres, en espera, en proceso) are the cluster's, its
   * counters and durations that daemon's since it started (protocol §9),
   * while the timeline shows the whole cluster's orders. @default {null}
   */
  cluster?: string | null;
  /** Orders waiting beyond `pedidos`, drawn as waiting (see {@linkcode Timeline}). @default {null} */
  waitingUnlisted?: UnlistedWaiting | null;
  /** The past of the orders that have been back in the queue, by id: see {@linkcode OrderPast}. @default {none} */
  pasts?: ReadonlyMap<number, OrderPast>;
  /** Where the timeline's span is not whole (see {@linkcode Coverage}); null when it is. @default {null} */
  coverage?: Coverage | null;
}

function ms(value: number | null): string {
  return value === null ? "—" : value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(2)} s`;
}

function Legend(props: { cluster: boolean }) {
  return (
    <ul class="legend">
      <li>
        <i class="sw wait"></i>en espera
      </li>
      <li>
        <i class="sw run"></i>en proceso
      </li>
      <li>
        <i class="sw done"></i>listo
      </li>
      <li>
        <i class="sw err"></i>error
      </li>
      <li>
        <i class="sw cap"></i>capacidad
      </li>
      <li>
        <i class="sw rej"></i>rechazos (queue_full{props.cluster ? ", este nodo" : ""})
      </li>
    </ul>
  );
}

/** What the Panel says of a timeline that is not whole: what is missing, and why. */
function coverageText(coverage: Coverage, now: number, windowMs = 60_000): string {
  const ago = (t: number) => Math.max(0, Math.round((now - t) / 1000));
  const parts: string[] = [];
  if (coverage.reason === "unchecked") {
    return "No se pudo comprobar en esta actualización que su sesión sigue siendo de operador (el " +
      "servidor no respondió a tiempo, o no hubo con qué probarlo), así que no se muestran los " +
      "pedidos terminados: la línea de tiempo es «sin datos», no workers libres; se comprueba de " +
      "nuevo en la próxima actualización.";
  }
  if (coverage.from > now - windowMs) {
    const why = coverage.reason === "limit"
      ? `guarda como mucho ${coverage.maxOrders} pedidos terminados, y han terminado más en el ` +
        "último minuto"
      : coverage.reason === "reset"
      ? `encontró el servidor de pedidos con otros datos hace ${ago(coverage.from)} s (otra base ` +
        "de datos), y lo terminado antes ya no se puede leer"
      : "aún lo está leyendo del servidor, unas páginas en cada actualización";
    parts.push(
      `La línea de tiempo solo está completa en los últimos ${ago(coverage.from)} s: antes (la ` +
        `zona gris, «sin datos») faltan pedidos, porque la pasarela ${why}. No indica workers libres.`,
    );
  }
  const unread = coverage.unreadSince;
  if (unread !== null) {
    const span = unread <= now - windowMs
      ? "La línea de tiempo no se pudo leer del servidor en esta actualización"
      : `No se pudo leer del servidor qué pedidos terminaron en los últimos ${ago(unread)} s`;
    parts.push(
      `${span} (no respondió a tiempo, o lo rechazó): esa parte es «sin datos», no workers ` +
        "libres; se lee de nuevo en la próxima actualización.",
    );
  }
  return parts.join(" ");
}

/** The counters, the timeline and its legend; a banner when there are no stats. */
export function PanelContent(props: PanelContentProps) {
  const { stats } = props;
  if (stats === null) return <Problem text={props.problem ?? "Sin datos del servidor."} />;
  const d = stats.duracion_ms;
  const cluster = props.cluster ?? null;
  // In a cluster, what only the answering daemon counted says so.
  const node = (label: string) => cluster === null ? label : `${label} · este nodo`;
  return (
    <>
      {cluster !== null && (
        <p class="small" data-cluster>
          Varios servidores comparten los pedidos (clúster). Capacidad, libres, en espera y en
          proceso son del clúster; los demás contadores, del servidor que responde ({cluster}). La
          línea de tiempo muestra los pedidos de todo el clúster: un pedido no dice en qué servidor
          corrió, así que el «Worker N» de cada servidor comparte fila, y dos que coinciden en el
          tiempo se dibujan en filas aparte («otro nodo»).
        </p>
      )}
      <div class="counters">
        <Counter label="capacidad" value={stats.capacidad} />
        <Counter label="libres" value={stats.libres} tone={stats.libres === 0 ? "alert" : ""} />
        <Counter label="en espera" value={stats.pendientes} tone="wait" />
        <Counter label="en proceso" value={stats.en_proceso} tone="run" />
        <Counter label={node("listos")} value={stats.listos} tone="done" />
        <Counter label={node("rechazados")} value={stats.rechazados} tone="alert" />
        <Counter label={node("errores")} value={stats.errores} />
        {/* A v1.0 daemon sends no `cancelados`: it cannot cancel, so none were. */}
        <Counter label={node("cancelados")} value={stats.cancelados ?? 0} tone="off" />
        <Counter label={node("p50")} value={ms(d.p50)} />
        <Counter label={node("p95")} value={ms(d.p95)} />
        <Counter label={node("máx")} value={ms(d.max)} />
      </div>
      <p class="muted small">
        {stats.workers} workers{cluster === null ? "" : " en este nodo"} · {stats.aceptados}{" "}
        aceptados de {stats.recibidos} recibidos{cluster === null ? "" : " en este nodo"} ·{" "}
        {stats.conexiones} {stats.conexiones === 1 ? "conexión" : "conexiones"} · en marcha hace
        {" "}
        {sinceText(stats.uptime_s)}
      </p>
      {props.coverage && (
        <p class="small" data-coverage>
          {coverageText(props.coverage, props.now)}
        </p>
      )}
      <div class="timeline-wrap">
        <Timeline
          pedidos={props.pedidos}
          workers={stats.workers}
          capacidad={stats.capacidad}
          now={props.now}
          rejections={props.rejections}
          waitingUnlisted={props.waitingUnlisted ?? null}
          pasts={props.pasts ?? new Map()}
          coverage={props.coverage ?? null}
        />
      </div>
      <Legend cluster={cluster !== null} />
    </>
  );
}
