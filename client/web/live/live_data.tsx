/**
 * The live parts of Pedidos and Panel: what they show (read from the
 * daemon with the session's token), a {@linkcode LiveFeed} per session and
 * page, and their event streams, bounded.
 *
 * @module
 */

import type { Estado, Pedido } from "../../../server/protocol/messages.ts";
import type { ReplyOf, Stats } from "../../../server/protocol/replies.ts";
import type { UnlistedWaiting } from "../components/timeline.tsx";
import type { Ask } from "../ask.ts";
import type { GatewayContext } from "../responses.tsx";
import { OrdersTable } from "../components/orders_table.tsx";
import { PanelContent, type PanelContentProps } from "../components/panel_content.tsx";
import { Problem } from "../components/problem.tsx";
import { refusal } from "../forms.ts";
import { LiveFeed } from "./live_feed.ts";
import { liveStream } from "./live_stream.ts";
import { RejectionLog } from "./rejection_log.ts";
import { OrderHistory } from "./order_history.ts";
import { type ActionNote, ActionNotes } from "./action_notes.ts";
import { accountKey } from "../account_key.ts";
import { TimelineWindow, type TimelineWindowOptions } from "./timeline_window.ts";
import { checkOperator, type TokenReads } from "./operator_check.ts";
import { scopedClave } from "../routes/pedidos.tsx";
import { ROLE_TAKEN_BACK } from "../middleware/operator_only.tsx";
import type { WebSession } from "../sessions.ts";

/** Orders placed through the gateway remembered with their account, at most (the newest). */
const PLACED_ORDERS = 10_000;

/** Older orders still waiting listed on Pedidos below the newest, at most. */
const WAITING_ORDERS = 100;

/** Options of {@linkcode LiveData}. */
export interface LiveDataOptions {
  /** Asks the daemon; null when it cannot be reached. */
  ask: Ask;
  /** What to say when the daemon does not answer (down, or slow). */
  unreachable: () => string;
  /** The clock, in ms since the epoch. */
  now: () => number;
  /** Time between two snapshots. */
  intervalMs: number;
  /** Orders shown on Pedidos. */
  recentOrders: number;
  /** Time span of the Panel's timeline. */
  timelineMs: number;
  /** Several daemons share the orders (a cluster): see {@linkcode PanelContentProps.cluster}. @default {false} */
  cluster?: boolean;
  /** Where the daemon is, for people (the one whose STATS the Panel shows). @default {"el servidor"} */
  address?: string;
  /** Live streams open at once, in all. @default {256} */
  maxStreams?: number;
  /** The bounds of the Panel's timeline window (its span is `timelineMs`). @default {TimelineWindow's} */
  timelineWindow?: Omit<TimelineWindowOptions, "spanMs">;
  /** Live streams open at once per session. @default {4} */
  maxStreamsPerSession?: number;
  /**
   * Live streams open at once per account, over all its sessions: one
   * account cannot take the gateway's whole share however many times it
   * signs in. @default {8}
   */
  maxStreamsPerAccount?: number;
}

/** The recent orders, or why they could not be read. */
export interface OrdersData {
  /** Newest first, or null when they could not be read. */
  pedidos: Pedido[] | null;
  /** Why not, in words. */
  problem: string | null;
  /** Whether the daemon could not be reached (not a refusal of its own). */
  unreachable?: boolean;
  /** What became of the last CANCELAR / REINTENTAR asked of an order, by id. */
  notas: ReadonlyMap<number, ActionNote>;
}

/** Orders waiting (the newest) and running listed for the Panel at each refresh, at most. */
const LIVE_ORDERS = 300;

/** A page with a live part. */
export type LivePage = "panel" | "pedidos";

/**
 * The data of the live pages and their streams. Each signed-in session has
 * its own feed per page (the daemon shows each account only its orders, or
 * an operador everyone's), made when its first stream opens and dropped
 * with its last; tabs of one session share it. Streams are bounded in all,
 * per account and per session, and end when their session ends (sign-out,
 * expiry).
 */
