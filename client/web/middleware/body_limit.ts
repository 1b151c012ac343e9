/**
 * Refuses request bodies over 64 KiB (a form is far smaller) with 413
 * before they are read.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

/** The largest body accepted, in bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * hono's `bodyLimit()` at {@linkcode MAX_BODY_BYTES}, answering "Demasiado grande".
 *
 * @returns The middleware.
 */
export function formBodyLimit(): MiddlewareHandler {
  return bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.text("Demasiado grande", 413) });
}
