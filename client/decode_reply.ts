/**
 * The client's reply codec: one reply line to a typed reply. Pure, no I/O.
 *
 * @module
 */

import type { Reply } from "../server/protocol/replies.ts";
import { ClientError } from "./client_error.ts";

/**
 * Parses one reply line (without its newline). Only the shape every reply
 * shares is checked, a JSON object with a boolean `ok`; narrow on `ok` and
 * on the operation's fields to read the rest.
 *
 * @example Usage
 * ```ts
 * import { decodeReply } from "./decode_reply.ts";
 * const reply = decodeReply('{"ok":true,"pong":true}');
 * console.log(reply.ok && "pong" in reply); // true
 * ```
 * @throws {ClientError} `protocol` when the line is not a JSON object with a boolean `ok`.
 */
export function decodeReply(line: string): Reply {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new ClientError("protocol", `Cannot parse reply: not JSON: ${line.slice(0, 200)}`, {
      cause: error,
    });
  }
  if (
    typeof value !== "object" || value === null || Array.isArray(value) || !("ok" in value) ||
    typeof value.ok !== "boolean"
  ) {
    throw new ClientError("protocol", `Cannot parse reply: no boolean "ok": ${line.slice(0, 200)}`);
  }
  return value as Reply;
}
