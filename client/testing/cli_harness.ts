/**
 * Runs `pedidos client` in this process for tests: against a port, with no
 * environment or env file, its output captured.
 *
 * @module
 */

import type { ConfigSources } from "../../server/config/settings.ts";
import type { Pedido } from "../../server/protocol/messages.ts";
import { runClient } from "../cli.ts";

/** No environment, no env file: the tests see only their flags. */
export const NO_SOURCES: ConfigSources = { getEnv: () => undefined, readFile: () => null };

/** What {@linkcode runClientAt} saw. */
export interface ClientRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `client --host 127.0.0.1 --port PORT ARGS…`, with `stdin` as its input
 * when given (text, or a stream of bytes as is), and a reply timeout other
 * than the client's.
 */
export async function runClientAt(
  port: number,
  args: string[],
  stdin?: string | ReadableStream<Uint8Array>,
  replyTimeoutMs?: number,
): Promise<ClientRun> {
  let stdout = "";
  let stderr = "";
  const status = await runClient(["--host", "127.0.0.1", "--port", String(port), ...args], {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    sources: NO_SOURCES,
    ...(replyTimeoutMs === undefined ? {} : { replyTimeoutMs }),
    ...(stdin === undefined ? {} : {
      stdin: typeof stdin === "string"
        ? ReadableStream.from([new TextEncoder().encode(stdin)])
        : stdin,
    }),
  });
  return { status, stdout, stderr };
}

/** An order as the daemon returns it, finished `listo` on worker 2 in 1.98 s. */
export const SAMPLE_PEDIDO: Pedido = {
  id: 42,
  clave: null,
  cliente: "Ana",
  productos: ["pan", { nombre: "agua", cantidad: 2 }],
  direccion: "Calle 1",
  estado: "listo",
  fecha_recibido: "2026-11-23T13:16:00.123Z",
  fecha_inicio: "2026-11-23T13:16:00.200Z",
  fecha_fin: "2026-11-23T13:16:02.180Z",
  worker: 2,
  intentos: 1,
  detalle_error: null,
  resultado: null,
  duracion_ms: 1980,
};
