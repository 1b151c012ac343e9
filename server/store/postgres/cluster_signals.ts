/**
 * Wake-ups between the daemons of one database, over LISTEN/NOTIFY:
 * `pedidos_nuevos` (there are new `pendiente` orders: claim) and
 * `pedidos_fin` (these orders finished: wake their `ESTADO esperar`).
 *
 * A notification is sent after the commit it is about, never inside the
 * insert's transaction (PostgreSQL holds one global lock for queued
 * notifications until that commit is flushed, which would serialise every
 * commit), from a connection whose commits do not wait for the disk: a
 * wake-up lost in a crash costs nothing, the claimers' slow poll finds the
 * work. Sends are coalesced: at most one in flight, what piles up
 * meanwhile goes in the next one, and while they keep coming, one every
 * `gapMs` at most. Under load every batch a daemon commits would otherwise
 * make one more notification for every other daemon to read and act on:
 * measured with 2 and 3 daemons taking orders at 64 connections, sending
 * them all cost a quarter of the cluster's intake.
 *
 * Listening uses a connection of its own, established again (with a
 * growing pause) whenever it breaks; after that, listeners are told there
 * may be work, since notifications sent meanwhile were missed.
 *
 * @module
 */

import postgres, { type Options, type Sql } from "postgres";
import type { Logger } from "../../log.ts";
import { withDeadline } from "./deadline.ts";
import { connectionReason } from "./postgres_errors.ts";

/** The channel of new work; the payload is the sending daemon's node id. */
export const WORK_CHANNEL = "pedidos_nuevos";
/** The channel of finished orders; the payload is `NODE:ids separated by commas`. */
export const FINISHED_CHANNEL = "pedidos_fin";
/**
 * The channel of `TRUNCATE pedidos` (an operator emptied the table), sent
 * by the table's trigger (schema 9); no payload.
 */
export const EMPTIED_CHANNEL = "pedidos_vaciado";

/** Largest payload sent (PostgreSQL's limit is 8000 bytes). */
const MAX_PAYLOAD = 7000;

/** Options of {@linkcode ClusterSignals}. */
export interface ClusterSignalsOptions {
  /**
   * This daemon's node id: sent with its notifications, and its own are not
   * heard (it wakes its own claimer and waiters without the round trip).
   */
  nodeId: string;
  /** The driver's options, for the listening connection. */
  connection: Options<Record<string, postgres.PostgresType>>;
  /** The pool notifications are sent from now (commits need not wait for the disk). */
  send: () => Sql;
  logger: Logger;
  onWork: () => void;
  onFinished: (ids: number[]) => void;
  /** The table was emptied (`TRUNCATE pedidos`). @default {nothing} */
  onEmptied?: () => void;
  /**
   * The shortest time between two sends while there is more to send, ms:
   * the longest a wake-up waits behind another. @default 25
   */
  gapMs?: number;
}

/** LISTEN and coalesced NOTIFY for one daemon. */
export class ClusterSignals {
  readonly #options: ClusterSignalsOptions;
  #listener: Sql;
  #work = false;
  #finished: number[] = [];
  #sending: Promise<void> | null = null;
  /** When the last send started (`performance.now()`). */
  #lastSent = -Infinity;
  readonly #gapMs: number;
  #closed = false;
  #relisten: ReturnType<typeof setTimeout> | undefined;
  #listening = false;
  #started = false;

  constructor(options: ClusterSignalsOptions) {
    this.#options = options;
    this.#gapMs = options.gapMs ?? 25;
    this.#listener = this.#newListener();
  }

