/**
 * The bench's driver: the same load generator ({@linkcode runLoad}) against
 * every target, request/response (no pipelining), at each connection count,
 * then the other modes (one order per connection, pipelined), targets
 * alternating round by round so that a noisy moment of the machine hits all
 * of them alike; the figures are medians over rounds.
 *
 * @module
 */

import { runLoad } from "../load/mod.ts";
import { runConnectPerOrder } from "./connect_per_order.ts";
import type { Target } from "./targets.ts";

/**
 * How a measurement drives its target: `rr` request/response (one request
 * in flight per connection), `p32` 32 in flight per connection, `cpo` one
 * order per connection (connect, send, read, close; `conns` loops at once).
 */
export type Mode = "rr" | "p32" | "cpo";

/** One measurement of one target at one connection count. */
export interface Sample {
  mode: Mode;
  target: string;
  conns: number;
  round: number;
  /** Replies per second while sending. */
  reqPerS: number;
  p50: number | null;
  p99: number | null;
  errors: number;
  /** With `endToEnd`: accepted orders per second until all were `listo`. */
  e2ePerS: number | null;
  /** With `endToEnd`: `fecha_fin − fecha_recibido` percentiles, ms. */
  e2eP50: number | null;
  e2eP99: number | null;
  /** The target's RSS right after the measurement, KiB. */
  rssKiB: number | null;
}

/** Medians of a target at one connection count. */
export interface Row {
  mode: Mode;
  target: string;
  conns: number;
  reqPerS: number | null;
  p50: number | null;
  p99: number | null;
  errors: number;
  rounds: number;
}

/** Options of {@linkcode runRounds}. */
export interface RoundsOptions {
  targets: Target[];
  /** Names of targets whose run also waits for every order to be `listo`. */
  endToEnd?: ReadonlySet<string>;
  conns: number[];
  rounds: number;
  /** Seconds of sending per measurement. */
  seconds: number;
  /** Measurements in other modes, each round after the request/response ones. @default {[]} */
  extra?: { mode: Mode; conns: number }[];
  /** A short unrecorded run per target first, so the JIT is warm. @default {true} */
  warmUp?: boolean;
  signal?: AbortSignal;
  /** Called after each measurement. */
  onSample?: (sample: Sample) => void;
}

/** Measures one target once. */
export async function measure(
  target: Target,
  options: {
    conns: number;
    seconds: number;
    endToEnd: boolean;
    mode?: Mode;
    signal?: AbortSignal;
  },
): Promise<Omit<Sample, "round">> {
  const mode = options.mode ?? "rr";
  if (mode === "cpo") {
    const s = await runConnectPerOrder({
      port: target.port,
      clients: options.conns,
      seconds: options.seconds,
      protocol: target.protocol,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const rssKiB = await target.process.rssKiB();
    await target.settle();
    return {
      mode,
      target: target.name,
      conns: options.conns,
      reqPerS: s.perSecond,
      p50: s.latencyMs.p50,
      p99: s.latencyMs.p99,
      errors: s.errors,
      e2ePerS: null,
      e2eP50: null,
      e2eP99: null,
      rssKiB,
    };
  }
  const summary = await runLoad({
    hosts: ["127.0.0.1"],
    port: target.port,
    clientes: options.conns,
    pedidos: Infinity,
    pipeline: mode === "p32" ? 32 : 1,
    duracionMs: options.seconds * 1000,
    esperar: options.endToEnd,
    esperarTimeoutMs: 60_000,
    replyTimeoutMs: 10_000,
    protocol: target.protocol,
  }, { signal: options.signal });
  const rssKiB = await target.process.rssKiB();
  await target.settle();
  const wait = summary.esperar;
  return {
    mode,
    target: target.name,
    conns: options.conns,
    reqPerS: summary.porSegundo,
    p50: summary.latenciaMs.p50,
    p99: summary.latenciaMs.p99,
    errors: summary.errores,
    e2ePerS: wait?.hastaListosS ? summary.aceptados / wait.hastaListosS : null,
    e2eP50: wait?.latenciaMs.p50 ?? null,
    e2eP99: wait?.latenciaMs.p99 ?? null,
    rssKiB,
  };
}

/** Runs every round and returns every sample. */
export async function runRounds(options: RoundsOptions): Promise<Sample[]> {
  const { targets, conns, rounds, seconds, signal, onSample } = options;
  const endToEnd = options.endToEnd ?? new Set<string>();
  if (options.warmUp ?? true) {
    for (const target of targets) {
      await measure(target, {
        conns: Math.max(...conns),
        seconds: Math.min(1, seconds),
        endToEnd: false,
        signal,
      });
    }
  }
  const samples: Sample[] = [];
  const cases = [
    ...conns.map((count) => ({ mode: "rr" as Mode, conns: count })),
    ...(options.extra ?? []),
  ];
  for (let round = 0; round < rounds && !signal?.aborted; round++) {
    for (const { mode, conns: count } of cases) {
      // Rotate the order every round, so no target always goes first.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const target of order) {
        if (signal?.aborted) break;
        const sample = {
          round,
          ...(await measure(target, {
            conns: count,
            seconds,
            mode,
            endToEnd: mode === "rr" && endToEnd.has(target.name),
            signal,
          })),
        };
        samples.push(sample);
        onSample?.(sample);
      }
    }
  }
  return samples;
}

/** The median of `values` (mean of the middle two for an even count); `null` when empty. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The median row of each target and connection count, in the order given. */
export function summarise(
  samples: Sample[],
  targets: string[],
  conns: number[],
  pick: "intake" | "e2e" = "intake",
  mode: Mode = "rr",
): Row[] {
  const rows: Row[] = [];
  for (const target of targets) {
    for (const count of conns) {
      const mine = samples.filter((s) =>
        s.mode === mode && s.target === target && s.conns === count
      );
      const values = (f: (s: Sample) => number | null) =>
        mine.map(f).filter((v): v is number => v !== null);
      rows.push({
        mode,
        target,
        conns: count,
        reqPerS: median(values((s) => pick === "intake" ? s.reqPerS : s.e2ePerS)),
        p50: median(values((s) => pick === "intake" ? s.p50 : s.e2eP50)),
        p99: median(values((s) => pick === "intake" ? s.p99 : s.e2eP99)),
        errors: mine.reduce((sum, s) => sum + s.errors, 0),
        rounds: mine.length,
      });
    }
  }
  return rows;
}
