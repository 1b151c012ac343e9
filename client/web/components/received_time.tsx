/**
 * When an order was received, as a `<time datetime>`: drawn on the gateway
 * in its own time zone, named (`14:03:05 UTC`), with the date when it is
 * not the day of `now`; the page's script shows it again in the browser's
 * own zone.
 *
 * @module
 */

/** Props of {@linkcode ReceivedTime}. */
export interface ReceivedTimeProps {
  /** ISO 8601, or null for none. */
  iso: string | null;
  /** The clock, ms since the epoch: what "today" is. */
  now: number;
  /** The zone to draw in. @default {the gateway's} */
  timeZone?: string;
}

/** Time zones whose formatters are kept; a zone past these makes room by dropping the oldest. */
const MAX_ZONES = 16;

/** The two formatters of one zone: the day, and the clock with the zone's name. */
interface ZoneFormats {
  day: Intl.DateTimeFormat;
  clock: Intl.DateTimeFormat;
}

/**
 * Formatters by time zone (`""`: the gateway's). Made once per zone: each
 * `Intl.DateTimeFormat` costs far more than a `format()` (a table row drew
 * two per row; the native memory they held grew past a gigabyte).
 */
const formatsByZone = new Map<string, ZoneFormats>();

/** The formatters of `timeZone`, made on first use. @throws {RangeError} An unknown zone. */
function zoneFormats(timeZone: string | undefined): ZoneFormats {
  const key = timeZone ?? "";
  let formats = formatsByZone.get(key);
  if (formats === undefined) {
    const zone = timeZone === undefined ? {} : { timeZone };
    formats = {
      day: new Intl.DateTimeFormat("es", { dateStyle: "medium", ...zone }),
      clock: new Intl.DateTimeFormat("es", {
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
        hour12: false,
        timeZoneName: "short",
        ...zone,
      }),
    };
    if (formatsByZone.size >= MAX_ZONES) formatsByZone.delete(formatsByZone.keys().next().value!);
    formatsByZone.set(key, formats);
  }
  return formats;
}

/**
 * The text of `at`: the time and zone, after the date when not the day of `now`.
 *
 * @param at When the order was received.
 * @param now What "today" is.
 * @param timeZone The zone to draw in. @default {the gateway's}
 * @throws {RangeError} An unknown `timeZone`.
 */
export function receivedText(at: Date, now: Date, timeZone?: string): string {
  const { day, clock } = zoneFormats(timeZone);
  const time = clock.format(at);
  const date = day.format(at);
  return date === day.format(now) ? time : `${date}, ${time}`;
}

/** The time an order was received, or `—`. */
export function ReceivedTime(props: ReceivedTimeProps) {
  if (props.iso === null) return <>—</>;
  const at = new Date(props.iso);
  if (Number.isNaN(at.getTime())) return <>—</>;
  return (
    <time datetime={at.toISOString()}>{receivedText(at, new Date(props.now), props.timeZone)}</time>
  );
}
