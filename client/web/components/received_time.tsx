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

/** The text of `at`: the time and zone, after the date when not the day of `now`. */
export function receivedText(at: Date, now: Date, timeZone?: string): string {
  const zone = timeZone === undefined ? {} : { timeZone };
  const day = new Intl.DateTimeFormat("es", { dateStyle: "medium", ...zone });
  const clock = new Intl.DateTimeFormat("es", {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
    timeZoneName: "short",
    ...zone,
  });
  const time = clock.format(at);
  return day.format(at) === day.format(now) ? time : `${day.format(at)}, ${time}`;
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
