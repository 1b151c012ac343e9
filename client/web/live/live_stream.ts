/**
 * A server-sent-events response that carries a {@linkcode LiveFeed}'s
 * snapshots to one browser.
 *
 * @module
 */

import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { LiveFeed } from "./live_feed.ts";

/** Options of {@linkcode liveStream}. */
export interface LiveStreamOptions {
  /** Ends the stream (the gateway is closing, the session ended). */
  signal: AbortSignal;
  /** Called once when the stream has ended, however it ended. */
  onEnd?: () => void;
  /**
   * When `signal` has aborted, the last words for the page (`event: fin`),
   * or null for none: a page told its session ended stops, where one whose
   * stream just closed would try again, and be refused, forever.
   * @default {none}
   */
  farewell?: () => string | null;
}

/** How long the last words wait for a browser that does not read, ms. */
const FAREWELL_MS = 1000;

/**
 * Answers with `text/event-stream`: first `retry: 2000`, then each new
 * snapshot of `feed` as `event: html`, until the browser leaves or
 * `signal` aborts. Each snapshot is whole, so a reader that falls behind
 * gets the latest one, never a backlog. When `signal` aborts, a snapshot
 * still waiting for a browser that does not read is dropped, and the
 * `farewell`, if any, is sent as `event: fin` (given a second at most).
 *
 * @param c The request's context.
 * @param feed The snapshots to send.
 * @param options When to stop.
 * @returns The streaming response.
 */
export function liveStream(c: Context, feed: LiveFeed, options: LiveStreamOptions): Response {
  const { signal, onEnd, farewell } = options;
  const response = streamSSE(c, async (stream) => {
    const ended = Promise.withResolvers<void>();
    let writing: Promise<void> | null = null;
    let latest: string | null = null;
    const send = (html: string) => {
      latest = html;
      writing ??= (async () => {
        while (latest !== null && !stream.aborted) {
          const next = latest;
          latest = null;
          await stream.writeSSE({ event: "html", data: next });
        }
        writing = null;
      })();
    };
    const stop = () => ended.resolve();
    stream.onAbort(stop);
    signal.addEventListener("abort", stop, { once: true });
    if (signal.aborted) stop();
    let unsubscribe = () => {};
    try {
      await stream.write("retry: 2000\n\n");
      if (!signal.aborted && !stream.aborted) unsubscribe = feed.subscribe(send);
      await ended.promise;
    } finally {
      unsubscribe();
      signal.removeEventListener("abort", stop);
      const last = signal.aborted && !stream.aborted ? farewell?.() ?? null : null;
      if (last !== null) {
        latest = null;
        const previous = writing;
        await within(
          (async () => {
            await previous;
            await stream.writeSSE({ event: "fin", data: last });
          })(),
          FAREWELL_MS,
        );
      }
      if (signal.aborted) stream.abort(); // a write the browser never reads ends too
      await writing;
      onEnd?.();
    }
  });
  // A user's orders, as pages are: kept in no cache (hono's streamSSE says no-cache).
  response.headers.set("Cache-Control", "no-store");
  return response;
}

/** Waits for `promise`, or `ms` at most. */
async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([promise, new Promise((resolve) => timer = setTimeout(resolve, ms))]);
  } finally {
    clearTimeout(timer);
  }
}
