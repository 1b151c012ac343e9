/**
 * The live parts of Pedidos and Panel: what they show (read from the
 * daemon), one {@linkcode LiveFeed} each, and the server-sent-events stream
 * that carries the snapshots to the browser.
 *
 * @module
 */

import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Pedido, Reply } from "../../server/protocol/messages.ts";
import { refusal } from "./forms.ts";
import { Problem } from "./layout.tsx";
import { LiveFeed } from "./live_feed.ts";
import { OrdersTable, PanelContent, type PanelContentProps, type PanelStats } from "./pages.tsx";

/** Options of {@linkcode LiveData}. */
export interface LiveDataOptions {
  /** Asks the daemon; null when it cannot be reached. */
  ask: (body: Record<string, unknown>) => Promise<Reply | null>;
  /** What to say when the daemon cannot be reached. */
  unreachable: () => string;
  /** The clock, in ms since the epoch. */
  now: () => number;
  /** Time between two snapshots. */
  intervalMs: number;
  /** Orders shown on Pedidos. */
  recentOrders: number;
  /** Time span of the Panel's timeline. */
  timelineMs: number;
}

/** The recent orders, or why they could not be read. */
export interface OrdersData {
  pedidos: Pedido[] | null;
  problem: string | null;
}

function asPedidos(value: unknown): Pedido[] {
  return Array.isArray(value) ? value as Pedido[] : [];
}

/** The data of the live pages and their streams. */
export class LiveData {
  readonly #options: LiveDataOptions;
  readonly #panel: LiveFeed;
  readonly #orders: LiveFeed;
  readonly #closing = new AbortController();
  /** When STATS `rechazados` went up, over the timeline's span. */
  readonly #rejections: { at: number; count: number }[] = [];
  #lastRejected: number | null = null;

  constructor(options: LiveDataOptions) {
    this.#options = options;
    this.#panel = new LiveFeed({
      intervalMs: options.intervalMs,
      render: async () => String(<PanelContent {...await this.panel()} />),
    });
    this.#orders = new LiveFeed({
      intervalMs: options.intervalMs,
      render: async () => {
        const { pedidos, problem } = await this.orders();
        return String(
          <>
            {problem && <Problem text={problem} />}
            <OrdersTable pedidos={pedidos} now={options.now()} />
          </>,
        );
      },
    });
  }

  /** What the Panel shows now: STATS, recent orders, recent refusals. */
  async panel(): Promise<PanelContentProps> {
    const { ask, now, timelineMs } = this.#options;
    const [statsReply, listReply] = await Promise.all([
      ask({ op: "STATS" }),
      ask({ op: "LISTAR", limit: 300 }),
    ]);
    const at = now();
    if (statsReply === null || !statsReply.ok) {
      const problem = statsReply === null ? this.#options.unreachable() : refusal(statsReply);
      return { stats: null, pedidos: [], now: at, rejections: [], problem };
    }
    const stats = statsReply.stats as PanelStats;
    const rejections = this.#rejections;
    if (this.#lastRejected !== null && stats.rechazados > this.#lastRejected) {
      rejections.push({ at, count: stats.rechazados - this.#lastRejected });
    }
    this.#lastRejected = stats.rechazados;
    while (rejections.length > 0 && rejections[0]!.at < at - timelineMs) rejections.shift();
    const pedidos = listReply?.ok ? asPedidos(listReply.pedidos) : [];
    return { stats, pedidos, now: at, rejections: [...rejections] };
  }

  /** The most recent orders. */
  async orders(): Promise<OrdersData> {
    const reply = await this.#options.ask({ op: "LISTAR", limit: this.#options.recentOrders });
    if (reply === null) return { pedidos: null, problem: this.#options.unreachable() };
    if (!reply.ok) return { pedidos: null, problem: refusal(reply) };
    return { pedidos: asPedidos(reply.pedidos), problem: null };
  }

  /**
   * A server-sent-events response carrying each new snapshot of a page's
   * live part as `event: html`, until the browser leaves or {@linkcode close}.
   */
  stream(c: Context, page: "panel" | "pedidos"): Response {
    const feed = page === "panel" ? this.#panel : this.#orders;
    const closing = this.#closing.signal;
    return streamSSE(c, async (stream) => {
      const ended = Promise.withResolvers<void>();
      let writing: Promise<void> | null = null;
      let latest: string | null = null;
      // Each snapshot is whole: a reader that falls behind gets the latest one, not a backlog.
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
      closing.addEventListener("abort", stop, { once: true });
      await stream.write("retry: 2000\n\n");
      const unsubscribe = feed.subscribe(send);
      try {
        await ended.promise;
      } finally {
        unsubscribe();
        closing.removeEventListener("abort", stop);
        await writing;
      }
    });
  }

  /** Ends every stream and stops polling. Idempotent. */
  close(): void {
    this.#closing.abort();
    this.#panel.close();
    this.#orders.close();
  }
}
