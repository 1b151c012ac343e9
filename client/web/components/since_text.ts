/**
 * How long something has been up, for people.
 *
 * @module
 */
/** A time up, for people: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`. */
export function sinceText(seconds: number): string {
  if (!Number.isFinite(seconds)) return "—"; // not given (an older daemon)
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}
