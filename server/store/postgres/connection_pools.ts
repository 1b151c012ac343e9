/**
 * The store's two pools of connections, which can be replaced as a whole.
 *
 * When the database is found unreachable, the pools in use are retired and
 * new ones are opened (lazily: a pool connects on its first query). A
 * connection can die without the driver noticing — the path to the server
 * goes dark without a reset (a failover behind a virtual address, a
 * firewall that forgot it), or it broke while reserved — and the driver
 * keeps such a connection for ever: every query given to it waits for its
 * deadline, and a pool whose connections are all like that never serves
 * again. Retired pools end gracefully: what runs on them may finish within
 * {@linkcode ConnectionPoolsOptions.retireS}, then their sockets are closed.
 *
 * @module
 */

import postgres, { type Options, type Sql } from "postgres";

type DriverOptions = Options<Record<string, never>>;

/** Options of {@linkcode ConnectionPools}. */
export interface ConnectionPoolsOptions {
  /** Reads and the writer. */
  main: DriverOptions;
  /** Claims, renewals and notifications. */
  fast: DriverOptions;
  /** How long a retired pool's queries may still run, s. @default {5} */
  retireS?: number;
}

/** The main and fast pools of one store. */
export class ConnectionPools {
  readonly #options: ConnectionPoolsOptions;
  readonly #retireS: number;
  #main: Sql;
  #fast: Sql;
  readonly #retiring = new Set<Promise<void>>();
  #replaced = 0;

  constructor(options: ConnectionPoolsOptions) {
    this.#options = options;
    this.#retireS = options.retireS ?? 5;
    this.#main = this.#open("main");
    this.#fast = this.#open("fast");
  }

  /**
   * A new pool with `which`'s options. Its `onclose` hears the closes of a
   * retired pool's connections too: what still runs on one of them may wait
   * on a connection that closed (the writer's transactions name theirs).
   */
  #open(which: "main" | "fast"): Sql {
    return postgres(this.#options[which]);
  }

  /** The pool of reads and the writer now. */
  get main(): Sql {
    return this.#main;
  }

  /** The pool of claims, renewals and notifications now. */
  get fast(): Sql {
    return this.#fast;
  }

  /**
   * A client of one connection, of its own, with the main pool's options:
   * for work that must not share the pools' state, such as the looks of a
   * lost commit's recovery (`lost_commit.ts`), which go on while the
   * database cannot be reached — many connections that fail in a row left
   * the driver's pool (postgres 3.4.9) with none it would hand out, and the
   * probes that should see the database back waited out their deadline.
   * End it after use.
   */
  single(): Sql {
    // Without the pools' `onclose`: its close says nothing of their transactions.
    const { onclose: _onclose, ...main } = this.#options.main;
    return postgres({ ...main, max: 1 });
  }

  /** How many times the pools were replaced. */
  get replaced(): number {
    return this.#replaced;
  }

  /** Opens new pools for what comes next and retires the ones in use. */
  replace(): void {
    const old = [this.#main, this.#fast];
    this.#main = this.#open("main");
    this.#fast = this.#open("fast");
    this.#replaced++;
    for (const pool of old) this.#retire(pool);
  }

  /** Ends every pool, current and retired. */
  async end(timeoutS: number): Promise<void> {
    this.#retire(this.#main, timeoutS);
    this.#retire(this.#fast, timeoutS);
    while (this.#retiring.size > 0) await Promise.all(this.#retiring);
  }

  #retire(pool: Sql, timeoutS = this.#retireS): void {
    const ending: Promise<void> = pool.end({ timeout: timeoutS }).catch(() => {}).finally(() =>
      this.#retiring.delete(ending)
    );
    this.#retiring.add(ending);
  }
}
