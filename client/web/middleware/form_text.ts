/**
 * Refuses a form with a field that is not UTF-8 text (see
 * `form_text.ts`), before any route reads it: nothing is sent to the
 * daemon, rather than text with U+FFFD in place of the bytes.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { GatewayContext, GatewayEnv } from "../responses.tsx";
import { invalidTextField } from "../form_text.ts";

/**
 * Checks the fields of each POST's body; used after the CSRF checks, which
 * have read the body (hono keeps its bytes).
 *
 * @param refuse The answer to a form whose field `name` is not text.
 * @returns The middleware.
 */
export function formText(
  refuse: (c: GatewayContext, name: string) => Response,
): MiddlewareHandler<GatewayEnv> {
  return async function formText(c, next) {
    if (c.req.method !== "POST") return await next();
    const body = new Uint8Array(await c.req.arrayBuffer());
    const name = invalidTextField(body, c.req.header("content-type") ?? "");
    if (name !== null) return refuse(c, name);
    await next();
  };
}
