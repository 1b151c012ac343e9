/**
 * Whether a PostgreSQL server refuses TLS, asked as libpq asks it: an
 * `SSLRequest` and the server's one-byte answer (`S` yes, `N` no).
 *
 * The driver (postgres 3.4.9), told to `require` TLS of a server that
 * answers `N`, starts TLS all the same; the server drops the connection,
 * and what is left to say is a reset ("Client network socket disconnected
 * before secure TLS connection was established"), which reads as the
 * server being away: a daemon would answer `unavailable` for ever. A
 * server that says it takes no TLS will not take this URL until its own
 * settings change, so the store opening it stops at start (exit 2), naming
 * the reason, as for a database or a role that does not exist.
 *
 * @module
 */

/** The `SSLRequest` message: length 8, code 80877103. */
const SSL_REQUEST = Uint8Array.of(0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f);
const NO = 0x4e; // "N"

/** Options of {@linkcode tlsRefusal}. */
export interface TlsRefusalOptions {
  /** How long to wait for the connection and the answer. @default 2000 */
  timeoutMs?: number;
}

/**
 * Asks the server at `hostname`:`port` whether it takes TLS.
 *
 * @returns The reason to give when it answers that it does not (`N`);
 * null when it does, or when it cannot be asked (not reachable, no answer
 * in time, no PostgreSQL there): then nothing is known, and the store
 * waits for it as for any server away.
 */
export async function tlsRefusal(
  hostname: string,
  port: number,
  options: TlsRefusalOptions = {},
): Promise<string | null> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? 2000);
  let conn: Deno.TcpConn | null = null;
  const abort = () => conn?.close();
  signal.addEventListener("abort", abort, { once: true });
  try {
    conn = await Deno.connect({ hostname, port, signal });
    await conn.write(SSL_REQUEST);
    const answer = new Uint8Array(1);
    const read = await conn.read(answer);
    return read === 1 && answer[0] === NO
      ? "the server does not support SSL, but the URL's sslmode requires it " +
        "(use sslmode=prefer or disable, or turn ssl on in the server)"
      : null;
  } catch {
    return null;
  } finally {
    signal.removeEventListener("abort", abort);
    try {
      conn?.close();
    } catch {
      // closed by the timeout
    }
  }
}
