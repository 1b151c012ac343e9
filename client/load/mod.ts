/**
 * The load generator behind `pedidos load` and the bench: many connections
 * sending orders, counted exactly. {@linkcode runLoad} runs a load;
 * {@linkcode LoadProtocol} lets the bench drive other line servers with the
 * same code.
 *
 * @example Usage
 * ```ts ignore
 * import { runLoad } from "./mod.ts";
 * const summary = await runLoad({ port: 8888, clientes: 50, pedidos: 20 });
 * console.log(summary.aceptados, summary.latenciaMs.p99);
 * ```
 *
 * @module
 */

export type { LoadOptions } from "./load_settings.ts";
export { type LoadProgress, type LoadRunOptions, type LoadSummary, runLoad } from "./run_load.ts";
export {
  type LoadProtocol,
  orderJson,
  type OrderRef,
  PEDIDOS_PROTOCOL,
  type ReplyKind,
} from "./load_protocol.ts";
export type { WaitSummary } from "./wait_for_listos.ts";
export type { LatencySummary } from "./latency_samples.ts";