  #newListener(): Sql {
    // `onnotify` is an option of the driver that its type declarations leave out.
    const listener: Sql = postgres(
      {
        ...this.#options.connection,
        max: 1,
        idle_timeout: undefined,
        max_lifetime: null,
        onnotify: (channel: string, payload: string) => this.#onNotify(channel, payload),
        // A listener given up (reconnect) is not listened on again.
        onclose: () => listener === this.#listener && this.#onClose(),
      } as ClusterSignalsOptions["connection"],
    );
    return listener;
  }

  /** Whether the listening connection is established. */
  get listening(): boolean {
    return this.#listening;
  }

  /**
   * Starts listening. Resolves once listening, or when the first try failed
   * (it is then retried in the background).
   */
  async start(): Promise<void> {
    this.#started = true;
    await this.#listen(0);
  }

  /** New `pendiente` orders were committed here: tell every daemon. */
  announceWork(): void {
    this.#work = true;
    this.#send();
  }

  /** These orders' final state was committed here: tell every daemon. */
  announceFinished(ids: readonly number[]): void {
    this.#finished.push(...ids);
    this.#send();
  }

  /**
   * Gives up the listening connection, which may have gone silent without
   * closing (the database was found unreachable), and listens on a new one.
   */
  reconnect(): void {
    if (this.#closed) return;
    const old = this.#listener;
    this.#listener = this.#newListener();
    this.#listening = false;
    old.end({ timeout: 0 }).catch(() => {});
    if (this.#started) this.#listenLater(1);
  }

  /**
   * Stops listening and sends what is pending, waiting `sendMs` at most for
   * that (a wake-up lost is made up for by the others' poll).
   */
  async close(sendMs = 2000): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#relisten);
    const sent = (async () => {
      while (this.#sending !== null) await this.#sending;
    })();
    await withDeadline(sent, sendMs, "send the last notifications").catch(() => {});
    await this.#listener.end({ timeout: 1 });
  }

  async #listen(attempt: number): Promise<void> {
    if (this.#closed || this.#listening) return;
    try {
      await this.#listener.unsafe(`LISTEN ${WORK_CHANNEL}`);
      await this.#listener.unsafe(`LISTEN ${FINISHED_CHANNEL}`);
      await this.#listener.unsafe(`LISTEN ${EMPTIED_CHANNEL}`);
      this.#listening = true;
      // Anything announced while we were not listening was missed.
      if (attempt > 0) this.#options.onWork();
    } catch (error) {
      if (this.#closed) return;
      if (attempt % 30 === 0) {
        this.#options.logger.warn("cluster.listen_failed", { reason: connectionReason(error) });
      }
      this.#listenLater(attempt + 1);
    }
  }

  #listenLater(attempt: number): void {
    if (this.#closed) return;
    clearTimeout(this.#relisten);
    const wait = Math.min(2000, 100 * 2 ** (attempt - 1));
    this.#relisten = setTimeout(() => this.#listen(attempt), wait);
  }

  #onClose(): void {
    this.#listening = false;
    this.#listenLater(1);
  }

  #onNotify(channel: string, payload: string): void {
    if (channel === EMPTIED_CHANNEL) return this.#options.onEmptied?.();
    const at = payload.indexOf(":");
    const from = at === -1 ? payload : payload.slice(0, at);
    if (from === this.#options.nodeId) return;
    if (channel === WORK_CHANNEL) {
      this.#options.onWork();
    } else if (channel === FINISHED_CHANNEL) {
      const ids = payload.slice(at + 1).split(",").map(Number).filter(Number.isSafeInteger);
      if (ids.length > 0) this.#options.onFinished(ids);
    }
  }

  #send(): void {
    this.#sending ??= this.#flush();
  }

  /**
   * Sends until nothing is left to announce, and in the same turn lets
   * `#send` start anew: an announcement made a
   * microtask later is never left behind.
   */
  async #flush(): Promise<void> {
    try {
      // Let the commits of this tick join in.
      await Promise.resolve();
      while (this.#work || this.#finished.length > 0) {
        const wait = this.#lastSent + this.#gapMs - performance.now();
        if (wait > 0 && !this.#closed) await new Promise((resolve) => setTimeout(resolve, wait));
        this.#lastSent = performance.now();
        const messages: [string, string][] = [];
        const node = this.#options.nodeId;
        if (this.#work) messages.push([WORK_CHANNEL, node]);
        this.#work = false;
        for (const ids of chunk(this.#finished.splice(0))) {
          messages.push([FINISHED_CHANNEL, `${node}:${ids}`]);
        }
        try {
          await Promise.all(
            messages.map(([channel, payload]) =>
              this.#options.send()`SELECT pg_notify(${channel}, ${payload})`
            ),
          );
        } catch (error) {
          // A lost wake-up is made up for by the claimers' poll and the waiters' re-reads.
          this.#options.logger.debug("cluster.notify_failed", { reason: connectionReason(error) });
        }
      }
    } finally {
      this.#sending = null;
    }
  }
}

/** Comma-separated ids in payloads of at most {@linkcode MAX_PAYLOAD} bytes. */
function chunk(ids: number[]): string[] {
  const payloads: string[] = [];
  let current = "";
  for (const id of ids) {
    const next = current === "" ? String(id) : `${current},${id}`;
    if (next.length > MAX_PAYLOAD) {
      payloads.push(current);
      current = String(id);
    } else {
      current = next;
    }
  }
  if (current !== "") payloads.push(current);
  return payloads;
}
