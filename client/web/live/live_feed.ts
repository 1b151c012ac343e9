/**
 * A live feed: while anyone watches, one loop renders a snapshot (an HTML
 * fragment) every interval and hands it to every watcher. However many
 * browsers watch a page, the daemon is asked once per interval.
 *
 * @module
 */

/** Options of {@linkcode LiveFeed}. */
export interface LiveFeedOptions {
  /** Renders the current snapshot; must not throw (render the error instead). */
  render: () => Promise<string>;
  /** Time between two snapshots. @default {500} */
  intervalMs?: number;
}

/** Watches one snapshot; see the module docs. */
export class LiveFeed {
  readonly #render: () => Promise<string>;
  readonly #intervalMs: number;
  readonly #listeners = new Set<(html: string) => void>();
  #last: string | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** A loop is running (a render in flight or a timer set). */
  #active = false;
  #closed = false;

  constructor(options: LiveFeedOptions) {
    this.#render = options.render;
    this.#intervalMs = options.intervalMs ?? 500;
  }

  /** Watchers now. */
  get watchers(): number {
    return this.#listeners.size;
  }

  /**
   * Calls `listener` with each new snapshot (an unchanged one is not sent
   * again) until the returned function is called.
   */
  subscribe(listener: (html: string) => void): () => void {
    if (this.#closed) return () => {};
    this.#listeners.add(listener);
    if (!this.#active) {
      this.#active = true;
      void this.#tick();
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
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#active = false;
    }
    // With a render in flight, #tick sees no watchers and ends the loop.
  }

  async #tick(): Promise<void> {
    this.#timer = null;
    const html = await this.#render();
    if (this.#closed || this.#listeners.size === 0) {
      this.#active = false;
      return;
    }
    if (html !== this.#last) {
      this.#last = html;
      for (const listener of this.#listeners) listener(html);
    }
    this.#timer = setTimeout(() => void this.#tick(), this.#intervalMs);
  }
}
