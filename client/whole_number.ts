/**
 * The parser of the whole numbers given to `client` and `load` (flags,
 * order ids).
 *
 * @module
 */

import { wholeNumber as parseWholeNumber } from "../server/config/value_parsers.ts";

/**
 * A parser of whole numbers in `[min, max]` whose message always names both
 * bounds. With no `max`, the bound is the largest integer a number holds
 * exactly (2^53 − 1): a larger one is refused saying so, not as if it were
 * below `min` ("≥ 1").
 *
 * @example Usage
 * ```ts
 * import { wholeNumber } from "./whole_number.ts";
 * try {
 *   wholeNumber(1)("9007199254740992");
 * } catch (error) {
 *   console.log((error as Error).message); // must be a whole number from 1 to 9007199254740991
 * }
 * ```
 * @throws {RangeError} From the parser, on text that is not such a number.
 */
export function wholeNumber(
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): (text: string) => number {
  const parse = parseWholeNumber(min, max);
  return (text) => {
    try {
      return parse(text);
    } catch {
      throw new RangeError(`must be a whole number from ${min} to ${max}`);
    }
  };
}
