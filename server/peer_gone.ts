/**
 * Whether an error of `accept()` (or of a read or write) says only that the
 * peer has gone: it reset or aborted the connection before it was accepted
 * (`NotConnected` as Deno asks for its address, `ConnectionAborted`), or
 * while it was being served. Such an error is the peer's business, not the
 * server's: a listener goes on accepting at once, logs nothing, and waits
 * for nothing — a stream of them must not slow everyone else's accepts.
 *
 * @module
 */

/** Whether `error` says the peer is gone (reset, aborted, never connected). */
export function peerGone(error: unknown): boolean {
  return error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.Interrupted;
}
