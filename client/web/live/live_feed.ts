/**
 * A live feed: while anyone watches, one loop renders a snapshot (an HTML
 * fragment) every interval and hands it to every watcher. However many
 * browsers watch a page, the daemon is asked once per interval.
 *
 * @module
 */

/**
 * Runs `tick` once after `ms`; the returned function cancels it. `tick`'s
 * promise settles when that snapshot has been rendered and handed out.
 */
export type Schedule = (tick: () => Promise<void>, ms: number) => () => void;

/** Options of {@linkcode LiveFeed}. */
export interface LiveFeedOptions {
  /**
   * Renders the current snapshot; should render an error rather than throw.
   * One that throws anyway (a bug, a reply of an unexpected shape) costs
   * that snapshot only: watchers keep the last one, the next comes on time.
   */
  render: () => Promise<string>;
  /** Told what a render threw. @default {writes one line to stderr} */
  onError?: (error: unknown) => void;
  /** Time between two snapshots. @default {500} */
  intervalMs?: number;
  /** How the next snapshot is timed; tests pass a manual one. @default {setTimeout} */
  schedule?: Schedule;
}

function scheduleWithTimer(tick: () => Promise<void>, ms: number): () => void {
  const timer = setTimeout(() => void tick(), ms);
  return () => clearTimeout(timer);
}

/** Watches one snapshot; see the module docs. */
export class LiveFeed {
  readonly #render: () => Promise<string>;
  readonly #onError: (error: unknown) => void;
  readonly #intervalMs: number;
  readonly #schedule: Schedule;
  readonly #listeners = new Set<(html: string) => void>();
  #last: string | null = null;
  /** Cancels the next tick, when one is scheduled. */
  #cancel: (() => void) | null = null;
  /** A loop is running (a render in flight or a tick scheduled). */
  #active = false;
  #closed = false;

  /** Makes the feed; it renders only while someone watches. */
  constructor(options: LiveFeedOptions) {
    this.#render = options.render;
    this.#onError = options.onError ??
      ((error) => console.error(`live feed: a snapshot failed: ${String(error)}`));
    this.#intervalMs = options.intervalMs ?? 500;
    this.#schedule = options.schedule ?? scheduleWithTimer;
  }

  /** Watchers now. */
  get watchers(): number {
    return this.#listeners.size;
  }

  /**
   * Calls `listener` with each new snapshot (an unchanged one is not sent
   * again) until the returned function is called. The first snapshot is
   * rendered at once when nobody was watching; one who joins others gets
   * the last snapshot at once (a microtask later), not only the next that
   * differs from it: a second tab, or a stream that reconnected, would
   * otherwise show nothing, or an outage long over, until the data changed.
   */
  subscribe(listener: (html: string) => void): () => void {
    if (this.#closed) return () => {};
    this.#listeners.add(listener);
    if (!this.#active) {
      this.#active = true;
      void this.#tick();
    } else if (this.#last !== null) {
      const last = this.#last;
      queueMicrotask(() => {
        // Unless it left meanwhile, or a newer snapshot reached it first.
        if (!this.#listeners.has(listener) || this.#last !== last) return;
        try {
          listener(last);
        } catch (error) {
          this.#onError(error);
        }
      });
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  /** Stops for good; watchers get nothing more. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#stop();
  }

  #stop(): void {
    this.#last = null;
    if (this.#cancel !== null) {
      this.#cancel();
      this.#cancel = null;
      this.#active = false;
    }
    // With a render in flight, #tick sees no watchers and ends the loop.
  }

  async #tick(): Promise<void> {
    this.#cancel = null;
    let html: string | null = null;
    try {
      html = await this.#render();
    } catch (error) {
      this.#onError(error); // this snapshot only: a loop that ended would leave pages frozen
    }
    if (this.#closed || this.#listeners.size === 0) {
      this.#active = false;
      return;
    }
    if (html !== null && html !== this.#last) {
      this.#last = html;
      for (const listener of this.#listeners) {
        try {
          listener(html);
        } catch (error) {
          this.#onError(error);
        }
      }
    }
    this.#cancel = this.#schedule(() => this.#tick(), this.#intervalMs);
  }
}
