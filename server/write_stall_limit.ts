/**
 * When a reply's writing has waited too long for its peer to read (§1).
 *
 * @module
 */

/**
 * How long a write may wait for its peer to read before the connection is
 * closed: the idle timeout; for a peer seen reading slowly (a write that
 * waited `longestWaitMs` and then went on), four times its slowest pace, up
 * to four idle timeouts (so a peer cannot stretch it further by pausing
 * longer each time). The system tells of a slow reader's reading only when
 * a good part of the socket buffers is free again — megabytes — which at a
 * few hundred KB/s can take longer than a short idle timeout.
 *
 * @param idleTimeoutMs `--idle-timeout-ms`.
 * @param longestWaitMs The connection's longest write wait that ended with progress.
 */
export function writeStallLimit(idleTimeoutMs: number, longestWaitMs: number): number {
  return Math.min(4 * idleTimeoutMs, Math.max(idleTimeoutMs, 4 * longestWaitMs));
}
