/**
 * When a reply's writing has waited too long for its peer to read (§1).
 *
 * @module
 */

/** The longest a write waits for a peer once seen reading slowly, unless 4 idle timeouts are longer. */
const SLOW_READER_MAX_WAIT_MS = 10 * 60_000;

/**
 * How long a write may wait for its peer to read before the connection is
 * closed: the idle timeout; for a peer seen reading slowly (a write that
 * waited `longestWaitMs` and then went on), four times its slowest pace,
 * up to 10 minutes (or four idle timeouts, when longer). The system tells
 * of a slow reader's reading only when a good part of the socket buffers
 * is free again — megabytes — which at a few hundred KB/s can take longer
 * than a short idle timeout.
 *
 * @param idleTimeoutMs `--idle-timeout-ms`.
 * @param longestWaitMs The connection's longest write wait that ended with progress.
 */
export function writeStallLimit(idleTimeoutMs: number, longestWaitMs: number): number {
  const most = Math.max(4 * idleTimeoutMs, SLOW_READER_MAX_WAIT_MS);
  return Math.min(most, Math.max(idleTimeoutMs, 4 * longestWaitMs));
}
