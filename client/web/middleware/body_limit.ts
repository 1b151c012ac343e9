/**
 * Refuses request bodies over 64 KiB (a form is far smaller) with 413
 * before they are read.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

/** The largest body accepted, in bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * hono's `bodyLimit()` at {@linkcode MAX_BODY_BYTES}.
 *
 * @param tooLarge The answer to a body over it. @default {413 "Demasiado grande", as text}
 * @returns The middleware.
 */
export function formBodyLimit(
  tooLarge: (c: Context) => Response = (c) => c.text("Demasiado grande", 413),
): MiddlewareHandler {
  return bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
}
