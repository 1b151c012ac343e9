/**
 * Whether the PostgreSQL database can be reached, and getting back to it.
 *
 * A store operation that fails because the connection failed marks the
 * database down. While it is down, operations are refused at once with
 * {@linkcode StoreUnavailableError} (no waiting on connect timeouts), and a
 * probe retries with a growing backoff (100 ms doubling up to 2 s); when
 * the probe succeeds, the database is up again and `onUp` is called.
 *
 * @module
 */

import type { Logger } from "../../log.ts";
import { StoreUnavailableError } from "../store_unavailable_error.ts";
import { withDeadline } from "./deadline.ts";
import { connectionReason, isConnectionError } from "./postgres_errors.ts";

/** Options of {@linkcode DatabaseHealth}. */
export interface DatabaseHealthOptions {
  /** Succeeds when the database answers (and is ready for use). */
  probe: () => Promise<void>;
  logger: Logger;
  /** The database as it may be shown (its URL without the password). */
  shown: string;
  /** Called each time the database is found unreachable, before probing starts. */
  onDown?: () => void;
  /** Called each time the database is reachable again. */
  onUp?: () => void;
  /**
   * Called when the probe fails for a reason that retrying will not fix
   * (e.g. the cluster's capacity differs); probing stops.
   */
  onFatal?: (error: Error) => void;
  /**
   * Whether a probe's error is one that retrying will not fix. Any other
   * keeps the database down and the probe going. @default {not a
   * connection error (`isConnectionError`)}
   */
  isFatal?: (error: unknown) => boolean;
  /** First and longest wait between probes, ms. @default {{first: 100, max: 2000}} */
  backoff?: { first: number; max: number };
  /**
   * The longest an operation (or a probe) may wait for the database; past
   * it, the database counts as unreachable. @default 15000
   */
  deadlineMs?: number;
}

/** The up/down state of one database, with its reconnect loop. */
export class DatabaseHealth {
  readonly #options: DatabaseHealthOptions;
  readonly #backoff: { first: number; max: number };
  readonly #deadlineMs: number;
  #down: { reason: string; since: number } | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #attempts = 0;

  constructor(options: DatabaseHealthOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? { first: 100, max: 2000 };
    this.#deadlineMs = options.deadlineMs ?? 15_000;
  }

  /** Why the database is down, or null while it is up. */
  get downReason(): string | null {
    return this.#down?.reason ?? null;
  }

  /**
   * Runs `fn` unless the database is down. A connection failure, or no
   * answer within the deadline, marks it down. With `deadline: false`, `fn`
   * bounds its own waits (the writer's transactions have their deadlines).
   *
   * @throws {StoreUnavailableError} While it is down, or when `fn` lost the connection.
   */
  async run<T>(
    what: string,
    fn: () => Promise<T>,
    options: { deadline?: boolean } = {},
  ): Promise<T> {
    if (this.#down !== null) throw new StoreUnavailableError(what, this.#down.reason);
    try {
      if (options.deadline === false) return await fn();
      return await withDeadline(fn(), this.#deadlineMs, what);
    } catch (error) {
      if (isConnectionError(error)) throw this.fail(what, error);
      throw error;
    }
  }

  /**
   * Notes a lost connection: the database is down until a probe succeeds.
   *
   * @returns The error to reject the operation `what` with.
   */
  fail(what: string, error: unknown): StoreUnavailableError {
    const reason = connectionReason(error);
    if (this.#down === null && !this.#closed) {
      this.#down = { reason, since: Date.now() };
      this.#attempts = 0;
      this.#options.logger.error("store.unavailable", { db: this.#options.shown, reason });
      this.#options.onDown?.();
      this.#schedule();
    }
    return this.unavailable(what, error);
  }

  /**
   * The error to reject the operation `what` with, for a connection lost in
   * an outage already noted (its pool retired since): not noted again.
   */
  unavailable(what: string, error: unknown): StoreUnavailableError {
    return new StoreUnavailableError(what, connectionReason(error), { cause: error });
  }

  /** Marks the database down from the start (it could not be reached when opened). */
  startDown(error: unknown): void {
    this.fail("open", error);
  }

  /** Stops probing. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    const wait = Math.min(this.#backoff.max, this.#backoff.first * 2 ** this.#attempts);
    this.#timer = setTimeout(() => this.#probe(), wait);
  }

  async #probe(): Promise<void> {
    if (this.#closed || this.#down === null) return;
    this.#attempts++;
    try {
      await withDeadline(this.#options.probe(), this.#deadlineMs, "reach the database");
    } catch (error) {
      if (this.#closed) return;
      if (this.#options.isFatal ? this.#options.isFatal(error) : !isConnectionError(error)) {
        this.#options.logger.error("store.failed", {
          db: this.#options.shown,
          error: String(error),
        });
        this.#options.onFatal?.(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (this.#attempts % 30 === 0) {
        this.#options.logger.warn("store.still_unavailable", {
          db: this.#options.shown,
          reason: connectionReason(error),
          attempts: this.#attempts,
        });
      }
      this.#schedule();
      return;
    }
    if (this.#closed) return;
    const downMs = Date.now() - this.#down.since;
    this.#down = null;
    this.#options.logger.info("store.reconnected", { db: this.#options.shown, down_ms: downMs });
    this.#options.onUp?.();
  }
}
