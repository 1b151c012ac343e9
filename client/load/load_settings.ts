/**
 * What a load run is asked to do: the options, their defaults, and their
 * checks. Pure: no I/O.
 *
 * @module
 */

import { type LoadProtocol, PEDIDOS_PROTOCOL } from "./load_protocol.ts";

/** Options of a load run ({@linkcode runLoad} in `run_load.ts`). */
export interface LoadOptions {
  /** Daemon hosts, tried in order for each connection. @default {["localhost"]} */
  hosts?: string[];
  /** The daemon's port. @default {8888} */
  port?: number;
  /** Connections. @default {10} */
  clientes?: number;
  /** Orders per connection; `Infinity` sends until `duracionMs` or the signal. @default {10} */
  pedidos?: number;
  /** Orders in flight per connection (1 = one at a time). @default {1} */
  pipeline?: number;
  /** Orders per second over all connections; null for as fast as replies allow. @default {null} */
  tasa?: number | null;
  /** Stop sending this long after the start. @default {null} */
  duracionMs?: number | null;
  /** Orders carry `clave` `PREFIX-CONNECTION-INDEX`, so a rerun is deduplicated. @default {null} */
  clavePrefijo?: string | null;
  /** Then wait until every accepted order is `listo`. @default {false} */
  esperar?: boolean;
  /** How long the wait for `listo` may take. @default {60000} */
  esperarTimeoutMs?: number;
  /** A reply later than this closes its connection; its orders count `sin_respuesta`. @default {10000} */
  replyTimeoutMs?: number;
  /** Giving up on opening one connection. @default {5000} */
  connectTimeoutMs?: number;
  /** After a stop, how long in-flight replies are awaited. @default {2000} */
  graceMs?: number;
  /** How often `onProgress` is called. @default {250} */
  progressEveryMs?: number;
  /** The wire. @default {PEDIDOS_PROTOCOL} */
  protocol?: LoadProtocol;
}

/** The options of a run after defaults, as every part of it sees them. */
export type LoadSettings = Required<Omit<LoadOptions, "tasa" | "duracionMs" | "clavePrefijo">> & {
  tasa: number | null;
  duracionMs: number | null;
  clavePrefijo: string | null;
};

function positive(name: string, value: number, integer = true): number {
  const valid = integer
    ? Number.isSafeInteger(value) || value === Infinity
    : Number.isFinite(value);
  if (!valid || value <= 0) {
    throw new RangeError(`Cannot run load: ${name} must be a positive number, got ${value}`);
  }
  return value;
}

/**
 * The options of a run with their defaults filled in, checked.
 *
 * @example Usage
 * ```ts
 * import { resolveLoadSettings } from "./load_settings.ts";
 * console.log(resolveLoadSettings({ clientes: 50 }).pipeline); // 1
 * ```
 * @throws {RangeError} On a value out of range, no hosts, or unlimited `pedidos` without `duracionMs`.
 */
export function resolveLoadSettings(options: LoadOptions = {}): LoadSettings {
  const s: LoadSettings = {
    hosts: options.hosts ?? ["localhost"],
    port: options.port ?? 8888,
    clientes: positive("clientes", options.clientes ?? 10),
    pedidos: positive("pedidos", options.pedidos ?? 10),
    pipeline: positive("pipeline", options.pipeline ?? 1),
    tasa: options.tasa == null ? null : positive("tasa", options.tasa, false),
    duracionMs: options.duracionMs == null
      ? null
      : positive("duracionMs", options.duracionMs, false),
    clavePrefijo: options.clavePrefijo ?? null,
    esperar: options.esperar ?? false,
    esperarTimeoutMs: positive("esperarTimeoutMs", options.esperarTimeoutMs ?? 60_000, false),
    replyTimeoutMs: positive("replyTimeoutMs", options.replyTimeoutMs ?? 10_000, false),
    connectTimeoutMs: positive("connectTimeoutMs", options.connectTimeoutMs ?? 5000, false),
    graceMs: positive("graceMs", options.graceMs ?? 2000, false),
    progressEveryMs: positive("progressEveryMs", options.progressEveryMs ?? 250, false),
    protocol: options.protocol ?? PEDIDOS_PROTOCOL,
  };
  if (s.hosts.length === 0) throw new RangeError("Cannot run load: no hosts given");
  if (s.pedidos === Infinity && s.duracionMs === null) {
    throw new RangeError("Cannot run load: unlimited pedidos needs duracionMs");
  }
  if (s.pipeline === Infinity) throw new RangeError("Cannot run load: pipeline must be finite");
  return s;
}