export class LiveData {
  readonly #options: LiveDataOptions;
  readonly #feeds = new Map<string, LiveFeed>();
  readonly #closing = new AbortController();
  readonly #rejections: RejectionLog;
  readonly #history: OrderHistory;
  /** What became of the actions asked from the Pedidos page, shown in their rows. */
  readonly notes: ActionNotes;
  readonly #maxStreams: number;
  readonly #maxPerSession: number;
  readonly #maxPerAccount: number;
  /** Streams open per account ({@linkcode accountKey} of its name). */
  readonly #perAccount = new Map<string, number>();
  /**
   * The Panel's timeline window, one for every operador session (each reads
   * everyone's orders), and when it was last used; null while none is.
   */
  #timeline: { window: TimelineWindow; usedAt: number } | null = null;
  readonly #windowOptions: Omit<TimelineWindowOptions, "spanMs">;
  /** The account ({@linkcode accountKey}) of the newest orders placed through the gateway, by id. */
  readonly #placed = new Map<number, string>();
  /** Aborted when a session's `operador` role is found taken back: its Panel streams end. */
  readonly #rolesLost = new WeakMap<WebSession, AbortController>();
  #streams = 0;

  /** Nothing is asked until someone watches. */
  constructor(options: LiveDataOptions) {
    this.#options = options;
    // Readings further apart than a few snapshots (no Panel open meanwhile) place no rise.
    this.#rejections = new RejectionLog(options.timelineMs, 3 * options.intervalMs);
    this.#history = new OrderHistory({ spanMs: options.timelineMs });
    this.notes = new ActionNotes({ now: options.now });
    this.#maxStreams = options.maxStreams ?? 256;
    this.#windowOptions = options.timelineWindow ?? {};
    this.#maxPerSession = options.maxStreamsPerSession ?? 4;
    this.#maxPerAccount = options.maxStreamsPerAccount ?? 8;
  }

  /** Live streams open now. */
  get streams(): number {
    return this.#streams;
  }

