/**
 * What the gateway's route groups (`routes/*.tsx`) and error pages share:
 * built once per gateway by `createGatewayHandler`.
 *
 * @module
 */

import type { Logger } from "../../server/log.ts";
import type { Ask } from "./ask.ts";
import type { LiveData } from "./live/live_data.tsx";
import type { Responses } from "./responses.tsx";

/** The shared parts of one gateway. */
export interface RouteDeps {
  /** Asks the daemon; null when it cannot be reached. */
  ask: Ask;
  /** What to say when a request got no reply: the daemon is down, or up but slow. */
  unreachable: () => string;
  /** Pages, sessions and their cookie. */
  respond: Responses;
  /** The live pages' data and streams. */
  live: LiveData;
  /** The clock, in ms since the epoch. */
  now: () => number;
  /** Where problems are logged. */
  logger: Logger;
}
