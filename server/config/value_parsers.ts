/**
 * Parsers of configuration values: each turns text into a value or throws
 * an error whose message says why the text is bad.
 *
 * @module
 */

/**
 * The longest delay a timer can wait: `setTimeout` runs a longer one after
 * 1 ms (with a warning), so a setting of milliseconds above it would fire at
 * once, not late.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** One day in milliseconds: the bound of the processing times and the drain. */
export const ONE_DAY_MS = 86_400_000;

/** A parser of whole numbers in `[min, max]`. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  const bounds = `from ${min} to ${max}`;
  const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : bounds;
  return (text) => {
    const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
    if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
    // A whole number past the largest allowed (2^53 − 1 at most) names it.
    throw new RangeError(`must be a whole number ${value >= min ? bounds : range}`);
  };
}

/** A parser that accepts one of `choices`, ignoring case. */
export function oneOf<T extends string>(choices: readonly T[]): (text: string) => T {
  return (text) => {
    const value = choices.find((choice) => choice === text.trim().toLowerCase());
    if (value === undefined) throw new RangeError(`must be one of ${choices.join(", ")}`);
    return value;
  };
}

/** Splits `a,b , c` into hosts, dropping `[]` around IPv6 literals and duplicates. */
export function parseHosts(text: string): string[] {
  const hosts = text.split(",").map((host) => host.trim().replace(/^\[(.*)\]$/, "$1"));
  if (hosts.some((host) => host === "")) {
    throw new RangeError("must be a comma-separated host list");
  }
  // A name or IPv4 address with ":PORT", or "[IPv6]:PORT": the port is a flag of its own.
  const withPort = text.split(",").map((host) => host.trim()).find((host) =>
    /^[^:\[\]]+:\d*$/.test(host) || /^\[[^\]]*\]:\d*$/.test(host)
  );
  if (withPort !== undefined) {
    throw new RangeError(`must be hosts without a port ("${withPort}"): give the port with --port`);
  }
  return [...new Set(hosts)];
}

/** A processing time in ms, or a range `MIN-MAX`, of at most a day. */
export function parseProcessMs(text: string): { min: number; max: number } {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (match === null) throw new RangeError("must be a number of ms or a range MIN-MAX");
  const ms = (part: string) => {
    const value = Number(part);
    if (Number.isSafeInteger(value) && value <= ONE_DAY_MS) return value;
    throw new RangeError(
      match[2] === undefined
        ? `must be a whole number of ms from 0 to ${ONE_DAY_MS}, or a range MIN-MAX`
        : `must be a range MIN-MAX of whole numbers of ms from 0 to ${ONE_DAY_MS}`,
    );
  };
  const min = ms(match[1] ?? "");
  const max = match[2] === undefined ? min : ms(match[2]);
  if (min > max) throw new RangeError("must be a range MIN-MAX with MIN ≤ MAX");
  return { min, max };
}

/** A port for a listener of its own: `0` picks one, `off` (null) serves none. */
export function portOrOff(text: string): number | null {
  if (text.trim().toLowerCase() === "off") return null;
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (Number.isSafeInteger(value) && value <= 65535) return value;
  throw new RangeError("must be a port from 0 to 65535, or off");
}

/** A text that is not empty. */
export function nonEmpty(text: string): string {
  if (text.trim() === "") throw new RangeError("must not be empty");
  return text;
}
