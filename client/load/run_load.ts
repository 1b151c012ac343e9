/**
 * The load generator: `clientes` connections, each sending `pedidos` orders
 * one at a time or pipelined, optionally paced (`tasa`) and bounded in time
 * (`duracionMs`); then, with `esperar`, waits until every accepted order is
 * `listo` through `ESTADO esperar`.
 *
 * Every wait is bounded: a reply that does not come within `replyTimeoutMs`
 * closes its connection, and after a stop (the signal, or `duracionMs`)
 * in-flight replies are awaited for `graceMs` at most. Connection failures,
 * resets and a daemon that stops mid-run are counted, never thrown.
 *
 * What is counted:
 * - `enviados`: orders written to a socket.
 * - `aceptados`: replies `ok: true` (new or `duplicado`).
 * - `rechazados`: replies `queue_full` (the semaphore at work).
 * - `errores`: every other order sent — another error reply, or none
 *   (`sin_respuesta`); {@linkcode LoadSummary.erroresPorTipo} splits them.
 *   So `enviados = aceptados + rechazados + errores`.
 * - `conexiones`: opened, failed (could not be opened, or turned away with
 *   `busy` or `shutting_down`: the orders written on it are then not in
 *   `enviados`), lost before their client finished; what went wrong with
 *   them is in {@linkcode LoadSummary.incidencias}, not in `errores`. With
 *   several hosts a connection lost, turned away (`busy`) or told `shutting_down` moves to the
 *   next (`LoadConnection`): neither failed nor lost then, an incident
 *   `reconectadas`.
 * - latency: from writing an order to reading its reply, over every reply.
 *
 * The wire is pluggable (`LoadProtocol`, in `load_protocol.ts`) so the bench drives other
 * line-based servers (its echo server, Redis) with this same code.
 *
 * @module
 */

import { connectAll } from "./connect_all.ts";
import type { LoadConnection, RunContext } from "./load_connection.ts";
import { type LoadOptions, resolveLoadSettings } from "./load_settings.ts";
import { type LatencySummary, round } from "./latency_samples.ts";
import { perSecond, RateMeter } from "./rate_meter.ts";
import { Pacer } from "./pacer.ts";
import { Tally } from "./tally.ts";
import { waitForListos, type WaitSummary } from "./wait_for_listos.ts";

/** What {@linkcode runLoad} reports while it runs. */
export interface LoadProgress {
  fase: "conectando" | "enviando" | "esperando";
  /** Seconds since sending started (0 while connecting). */
  segundos: number;
  enviados: number;
  aceptados: number;
  rechazados: number;
  errores: number;
  /** Replies per second over about the last second. */
  porSegundo: number;
  /** Accepted orders seen `listo` so far while waiting; null before. */
  listos: number | null;
}

/** What a run did. */
export interface LoadSummary {
  enviados: number;
  aceptados: number;
  /** Of `aceptados`, replies with `duplicado: true`. */
  duplicados: number;
  rechazados: number;
  errores: number;
  /** `errores` by kind: a reply's error code, or `sin_respuesta`. */
  erroresPorTipo: Record<string, number>;
  conexiones: { abiertas: number; fallidas: number; perdidas: number };
  /** What went wrong with connections: `conexion`, `conexion_perdida`, `busy`, `protocolo`, `reconectadas` (moved to another host), … */
  incidencias: Record<string, number>;
  /** Up to 5 distinct failure messages, for people. */
  detalles: string[];
  /**
   * Seconds from the start of sending until the last reply (or give-up);
   * paced (`tasa`), at least until the next order would have gone out, no
   * later than the end of `duracionMs` or an interruption.
   */
  segundos: number;
  /** Replies per second over `segundos`. */
  porSegundo: number;
  /** Write → reply, over every reply. */
  latenciaMs: LatencySummary;
  /** Whether the signal stopped the run. */
  interrumpido: boolean;
  /** Ids of accepted orders (only kept with `esperar`). */
  ids: number[];
  /** Null without `esperar`. */
  esperar: WaitSummary | null;
}

/** Options of one run of {@linkcode runLoad}. */
export interface LoadRunOptions {
  /** Stops the run; what was done so far is still summarised. */
  signal?: AbortSignal;
  /** Called every `progressEveryMs` while the run goes on. */
  onProgress?: (progress: LoadProgress) => void;
}

/**
 * Runs a load against a daemon and summarises it. Never throws for network
 * trouble: failures are counted in the summary.
 *
 * @example Usage
 * ```ts ignore
 * import { runLoad } from "./run_load.ts";
 * const summary = await runLoad({ port: 8888, clientes: 50, pedidos: 20, esperar: true });
 * console.log(summary.aceptados, summary.latenciaMs.p99, summary.esperar?.hastaListosS);
 * ```
 * @param options What to send, where, how fast. See {@linkcode LoadOptions}.
 * @param run The stop signal and a progress callback.
 * @returns The counts, rate, latencies and, with `esperar`, the wait.
 * @throws {RangeError} On an invalid option (before anything is opened).
 */
