/**
 * The live parts of Pedidos and Panel: what they show (read from the
 * daemon), one {@linkcode LiveFeed} each, and their event streams.
 *
 * @module
 */

import type { Context } from "hono";
import type { Pedido } from "../../../server/protocol/messages.ts";
import type { Ask } from "../ask.ts";
import { OrdersTable } from "../components/orders_table.tsx";
import { PanelContent, type PanelContentProps } from "../components/panel_content.tsx";
import { Problem } from "../components/problem.tsx";
import { refusal } from "../forms.ts";
import { type ActionNote, ActionNotes } from "./action_notes.ts";
import { LiveFeed } from "./live_feed.ts";
import { liveStream } from "./live_stream.ts";
import { RejectionLog } from "./rejection_log.ts";

/** Options of {@linkcode LiveData}. */
export interface LiveDataOptions {
  /** Asks the daemon; null when it cannot be reached. */
  ask: Ask;
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
  /** Newest first, or null when they could not be read. */
  pedidos: Pedido[] | null;
  /** Why not, in words. */
  problem: string | null;
  /** What became of the last CANCELAR / REINTENTAR asked of an order, by id. */
  notas: ReadonlyMap<number, ActionNote>;
}

/** Orders the Panel's timeline is drawn from. */
const TIMELINE_ORDERS = 300;

/** The data of the live pages and their streams. */
export class LiveData {
  readonly #options: LiveDataOptions;
  readonly #panel: LiveFeed;
  readonly #orders: LiveFeed;
  readonly #closing = new AbortController();
  readonly #rejections: RejectionLog;
  /** What became of the actions asked from the Pedidos page, shown in their rows. */
  readonly notes: ActionNotes;

  /** Makes the two feeds; nothing is asked until someone watches. */
  constructor(options: LiveDataOptions) {
    this.#options = options;
    this.#rejections = new RejectionLog(options.timelineMs);
    this.notes = new ActionNotes({ now: options.now });
    this.#panel = new LiveFeed({
      intervalMs: options.intervalMs,
      render: async () => String(<PanelContent {...await this.panel()} />),
    });
    this.#orders = new LiveFeed({
      intervalMs: options.intervalMs,
      render: async () => {
        const { pedidos, problem, notas } = await this.orders();
        // Shared by every watcher: its forms carry no CSRF token; the page's script adds it.
        return String(
          <>
            {problem && <Problem text={problem} />}
            <OrdersTable pedidos={pedidos} now={options.now()} csrf={null} notas={notas} />
          </>,
        );
      },
    });
  }

  /** What the Panel shows now: STATS, recent orders, recent refusals. */
  async panel(): Promise<PanelContentProps> {
    const { ask, now } = this.#options;
    const [statsReply, listReply] = await Promise.all([
      ask({ op: "STATS" }),
      ask({ op: "LISTAR", limit: TIMELINE_ORDERS }),
    ]);
    const at = now();
    if (statsReply === null || !statsReply.ok) {
      const problem = statsReply === null ? this.#options.unreachable() : refusal(statsReply);
      return { stats: null, pedidos: [], now: at, rejections: [], problem };
    }
    const { stats } = statsReply;
    const rejections = this.#rejections.record(at, stats.rechazados);
    const pedidos = listReply?.ok ? listReply.pedidos : [];
    return { stats, pedidos, now: at, rejections };
  }

  /** The most recent orders. */
  async orders(): Promise<OrdersData> {
    const reply = await this.#options.ask({ op: "LISTAR", limit: this.#options.recentOrders });
    const notas = this.notes.current();
    if (reply === null) return { pedidos: null, problem: this.#options.unreachable(), notas };
    if (!reply.ok) return { pedidos: null, problem: refusal(reply), notas };
    return { pedidos: reply.pedidos, problem: null, notas };
  }

  /**
   * A server-sent-events response carrying each new snapshot of a page's
   * live part as `event: html`, until the browser leaves or {@linkcode close}.
   */
  stream(c: Context, page: "panel" | "pedidos"): Response {
    const feed = page === "panel" ? this.#panel : this.#orders;
    return liveStream(c, feed, { signal: this.#closing.signal });
  }

  /** Ends every stream and stops polling. Idempotent. */
  close(): void {
    this.#closing.abort();
    this.#panel.close();
    this.#orders.close();
  }
}
