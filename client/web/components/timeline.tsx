/**
 * The Panel's timeline, drawn on the server as SVG: a chart of the slots in
 * use (orders waiting and in process, against the capacity, with the
 * moments orders were refused), then one lane per worker with a bar per
 * order from `fecha_inicio` to `fecha_fin`. Pure: same input, same SVG.
 *
 * Behind several daemons (a cluster, protocol §9) the orders are the whole
 * cluster's, and an order does not say which daemon ran it: each daemon
 * has a worker 1. Two bars of one worker number that overlap in time ran
 * on different daemons, so they get lanes of their own ("Worker 1 · otro
 * nodo") rather than one drawn over the other.
 *
 * An order that went back to the queue (a failed attempt waiting out its
 * retry backoff, Reintentar after `error`) is drawn as it was seen
 * ({@linkcode OrderPast}): waiting only while it was `pendiente`, its
 * earlier attempts as failed bars.
 *
 * @module
 */

import type { Pedido } from "../../../server/protocol/messages.ts";
import { estadoClass } from "./estado_badge.tsx";
import { isolate } from "../user_text.ts";
import type { Coverage } from "../live/timeline_window.ts";

/** What the timeline shows. */
export interface TimelineOptions {
  /** Recent orders, in any order. */
  pedidos: Pedido[];
  /** The pool's size: one lane per worker. */
  workers: number;
  /** The daemon's capacity (STATS `capacidad`). */
  capacidad: number;
  /** The right edge, ms since the epoch. */
  now: number;
  /** How much time the chart spans. @default {60000} */
  windowMs?: number;
  /** When orders were refused with `queue_full`, and how many. */
  rejections?: { at: number; count: number }[];
  /**
   * Orders waiting now that are not in `pedidos` (a queue longer than the
   * list the gateway reads): how many, and a moment since which they have
   * all been waiting. @default {null}
   */
  waitingUnlisted?: UnlistedWaiting | null;
  /** The past of the orders that have been back in the queue, by id. @default {none} */
  pasts?: ReadonlyMap<number, OrderPast>;
  /**
   * Where `pedidos` do not cover the whole span (the gateway could not read
   * or keep them all): before `coverage.from`, and after
   * `coverage.unreadSince`, the chart is marked "sin datos" rather than
   * drawn idle. @default {null}
   */
  coverage?: Coverage | null;
}

/**
 * An attempt of an order that its current copy no longer shows: the order
 * went back to the queue after it (see {@linkcode OrderPast}).
 */
export interface PastAttempt {
  /** Its number (the order's `intentos` while it ran). */
  intento: number;
  /** The worker that ran it. */
  worker: number;
  /** When it started, ms since the epoch. */
  inicio: number;
  /** When it ended (or was last seen running), ms since the epoch. */
  fin: number;
  /**
   * Whether it was seen ending `error` (the order was then sent back by
   * Reintentar); else it was seen going back to the queue from running (a
   * failed attempt waiting out its retry backoff, or one cut short).
   */
  error: boolean;
}

/**
 * What the Panel's snapshots saw of an order that has been back in the
 * queue, which its current copy no longer says: its `fecha_inicio`,
 * `fecha_fin` and `worker` are those of its last attempt, cleared while it
 * waits again, and its `fecha_recibido` is when it first came.
 */
export interface OrderPast {
  /** Its earlier attempts, drawn as failed bars. */
  attempts: PastAttempt[];
  /**
   * When it waited, as seen (`to` Infinity: it waits still): drawn instead
   * of a wait from `fecha_recibido` to its start.
   */
  waits: { from: number; to: number }[];
}

/** Orders waiting beyond the list: see {@linkcode TimelineOptions.waitingUnlisted}. */
export interface UnlistedWaiting {
  /** How many. */
  count: number;
  /** Waiting at least since then, ms since the epoch. */
  since: number;
}

const WIDTH = 1000;
/** The narrowest gutter left of the plot, for the labels. */
const MIN_LEFT = 92;
const RIGHT = 12;
/** The labels' font size in the drawing's units (`svg.timeline` in the stylesheet). */
const LABEL_PX = 12;
/** Room between a label's end and the plot, and before its start. */
const LABEL_GAP = 6;
const LABEL_MARGIN = 4;
const QUEUE_TOP = 24;
const QUEUE_HEIGHT = 96;
const LANE_TOP = QUEUE_TOP + QUEUE_HEIGHT + 26;
const LANE_HEIGHT = 26;
const LANE_GAP = 8;
const SAMPLES = 240;
/**
 * Bars drawn at most in a lane for each state (`listo`, `error`): bars
 * narrower than two pixels (the narrowest bar drawn) and closer than that
 * to the one before, itself as narrow, are drawn as one, and past this
 * many, those narrower and closer than four, eight… pixels, so that the
 * drawing stays bounded however many orders ran. Orders wide enough to see
 * are each a bar of their own, however close: a worker starts the next
 * order the moment it ends one. A merged bar is as opaque as its
 * worker was busy over it: it does not show idle time as busy.
 */