export async function runLoad(
  options: LoadOptions = {},
  run: LoadRunOptions = {},
): Promise<LoadSummary> {
  const settings = resolveLoadSettings(options);
  const { signal, onProgress } = run;
  const tally = new Tally();
  const stopper = new AbortController();
  const ctx: RunContext = {
    settings,
    tally,
    pacer: null,
    stop: stopper.signal,
    interrupt: signal ?? new AbortController().signal,
  };
  /** When the caller's signal stopped the run (`performance.now()`), or null. */
  let interruptedAt: number | null = null;
  const onAbort = () => {
    interruptedAt ??= performance.now();
    stopper.abort();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();

  let fase: LoadProgress["fase"] = "conectando";
  let t0 = performance.now();
  let wall0 = Date.now();
  let stoppedAt: number | null = null;
  let listos: number | null = null;
  let connections: (LoadConnection | null)[] = [];
  const meter = new RateMeter(1000);
  let lastProgress = -Infinity;

  function tick(): void {
    const now = performance.now();
    if (stopper.signal.aborted) stoppedAt ??= now;
    for (const connection of connections) {
      if (connection === null || connection.closed) continue;
      const oldest = connection.oldestSentAt;
      if (oldest !== null && now - oldest > settings.replyTimeoutMs) {
        // Given up as lost: what it has not sent yet goes on from the next host, if any
        // (those in flight count as unanswered, never sent again).
        connection.close("conexion_perdida", `No reply within ${settings.replyTimeoutMs} ms`);
      } else if (oldest !== null && stoppedAt !== null && now - stoppedAt > settings.graceMs) {
        connection.close(null, `Stopped; no reply within ${settings.graceMs} ms`);
      }
    }
    const rate = meter.sample(now, tally.answered);
    if (onProgress && now - lastProgress >= settings.progressEveryMs - 5) {
      lastProgress = now;
      onProgress({
        fase,
        segundos: fase === "conectando" ? 0 : round((now - t0) / 1000, 1),
        enviados: tally.enviados,
        aceptados: tally.aceptados,
        rechazados: tally.rechazados,
        errores: tally.errores,
        porSegundo: round(rate, 1),
        listos,
      });
    }
  }
  const ticker = setInterval(tick, Math.min(100, settings.progressEveryMs));
  let durationTimer: ReturnType<typeof setTimeout> | undefined;
  let sendSeconds = 0;
  let waitSummary: WaitSummary | null = null;
  try {
    connections = await connectAll(ctx, stopper.signal);
    fase = "enviando";
    t0 = performance.now();
    wall0 = Date.now();
    if (settings.tasa !== null) {
      // Its first order at once, none at or after the end of duracionMs.
      ctx.pacer = new Pacer(settings.tasa, {
        start: t0,
        until: t0 + (settings.duracionMs ?? Infinity),
      });
    }
    if (settings.duracionMs !== null) {
      durationTimer = setTimeout(() => stopper.abort(), settings.duracionMs);
    }
    await Promise.all(connections.map((connection) => connection?.run()));
    clearTimeout(durationTimer);
    sendSeconds = (sendingEnd(tally, ctx.pacer, interruptedAt) - t0) / 1000;
    if (settings.esperar && !signal?.aborted) {
      fase = "esperando";
      listos = 0;
      waitSummary = await waitForListos(tally.ids, {
        settings,
        started: { wall: wall0, mono: t0 },
        signal: signal ?? new AbortController().signal,
        onListo: () => {
          listos = (listos ?? 0) + 1;
        },
      });
    }
  } finally {
    clearInterval(ticker);
    clearTimeout(durationTimer);
    signal?.removeEventListener("abort", onAbort);
    for (const connection of connections) connection?.close(null);
  }
  return {
    enviados: tally.enviados,
    aceptados: tally.aceptados,
    duplicados: tally.duplicados,
    rechazados: tally.rechazados,
    errores: tally.errores,
    erroresPorTipo: { ...tally.erroresPorTipo },
    conexiones: { ...tally.conexiones },
    incidencias: { ...tally.incidencias },
    detalles: [...tally.detalles],
    segundos: round(Math.max(0, sendSeconds), 3),
    porSegundo: round(perSecond(tally.latency.count, sendSeconds), 1),
    latenciaMs: tally.latency.summary(),
    interrumpido: signal?.aborted ?? false,
    ids: settings.esperar ? [...tally.ids] : [],
    esperar: waitSummary,
  };
}

/**
 * When the sending of a run ended (`performance.now()`): at its last reply
 * (now when none came). A paced run ends no sooner than its pace does, when
 * its next order would have gone out (no later than the end of `duracionMs`,
 * or than an interruption): its orders over that time are the rate asked
 * when the daemon keeps up, as a person reading "N pedidos en S s" counts.
 * Until its last reply only, N orders sent 1/R s apart would count N − 1
 * intervals, and the rate shown would be higher than the one asked.
 */
function sendingEnd(tally: Tally, pacer: Pacer | null, interruptedAt: number | null): number {
  const lastReply = tally.lastReplyAt > 0 ? tally.lastReplyAt : performance.now();
  if (pacer === null) return lastReply;
  return Math.max(lastReply, Math.min(pacer.end, interruptedAt ?? Infinity));
}