  /**
   * Notes that `usuario` placed order `id` through the gateway: its own
   * order, which tells nothing of whether its token sees everyone's.
   */
  placed(usuario: string, id: number): void {
    this.#placed.delete(id);
    this.#placed.set(id, accountKey(usuario));
    if (this.#placed.size > PLACED_ORDERS) this.#placed.delete(this.#placed.keys().next().value!);
  }

  /**
   * What the Panel shows now to `session` (an operador's): STATS, the
   * orders of the timeline's span, recent refusals. Null when its role was
   * found taken back (see below): then nothing is shown.
   *
   * The orders `en proceso` and the newest {@linkcode LIVE_ORDERS}
   * `pendiente` are asked for at each refresh; those that finished within
   * the span are kept by the one {@linkcode TimelineWindow} of all
   * operador sessions (each refresh reads with the token of the session
   * asking), which reads only what finished since the last refresh once it
   * has the span, a bounded number of pages at a time (it says what it
   * could not read).
   *
   * A queue longer than {@linkcode LIVE_ORDERS} (a capacity over it) does
   * not fit one list: when the newest `pendiente` ones fill it, the others
   * STATS counts (`pendientes`) are drawn as waiting since the oldest of
   * them listed was received (ids grow with time: the unlisted ones came
   * before it): the waiting band says at "now" what the "en espera" counter
   * says.
   *
   * An order back in the queue (a retry after a failed attempt, Reintentar)
   * has lost its attempt's times: each snapshot is kept in an
   * {@linkcode OrderHistory}, which tells the timeline when it ran and when
   * it waited, as seen.
   *
   * Its token is checked at each refresh ({@linkcode checkOperator}): only
   * a token proven to see every order has its reads kept in the shared
   * window and is shown it. One proven not to (the role taken back since
   * LOGIN) has none of its reads kept, and the session is a `usuario`'s from
   * then on (its Panel streams end). One that nothing could be proven of
   * has none kept either, and is shown what it read itself (STATS, the
   * orders running and waiting) with the finished ones "sin datos"; it is
   * checked again at its next refresh.
   */
  async panel(session: WebSession): Promise<PanelContentProps | null> {
    const { ask, now } = this.#options;
    const { token } = session;
    if (session.rolTakenBack) return null;
    const [statsReply, runningReply, waitingReply] = await Promise.all([
      ask({ op: "STATS" }),
      ask({ op: "LISTAR", estado: "en proceso", limit: LIVE_ORDERS, token }),
      ask({ op: "LISTAR", estado: "pendiente", limit: LIVE_ORDERS, token }),
    ]);
    const at = now();
    const cluster = this.#options.cluster ? this.#options.address ?? "el servidor" : null;
    if (statsReply === null || !statsReply.ok) {
      const problem = statsReply === null ? this.#options.unreachable() : refusal(statsReply);
      return { stats: null, pedidos: [], now: at, rejections: [], problem, cluster };
    }
    const lists = [runningReply, waitingReply];
    const listed = lists.flatMap((reply) => reply?.ok ? reply.pedidos : []);
    const account = accountKey(session.usuario);
    const ownPrefix = scopedClave(session.usuario, "");
    const liveReads = liveListed(lists);
    /** Who placed order `id` through the gateway, as the check sees it. */
    const placedBy = (id: number) => {
      const by = this.#placed.get(id);
      return by === undefined ? null : by === account ? "own" : "other";
    };
    const read = await this.#window(at).refresh(ask, {
      token,
      at,
      // One list missing, what runs or waits is not known.
      live: lists.every((reply) => reply?.ok) ? listed : null,
      uptimeS: statsReply.stats.uptime_s ?? null,
      check: (witnesses, reads) =>
        checkOperator(ask, {
          token,
          witnesses,
          reads: {
            ids: new Set([...reads.ids, ...liveReads.ids]),
            from: new Map([...reads.from, ...liveReads.from]),
          },
          placedBy,
          ownClave: (clave) => clave.startsWith(ownPrefix),
        }),
      // (Orders held are slim copies, without their clave: placed here is what is known.)
      ownOrder: (pedido) => placedBy(pedido.id) === "own",
      otherOrder: (pedido) => placedBy(pedido.id) === "other",
    });
    if (read === "demoted" || session.rolTakenBack) {
      this.#takeBack(session);
      return null;
    }
    // Not proven an operador: none of the shared window, only what it read itself.
    const { finished, coverage } = read === "unknown"
      ? {
        finished: [],
        coverage: { from: at, reason: "unchecked", maxOrders: 0, unreadSince: null } as const,
      }
      : read;
    const byId = new Map<number, Pedido>();
    for (const pedido of listed) byId.set(pedido.id, pedido);
    // Read after the lists: an order found finished has finished since.
    for (const pedido of finished) byId.set(pedido.id, pedido);
    const { stats } = statsReply;
    const rejections = this.#rejections.record({
      at,
      rechazados: stats.rechazados,
      uptimeS: stats.uptime_s, // (a daemon that gives none: RejectionLog takes it for the same one)
    });
    const pedidos = [...byId.values()];
    return {
      stats,
      pedidos,
      now: at,
      rejections,
      cluster,
      coverage,
      pasts: this.#history.observe(at, pedidos),
      waitingUnlisted: unlistedWaiting(
        waitingReply?.ok ? waitingReply.pedidos : [],
        pedidos,
        stats,
      ),
    };
  }

  /** From now on `session` is a `usuario`'s: its Panel and Panel streams refuse it. */
  #takeBack(session: WebSession): void {
    session.rol = "usuario";
    session.rolTakenBack = true;
    this.#roleLost(session).abort();
  }

  #roleLost(session: WebSession): AbortController {
    let lost = this.#rolesLost.get(session);
    if (lost === undefined) this.#rolesLost.set(session, lost = new AbortController());
    return lost;
  }

  /** The Panel's timeline window, made on first use, and anew after a span unused. */
  #window(at: number): TimelineWindow {
    const { timelineMs } = this.#options;
    if (this.#timeline === null || this.#timeline.usedAt < at - timelineMs) {
      const window = new TimelineWindow({ spanMs: timelineMs, ...this.#windowOptions });
      this.#timeline = { window, usedAt: at };
    }
    this.#timeline.usedAt = Math.max(this.#timeline.usedAt, at);
    return this.#timeline.window;
  }

  /** The most recent orders the session of `token` may see (its own; an operador's, all). */
  async orders(token: string): Promise<OrdersData> {
    const { recentOrders, ask } = this.#options;
    const reply = await ask({ op: "LISTAR", limit: recentOrders, token });
    const notas = this.notes.current();
    if (reply === null) {
      return { pedidos: null, problem: this.#options.unreachable(), unreachable: true, notas };
    }
    if (!reply.ok) return { pedidos: null, problem: refusal(reply), notas };
    // Below the newest, the orders still unfinished that are older than
    // them (up to WAITING_ORDERS of each state, the newest first, as LISTAR
    // gives them): only a waiting one's row can cancel it, and one running
    // is what its user looks for. Asked only when the newest fill the list,
    // so older ones may exist.
    const oldest = reply.pedidos.at(-1)?.id;
    const older = oldest !== undefined && reply.pedidos.length >= recentOrders
      ? await Promise.all(
        (["en proceso", "pendiente"] as const).map((estado) =>
          ask({ op: "LISTAR", estado, antes_de: oldest, limit: WAITING_ORDERS, token })
        ),
      )
      : [];
    const unfinished = older.flatMap((listed) => listed?.ok ? listed.pedidos : [])
      .sort((a, b) => b.id - a.id);
    return { pedidos: [...reply.pedidos, ...unfinished], problem: null, notas };
  }

  /**
   * A server-sent-events response carrying each new snapshot of a page's
   * live part as `event: html`, until the browser leaves, the session ends
   * or {@linkcode close}; `429` when too many streams are open, in all or
   * for this session.
   */
  stream(c: GatewayContext, page: LivePage): Response {
    const session = c.get("session")!;
    if (c.req.method === "HEAD") {
      // The headers a GET would get, and no stream: a HEAD's body is dropped
      // unread, never cancelled, so a stream opened for it would hold its
      // place (and poll the daemon) until the session ended.
      c.header("Cache-Control", "no-store");
      return c.body(null, 200, { "Content-Type": "text/event-stream" });
    }
    if (this.#streams >= this.#maxStreams) {
      return tooMany(c, "Demasiadas páginas en vivo abiertas en el servidor; intente más tarde.");
    }
    if (session.streams >= this.#maxPerSession) {
      return tooMany(
        c,
        `Tiene demasiadas páginas en vivo abiertas (máximo ${this.#maxPerSession}); cierre alguna.`,
      );
    }
    const account = accountKey(session.usuario);
    const ofAccount = this.#perAccount.get(account) ?? 0;
    if (ofAccount >= this.#maxPerAccount) {
      return tooMany(
        c,
        `Su cuenta tiene demasiadas páginas en vivo abiertas (máximo ${this.#maxPerAccount}, ` +
          "entre todas sus sesiones); cierre alguna.",
      );
    }
    this.#streams++;
    session.streams++;
    this.#perAccount.set(account, ofAccount + 1);
    const key = `${page}\n${session.id}`;
    const feed = this.#feeds.get(key) ?? this.#feed(key, page, session);
    // A Panel stream ends when the session's role is found taken back.
    const roleLost = page === "panel" ? this.#roleLost(session).signal : null;
    const expired = new AbortController();
    const timer = setTimeout(
      () => expired.abort(),
      Math.max(0, Math.min(session.expires - this.#options.now(), 2 ** 31 - 1)),
    );
    return liveStream(c, feed, {
      signal: AbortSignal.any([
        this.#closing.signal,
        session.ended,
        expired.signal,
        ...(roleLost === null ? [] : [roleLost]),
      ]),
      farewell: () =>
        session.ended.aborted || expired.signal.aborted
          ? "Su sesión terminó: entre de nuevo para seguir en vivo."
          : roleLost?.aborted
          ? ROLE_TAKEN_BACK
          : null,
      onEnd: () => {
        clearTimeout(timer);
        this.#streams--;
        session.streams--;
        const left = (this.#perAccount.get(account) ?? 1) - 1;
        if (left > 0) this.#perAccount.set(account, left);
        else this.#perAccount.delete(account);
        if (feed.watchers === 0 && this.#feeds.get(key) === feed) {
          feed.close();
          this.#feeds.delete(key);
        }
      },
    });
  }

  /** Ends every stream and stops polling. Idempotent. */
  close(): void {
    this.#closing.abort();
    this.#timeline = null;
    for (const feed of this.#feeds.values()) feed.close();
    this.#feeds.clear();
  }

  #feed(key: string, page: LivePage, session: WebSession): LiveFeed {
    const { token } = session;
    const { intervalMs, now } = this.#options;
    /** The orders this feed last read from the daemon. */
    let lastRead: Pedido[] | null = null;
    const render = page === "panel"
      ? async () => {
        const props = await this.panel(session);
        // Taken back, its stream ends (with the words): nothing of the Panel is sent.
        return props === null ? String(<Problem text={ROLE_TAKEN_BACK} />) : String(
          <PanelContent {...props} />,
        );
      }
      : async () => {
        const { pedidos, problem, unreachable, notas } = await this.orders(token);
        if (pedidos !== null) lastRead = pedidos;
        // While the daemon cannot be reached, the states last read stay, said to be so.
        const stale = pedidos === null && unreachable === true ? lastRead : null;
        // Its forms carry no CSRF token (a feed outlives a page); the page's script adds it.
        return String(
          <>
            {problem && <Problem text={problem} />}
            {stale && <p class="muted">Últimos estados leídos, de antes de perder la conexión.</p>}
            <OrdersTable pedidos={pedidos ?? stale} now={now()} csrf={null} notas={notas} />
          </>,
        );
      };
    const feed = new LiveFeed({ intervalMs, render });
    this.#feeds.set(key, feed);
    return feed;
  }
}

/** What the lists of orders running and waiting returned, for the check: see {@linkcode TokenReads}. */
function liveListed(lists: (ReplyOf<"LISTAR"> | null)[]): TokenReads {
  const ids = new Set<number>();
  const from = new Map<Estado, number>();
  lists.forEach((reply, i) => {
    if (!reply?.ok) return;
    for (const p of reply.pedidos) ids.add(p.id);
    const estado = i === 0 ? "en proceso" : "pendiente";
    from.set(estado, reply.pedidos.length < LIVE_ORDERS ? 0 : reply.pedidos.at(-1)!.id);
  });
  return { ids, from };
}

/**
 * The orders STATS counts `pendiente` that are not among `pedidos`, when
 * the list of the newest `pendiente` ones (`listed`) was full: they are
 * older than every one of it, so they have waited at least since the
 * oldest of it was received. Null when there are none.
 */
function unlistedWaiting(
  listed: Pedido[],
  pedidos: Pedido[],
  stats: Stats,
): UnlistedWaiting | null {
  if (listed.length < LIVE_ORDERS) return null; // every order waiting was listed
  const count = stats.pendientes - pedidos.filter((p) => p.estado === "pendiente").length;
  const since = Math.min(...listed.map((p) => Date.parse(p.fecha_recibido)));
  return count > 0 && Number.isFinite(since) ? { count, since } : null;
}

function tooMany(c: GatewayContext, text: string): Response {
  c.header("Retry-After", "10");
  return c.text(text, 429);
}
