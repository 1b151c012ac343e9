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
import { Timeline } from "./timeline.tsx";

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
}

function ms(value: number | null): string {
  return value === null ? "—" : value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(2)} s`;
}

function Legend() {
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
        <i class="sw rej"></i>rechazos (queue_full)
      </li>
    </ul>
  );
}

/** The counters, the timeline and its legend; a banner when there are no stats. */
export function PanelContent(props: PanelContentProps) {
  const { stats } = props;
  if (stats === null) return <Problem text={props.problem ?? "Sin datos del servidor."} />;
  const d = stats.duracion_ms;
  return (
    <>
      <div class="counters">
        <Counter label="capacidad" value={stats.capacidad} />
        <Counter label="libres" value={stats.libres} tone={stats.libres === 0 ? "alert" : ""} />
        <Counter label="en espera" value={stats.pendientes} tone="wait" />
        <Counter label="en proceso" value={stats.en_proceso} tone="run" />
        <Counter label="listos" value={stats.listos} tone="done" />
        <Counter label="rechazados" value={stats.rechazados} tone="alert" />
        <Counter label="errores" value={stats.errores} />
        {/* A v1.0 daemon sends no `cancelados`: it cannot cancel, so none were. */}
        <Counter label="cancelados" value={stats.cancelados ?? 0} tone="off" />
        <Counter label="p50" value={ms(d.p50)} />
        <Counter label="p95" value={ms(d.p95)} />
        <Counter label="máx" value={ms(d.max)} />
      </div>
      <p class="muted small">
        {stats.workers} workers · {stats.aceptados} aceptados de {stats.recibidos} recibidos ·{" "}
        {stats.conexiones} conexiones · en marcha hace {stats.uptime_s} s
      </p>
      <div class="timeline-wrap">
        <Timeline
          pedidos={props.pedidos}
          workers={stats.workers}
          capacidad={stats.capacidad}
          now={props.now}
          rejections={props.rejections}
        />
      </div>
      <Legend />
    </>
  );
}
