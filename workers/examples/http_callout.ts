/**
 * An example processor module (§11): hands each order to another service
 * over HTTP, and stores that service's answer.
 *
 *     PEDIDOS_CALLOUT_URL=http://127.0.0.1:9000/pedidos \
 *       deno task server --processor workers/examples/http_callout.ts
 *
 * It POSTs the order as JSON to `PEDIDOS_CALLOUT_URL` and returns
 * `{ "status": 201, "respuesta": <the service's JSON, or its text> }`
 * (the answer is read up to 16 KiB and kept within 16 KiB of JSON, well
 * inside the 64 KiB a `resultado` may take, whatever it holds: a text full
 * of control characters or quotes, which JSON writes two to six bytes
 * each, is cut shorter). An answer that is not 2xx, or a network error,
 * fails the attempt, which the daemon retries after its backoff
 * (`--retry-backoff-ms`, `--max-intentos`).
 *
 * It passes the attempt's `signal` to `fetch`: when the attempt runs past
 * `--process-timeout-ms`, the request is aborted and the worker is free at
 * once (a module that ignored the signal would have its worker replaced).
 *
 * Permissions: the daemon's. `deno task server` grants `--allow-net` (any
 * host) and `--allow-env=PEDIDOS_*`, so this works as is; a narrower
 * deployment must allow the service's host.
 *
 * @module
 */

/** The service the orders go to. */
const DESTINO = Deno.env.get("PEDIDOS_CALLOUT_URL") ?? "http://127.0.0.1:9000/pedidos";

/** The most of an answer read, and the longest kept, in bytes (of its JSON, once kept). */
const MAX_RESPUESTA = 16 * 1024;

/** What this processor returns. */
export interface Entrega {
  /** The service's HTTP status. */
  status: number;
  /** The service's answer: its JSON, or its text when it is not JSON. */
  respuesta: unknown;
}

/**
 * POSTs the order to the service.
 *
 * @param pedido The order (§5).
 * @param context The attempt's signal (aborts the request) and number (sent as a header).
 * @throws {Error} When the service cannot be reached or answers other than 2xx.
 */
export default async function httpCallout(
  pedido: { id: number },
  { signal, intento }: { signal: AbortSignal; intento: number },
): Promise<Entrega> {
  const response = await fetch(DESTINO, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "idempotency-key": `pedido-${pedido.id}`,
      "x-pedidos-intento": String(intento),
    },
    body: JSON.stringify(pedido),
    signal,
  });
  const text = await readText(response, MAX_RESPUESTA);
  if (!response.ok) {
    throw new Error(`${DESTINO} answered ${response.status}: ${text.slice(0, 200)}`);
  }
  let respuesta: unknown;
  try {
    respuesta = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  if (respuesta === undefined || jsonBytes(respuesta) > MAX_RESPUESTA) {
    respuesta = cutToJsonBytes(text, MAX_RESPUESTA);
  }
  return { status: response.status, respuesta };
}

/**
 * The first `maxBytes` bytes of a body as text (a character cut at the end
 * left out); the rest is not read, so a huge answer costs no memory.
 */
async function readText(response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const bytes = new Uint8Array(maxBytes);
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      const part = value.subarray(0, maxBytes - size);
      bytes.set(part, size);
      size += part.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(bytes.subarray(0, size), { stream: true });
}

const encoder = new TextEncoder();

/** Bytes of `value`'s JSON text. */
function jsonBytes(value: unknown): number {
  return encoder.encode(JSON.stringify(value)).length;
}

/** `text`, cut (at a character) so that its JSON text takes at most `maxBytes` bytes. */
function cutToJsonBytes(text: string, maxBytes: number): string {
  let size = 2; // the quotes
  let kept = 0;
  for (const char of text) {
    size += jsonBytes(char) - 2;
    if (size > maxBytes) break;
    kept += char.length;
  }
  return text.slice(0, kept);
}