const MAX_BARS_PER_LANE = 120;

function ms(iso: string | null): number | null {
  if (iso === null) return null;
  const value = Date.parse(iso);
  return Number.isNaN(value) ? null : value;
}

/**
 * How wide a label may be drawn, in em: each character at most as wide as
 * in DejaVu Sans, the sans-serif of a Linux without other fonts and the
 * widest of the usual ones (digits 0.636 em; Arial's 0.556).
 */
function labelEm(text: string): number {
  let em = 0;
  for (const ch of text) {
    if (/[fijlrt .,:;·'!|]/.test(ch)) em += 0.42;
    else if (/[mwMW]/.test(ch)) em += 1;
    else if (/[A-Z]/.test(ch)) em += 0.8;
    else if (/[a-z0-9]/.test(ch)) em += 0.64;
    else em += 1;
  }
  return em;
}

function seconds(value: number | null): string {
  return value === null ? "—" : `${(value / 1000).toFixed(2)} s`;
}

/** A time span, ms since the epoch; `to` is Infinity while it goes on. */
interface Interval {
  from: number;
  to: number;
}

/** A bar to place: its worker number and when it ran. */
interface Run extends Interval {
  worker: number;
}

/** One attempt of an order, drawn in its worker's lane. */
interface Bar extends Run {
  p: Pedido;
  /** Its `data-id`: the order's id, and for an earlier attempt its number too (`7:1`). */
  key: string;
  /** Its CSS class: the state it shows. */
  estado: string;
  /** How it went, for its title. */
  says: string;
}

/**
 * Places each run in a lane of its worker number: the first lane that is
 * free at its start (runs of one worker on one daemon never overlap, so
 * with one daemon every run is in lane 0).
 *
 * @returns Each run's lane within its worker (`of`, in the order given),
 * and the lanes of each worker number that needs more than one (`extra`).
 */
function packLanes(runs: Run[]): { of: number[]; extra: Map<number, number> } {
  const of = new Array<number>(runs.length).fill(0);
  const ends = new Map<number, number[]>();
  const order = runs.map((_, i) => i).sort((a, b) =>
    runs[a]!.from - runs[b]!.from || runs[a]!.to - runs[b]!.to
  );
  for (const i of order) {
    const run = runs[i]!;
    const lanes = ends.get(run.worker) ?? [];
    let lane = lanes.findIndex((end) => end <= run.from);
    if (lane === -1) lane = lanes.length;
    lanes[lane] = run.to;
    ends.set(run.worker, lanes);
    of[i] = lane;
  }
  const extra = new Map<number, number>();
  for (const [worker, lanes] of ends) if (lanes.length > 1) extra.set(worker, lanes.length);
  return { of, extra };
}

/**
 * How many of `intervals` hold each of `times` (ascending): those with
 * `from <= t < to`, counted in one pass over their sorted ends.
 */
function countAt(intervals: readonly Interval[], times: readonly number[]): number[] {
  const real = intervals.filter((i) => i.from < i.to);
  const starts = real.map((i) => i.from).sort((a, b) => a - b);
  const ends = real.map((i) => i.to).sort((a, b) => a - b);
  let s = 0;
  let e = 0;
  return times.map((t) => {
    while (s < starts.length && starts[s]! <= t) s++;
    while (e < ends.length && ends[e]! <= t) e++;
    return s - e;
  });
}

/** One bar drawn: a single attempt, or several of one lane and state merged. */
interface Drawn extends Interval {
  lane: number;
  estado: string;
  bars: Bar[];
}

/**
 * The bars to draw: each lane's bars of one state, merged where a bar
 * narrower than `gapMs` (two pixels' time) comes closer than that after one
 * as narrow, the gap doubled until the lane has at most
 * {@linkcode MAX_BARS_PER_LANE} of that state. A bar still running is never merged.
 */
function mergeBars(bars: readonly Bar[], lanes: readonly number[], gapMs: number): Drawn[] {
  const groups = new Map<string, { bar: Bar; lane: number }[]>();
  const drawn: Drawn[] = [];
  const alone = (bar: Bar, lane: number): Drawn => ({
    lane,
    estado: bar.estado,
    from: bar.from,
    to: bar.to,
    bars: [bar],
  });
  bars.forEach((bar, i) => {
    const lane = lanes[i]!;
    if (bar.to === Infinity) {
      drawn.push(alone(bar, lane));
      return;
    }
    const key = `${lane}\n${bar.estado}`;
    const group = groups.get(key) ?? [];
    group.push({ bar, lane });
    groups.set(key, group);
  });
  for (const group of groups.values()) {
    group.sort((a, b) => a.bar.from - b.bar.from);
    for (let gap = gapMs;; gap *= 2) {
      const merged: Drawn[] = [];
      const narrow = (b: Bar) => b.to - b.from < gap;
      for (const { bar, lane } of group) {
        const last = merged.at(-1);
        if (
          last !== undefined && bar.from - last.to < gap && narrow(bar) && narrow(last.bars.at(-1)!)
        ) {
          last.to = Math.max(last.to, bar.to);
          last.bars.push(bar);
        } else merged.push(alone(bar, lane));
      }
      if (merged.length <= MAX_BARS_PER_LANE) {
        drawn.push(...merged);
        break;
      }
    }
  }
  return drawn;
}

/** How much of a merged bar's time its orders ran, 0 to 1. */
function busyShare(drawn: Drawn): number {
  const busy = drawn.bars.reduce((sum, bar) => sum + (bar.to - bar.from), 0);
  return drawn.to > drawn.from ? Math.min(1, busy / (drawn.to - drawn.from)) : 1;
}

/** What a merged bar says: how many orders, which, in what state, how busy. */
function mergedTitle(drawn: Drawn): string {
  const ids = drawn.bars.map((bar) => bar.p.id);
  const lowest = ids.reduce((a, b) => Math.min(a, b));
  const highest = ids.reduce((a, b) => Math.max(a, b));
  const state = drawn.estado === "error" ? "con error" : drawn.estado === "listo" ? "listos" : "";
  return `${drawn.bars.length} pedidos ${state} seguidos (#${lowest} … #${highest}), ` +
    `en ${seconds(drawn.to - drawn.from)}, el worker ocupado el ${
      Math.round(busyShare(drawn) * 100)
    } % de ese tiempo (demasiado juntos para verlos por separado)`;
}

/** After a worker's number, in the label of its lanes from another daemon. */
const OTHER_NODE = " · otro nodo";

/** The SVG timeline. */
export function Timeline(props: TimelineOptions) {
  const { pedidos, now, windowMs = 60_000, rejections = [], waitingUnlisted = null } = props;
  const start = now - windowMs;
  const pasts = props.pasts ?? new Map<number, OrderPast>();
  // When orders waited and ran; a wait or a run still going on ends at
  // Infinity: it holds "now" too.
  const waits: Interval[] = [];
  const runs: Interval[] = [];
  const bars: Bar[] = [];
  for (const p of pedidos) {
    const recibido = ms(p.fecha_recibido) ?? now;
    const inicio = ms(p.fecha_inicio);
    const fin = ms(p.fecha_fin);
    const past = pasts.get(p.id);
    if (past !== undefined) waits.push(...past.waits);
    else {
      waits.push({
        from: recibido,
        // A cancelled order waited until it was cancelled (`fecha_fin`), never to "now".
        to: p.estado === "pendiente"
          ? Infinity
          : inicio ?? fin ?? (p.estado === "cancelado" ? recibido : Infinity),
      });
    }
    if (inicio !== null && (p.estado === "en proceso" || fin !== null)) {
      const to = p.estado === "en proceso" ? Infinity : fin ?? Infinity;
      runs.push({ from: inicio, to });
      const duracion = p.estado === "en proceso" ? now - inicio : p.duracion_ms;
      if (p.worker !== null) {
        bars.push({
          p,
          key: String(p.id),
          worker: p.worker,
          from: inicio,
          to,
          estado: estadoClass(p.estado),
          says: `${p.estado} · ${seconds(duracion)}`,
        });
      }
    }
    for (const attempt of past?.attempts ?? []) {
      runs.push({ from: attempt.inicio, to: attempt.fin });
      const ended = attempt.error ? "error" : "sin terminar, volvió a la cola";
      bars.push({
        p,
        key: `${p.id}:${attempt.intento}`,
        worker: attempt.worker,
        from: attempt.inicio,
        to: attempt.fin,
        estado: estadoClass("error"),
        says: `intento ${attempt.intento}: ${ended} · ${seconds(attempt.fin - attempt.inicio)}`,
      });
    }
  }
  const shown = bars.filter((bar) => bar.to >= start);
  let workers = props.workers;
  for (const p of pedidos) workers = Math.max(workers, p.worker ?? 0);
  for (const bar of shown) workers = Math.max(workers, bar.worker);
  const lanes = packLanes(shown);
  const rows = Array.from({ length: workers }, (_, w) => lanes.extra.get(w + 1) ?? 1);
  // The first lane of each worker number, then its extra ones, in worker order.
  const firstLane = rows.map((_, w) => rows.slice(0, w).reduce((a, b) => a + b, 0));
  const laneCount = rows.reduce((a, b) => a + b, 0);
  // The gutter is as wide as its longest label (a capacity of many digits,
  // a cluster's "otro nodo" lanes), so that none is cut at the left edge.
  const capacityLabel = `capacidad ${props.capacidad}`;
  const laneLabel = (worker: number, sub: number) => `Worker ${worker}${sub > 0 ? OTHER_NODE : ""}`;
  const labels = [capacityLabel, ...rows.map((count, w) => laneLabel(w + 1, count - 1))];
  const left = Math.max(
    MIN_LEFT,
    Math.ceil(Math.max(...labels.map(labelEm)) * LABEL_PX) + LABEL_GAP + LABEL_MARGIN,
  );
  const plot = WIDTH - left - RIGHT;
  const x = (t: number) => left + (Math.min(Math.max(t, start), now) - start) / windowMs * plot;
  const drawn = mergeBars(
    shown,
    shown.map((bar, i) => firstLane[bar.worker - 1]! + lanes.of[i]!),
    2 * windowMs / plot,
  );
  const coverage = props.coverage != null && props.coverage.from > start ? props.coverage : null;
  // What a refresh could not read: from then to "ahora".
  const unreadSince = props.coverage?.unreadSince ?? null;

  // Slots in use over time, sampled at the end of each step, so that the
  // last step is "now", as the counters: waiting stacked on running.
  const times = Array.from(
    { length: SAMPLES },
    (_, i) => i + 1 === SAMPLES ? now : start + windowMs * (i + 1) / SAMPLES,
  );
  const running = countAt(runs, times);
  const waiting = countAt(waits, times).map((w, i) =>
    w + (waitingUnlisted !== null && waitingUnlisted.since <= times[i]! ? waitingUnlisted.count : 0)
  );
  const peak = Math.max(props.capacidad, 1, ...waiting.map((w, i) => w + running[i]!));
  const y = (n: number) => QUEUE_TOP + QUEUE_HEIGHT - n / peak * QUEUE_HEIGHT;
  const step = (top: number[], bottom: number[]) => {
    const pts: string[] = [];
    top.forEach((n, i) => {
      const px = (left + plot * i / SAMPLES).toFixed(1);
      const nx = (left + plot * (i + 1) / SAMPLES).toFixed(1);
      pts.push(`${px},${y(n).toFixed(1)}`, `${nx},${y(n).toFixed(1)}`);
    });
    const back: string[] = [];
    for (let i = bottom.length - 1; i >= 0; i--) {
      const px = (left + plot * i / SAMPLES).toFixed(1);
      const nx = (left + plot * (i + 1) / SAMPLES).toFixed(1);
      back.push(`${nx},${y(bottom[i]!).toFixed(1)}`, `${px},${y(bottom[i]!).toFixed(1)}`);
    }
    return `M${pts.join("L")}L${back.join("L")}Z`;
  };
  const zeros = running.map(() => 0);
  const stacked = waiting.map((w, i) => w + running[i]!);
  const lanesEnd = LANE_TOP + laneCount * (LANE_HEIGHT + LANE_GAP);
  const height = lanesEnd + 22;
  const ticks = Array.from({ length: Math.floor(windowMs / 10_000) + 1 }, (_, i) => i * 10_000);

  return (
    <svg
      class="timeline"
      viewBox={`0 0 ${WIDTH} ${height}`}
      role="img"
      aria-label={`Línea de tiempo de los últimos ${windowMs / 1000} segundos`}
    >
      <text class="tl-title" x={left} y={QUEUE_TOP - 10}>
        Lugares ocupados (en espera sobre en proceso)
      </text>
      <rect class="tl-bg" x={left} y={QUEUE_TOP} width={plot} height={QUEUE_HEIGHT} />
      <path class="tl-run" d={step(running, zeros)} />
      <path class="tl-wait" d={step(stacked, running)} />
      <line
        class="tl-cap"
        x1={left}
        x2={left + plot}
        y1={y(props.capacidad)}
        y2={y(props.capacidad)}
      />
      <text
        class="tl-label"
        x={left - LABEL_GAP}
        y={y(props.capacidad) + 4}
        text-anchor="end"
      >
        {capacityLabel}
      </text>
      <text
        class="tl-label"
        x={left - LABEL_GAP}
        y={QUEUE_TOP + QUEUE_HEIGHT}
        text-anchor="end"
      >
        0
      </text>
      {rejections.filter((r) => r.at > start && r.at <= now).map((r) => (
        <path
          class="tl-reject"
          d={`M${x(r.at).toFixed(1)},${QUEUE_TOP - 1}l-4,-7h8z`}
        >
          <title>{r.count} rechazado{r.count === 1 ? "" : "s"} (queue_full)</title>
        </path>
      ))}
      {rows.flatMap((count, w) =>
        Array.from({ length: count }, (_, sub) => {
          const top = LANE_TOP + (firstLane[w]! + sub) * (LANE_HEIGHT + LANE_GAP);
          return (
            <g class="tl-lane">
              <rect class="tl-bg" x={left} y={top} width={plot} height={LANE_HEIGHT} />
              <text
                class="tl-label"
                x={left - LABEL_GAP}
                y={top + LANE_HEIGHT / 2 + 4}
                text-anchor="end"
              >
                Worker {w + 1}
                {sub > 0 && <tspan class="tl-node">{OTHER_NODE}</tspan>}
              </text>
            </g>
          );
        })
      )}
      {drawn.map((bar) => {
        const top = LANE_TOP + bar.lane * (LANE_HEIGHT + LANE_GAP);
        const x1 = x(bar.from);
        const width = Math.max(2, x(bar.to) - x1);
        const [one] = bar.bars;
        const single = bar.bars.length === 1 ? one! : null;
        return (
          <g
            class={`tl-bar ${bar.estado}${single ? "" : " tl-merged"}`}
            data-id={single ? single.key : `${one!.key}+`}
          >
            <rect
              x={x1.toFixed(1)}
              y={top + 2}
              width={width.toFixed(1)}
              height={LANE_HEIGHT - 4}
              rx="3"
              fill-opacity={single ? undefined : Math.max(0.2, busyShare(bar)).toFixed(2)}
            />
            {single && width > 40 && (
              <text x={(x1 + 5).toFixed(1)} y={top + LANE_HEIGHT / 2 + 4}>#{single.p.id}</text>
            )}
            <title>
              {single
                ? `Pedido #${single.p.id} · ${isolate(single.p.cliente)} · ${single.says}`
                : mergedTitle(bar)}
            </title>
          </g>
        );
      })}
      {coverage && (
        <g class="tl-gap">
          <rect
            x={left}
            y={QUEUE_TOP}
            width={(x(coverage.from) - left).toFixed(1)}
            height={lanesEnd - QUEUE_TOP}
          />
          <text x={left + 4} y={QUEUE_TOP + 14}>sin datos</text>
          <title>
            Sin datos antes de −{Math.round((now - coverage.from) / 1000)}{" "}
            s: faltan pedidos, no son workers libres
          </title>
        </g>
      )}
      {unreadSince !== null && (
        <g class="tl-gap" data-unread>
          <rect
            x={x(unreadSince).toFixed(1)}
            y={QUEUE_TOP}
            width={Math.max(x(now) - x(unreadSince), 2).toFixed(1)}
            height={lanesEnd - QUEUE_TOP}
          />
          <text x={(x(unreadSince) + 4).toFixed(1)} y={QUEUE_TOP + 14}>sin datos</text>
          <title>
            Sin datos desde −{Math.round((now - Math.max(unreadSince, start)) / 1000)}{" "}
            s: no se pudo leer del servidor, no son workers libres
          </title>
        </g>
      )}
      {ticks.map((t) => {
        const tx = left + (windowMs - t) / windowMs * plot;
        return (
          <text
            class="tl-tick"
            x={tx.toFixed(1)}
            y={height - 6}
            text-anchor={t === 0 ? "end" : t === windowMs ? "start" : "middle"}
          >
            {t === 0 ? "ahora" : `−${t / 1000} s`}
          </text>
        );
      })}
    </svg>
  );
}
