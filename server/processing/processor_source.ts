/**
 * Where `--processor` points (§11): a path, relative to the working
 * directory, or a `file:`/`http(s):` URL. Only resolved here; the module is
 * imported by the processor workers, never by the main thread.
 *
 * @module
 */

import type { ProcessorSource } from "../../workers/processor_module.ts";

/**
 * The URL a processor worker imports for `--processor PATH`.
 *
 * @example Usage
 * ```ts
 * import { processorSource } from "./processor_source.ts";
 * console.log(processorSource("procesar.ts", "/srv/pedidos").url); // "file:///srv/pedidos/procesar.ts"
 * ```
 * @param path As given to `--processor`.
 * @param cwd The directory a relative path is taken from. @default {Deno.cwd()}
 */
export function processorSource(path: string, cwd?: string): ProcessorSource {
  if (/^(file|https?):/i.test(path)) return { url: new URL(path).href, path };
  const base = new URL(`file://${encodePath(cwd ?? Deno.cwd()).replace(/\/?$/, "/")}`);
  const url = new URL(encodePath(path), base);
  return { url: url.href, path };
}

/** A file path as URL path text: each segment percent-encoded (`#`, `?`, spaces). */
function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}
