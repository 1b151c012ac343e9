/**
 * The replies of the protocol (`docs/protocol.md` §2–§3), one type per operation,
 * and the one `Stats` object that the daemon, the CLI, the load generator
 * and the web gateway share. Pure types, no I/O.
 *
 * Every reply is one line of compact JSON: `{"ok":true,…}` with the fields
 * of its operation, or an {@linkcode ErrorReply}.
 *
 * @module
 */

import type { ErrorReply } from "./errors.ts";
import type { Rol } from "../store/store.ts";
import type { Estado, Pedido } from "./messages.ts";

export type { ErrorReply } from "./errors.ts";

/** Percentiles of processing time in ms (§2.4); every field `null` before the first order ends. */
export interface DurationSummary {
  min: number | null;
  p50: number | null;
  p95: number | null;
  max: number | null;
  avg: number | null;
}

/** The `stats` object of STATS (§2.4, §8). */
export interface Stats {
  /** PEDIDO requests received since start (valid or not). */
  recibidos: number;
  /** New orders accepted since start. */
  aceptados: number;
  /** Orders refused with `queue_full` since start. */
  rechazados: number;
  /** Orders waiting now. */
  pendientes: number;
  /** Orders on a worker now. */
  en_proceso: number;
  /** Orders that ended `listo` since start. */
  listos: number;
  /** Orders that ended `error` since start. */
  errores: number;
  /** Orders cancelled since start (v1.1). */
  cancelados: number;
  /** `--max-pedidos`. */
  capacidad: number;
  /** Slots free now. */
  libres: number;
  /** Processor workers. */
  workers: number;
  /** Open connections. */
  conexiones: number;
  duracion_ms: DurationSummary;
  uptime_s: number;
}

/** The keys of {@linkcode Stats} in the order of the spec's example (§2.4), `cancelados` after `errores`. */
const STATS_KEYS = [
  "recibidos",
  "aceptados",
  "rechazados",
  "pendientes",
  "en_proceso",
  "listos",
  "errores",
  "cancelados",
  "capacidad",
  "libres",
  "workers",
  "conexiones",
  "duracion_ms",
  "uptime_s",
] as const satisfies readonly (keyof Stats)[];

/**
 * STATS as written on the wire: its keys in the spec's order (a person
 * reading the line finds them where the example shows them), whatever
 * order its parts were gathered in.
 */
export function statsInOrder(stats: Stats): Stats {
  const ordered: Partial<Record<keyof Stats, unknown>> = {};
  for (const key of STATS_KEYS) ordered[key] = stats[key];
  return ordered as Stats;
}

/** PEDIDO accepted (or answered from its `clave`, with `duplicado`). */
export interface PedidoReply {
  ok: true;
  id: number;
  estado: Estado;
  mensaje: string;
  duplicado?: true;
}

/** ESTADO, CANCELAR and REINTENTAR: one order; `timeout` when an `esperar` ran out. */
export interface PedidoStateReply {
  ok: true;
  pedido: Pedido;
  timeout?: true;
}

/** LISTAR: orders newest first. */
export interface ListarReply {
  ok: true;
  pedidos: Pedido[];
}

/** STATS. */
export interface StatsReply {
  ok: true;
  stats: Stats;
}

/** TASK. */
export interface TaskReply {
  ok: true;
  result: number | string;
}

/** REGISTRO. */
export interface RegistroReply {
  ok: true;
  usuario: string;
}

/** LOGIN: the session token, when it ends (ISO 8601 UTC), and the account's role. */
export interface LoginReply {
  ok: true;
  usuario: string;
  token: string;
  expira: string;
  /** `usuario` (sees its own orders) or `operador` (sees everyone's). */
  rol: Rol;
}

/** GET_TAREAS_HTML. */
export interface TareasHtmlReply {
  ok: true;
  html: string;
}

/** PING. */
export interface PingReply {
  ok: true;
  pong: true;
}

/** The successful reply of each operation. */
export interface OkReplies {
  PEDIDO: PedidoReply;
  ESTADO: PedidoStateReply;
  LISTAR: ListarReply;
  STATS: StatsReply;
  TASK: TaskReply;
  REGISTRO: RegistroReply;
  LOGIN: LoginReply;
  GET_TAREAS_HTML: TareasHtmlReply;
  PING: PingReply;
  CANCELAR: PedidoStateReply;
  REINTENTAR: PedidoStateReply;
}

/** An operation's name. */
export type Op = keyof OkReplies;

/** Any successful reply. */
export type OkReply = OkReplies[Op];

/** What operation `O` may answer: its own success, or an error. */
export type ReplyOf<O extends Op> = OkReplies[O] | ErrorReply;

/** Any reply. */
export type Reply = OkReply | ErrorReply;
