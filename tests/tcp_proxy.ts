/**
 * A TCP proxy on 127.0.0.1 for the store-down tests: daemons are pointed at
 * it instead of PostgreSQL, and the test decides when it forwards, so that
 * "the database is unreachable" is something the test switches on and off.
 *
 * @module
 */

/** Two connections forwarded to each other. */
interface Pair {
  a: Deno.TcpConn;
  b: Deno.TcpConn;
  done: Promise<unknown>;
  /** Black-holed: both stay open, nothing sent either way arrives. */
  frozen: boolean;
  /** Sprung on this pair: what the server sends is dropped until `afterReply` is seen. */
  sprung: Trap | null;
}

/** What {@linkcode TcpProxy.breakAt} waits for, and what it does then. */
interface Trap {
  marker: Uint8Array;
  afterReply: Uint8Array;
  deliver: boolean;
  freeze: boolean;
  thenCut: boolean;
  sprang: () => void;
}

/**
 * A proxy that can be opened (forwarding), cut (closed, refusing) and
 * frozen (its connections silent while new ones work).
 */
export class TcpProxy implements AsyncDisposable {
  /** The port it listens on while open (fixed for its life). */
  readonly port: number;
  readonly #target: { hostname: string; port: number };
  #listener: Deno.TcpListener | null = null;
  #accepting: Promise<void> | null = null;
  readonly #pairs = new Set<Pair>();
  #trap: Trap | null = null;
  #replyTrap: { marker: Uint8Array; sprang: () => void } | null = null;

  /** The address it listens on. */
  readonly hostname: string;

  /**
   * A proxy to `target` on a free port of `hostname` (default `127.0.0.1`),
   * not listening yet: nothing answers there.
   */
  constructor(target: { hostname: string; port: number }, hostname = "127.0.0.1") {
    this.#target = target;
    this.hostname = hostname;
    const probe = Deno.listen({ hostname, port: 0 });
    this.port = (probe.addr as Deno.NetAddr).port;
    probe.close();
  }

  /** `url` (a database's, say) with this proxy's port in place of its own. */
  through(url: string): string {
    const through = new URL(url);
    through.hostname = this.hostname.includes(":") ? `[${this.hostname}]` : this.hostname;
    through.port = String(this.port);
    return through.href;
  }

  /** Starts listening and forwarding. */
  open(): void {
    if (this.#listener !== null) return;
    const listener = Deno.listen({ hostname: this.hostname, port: this.port });
    this.#listener = listener;
    this.#accepting = (async () => {
      for await (const conn of listener) this.#forward(conn);
    })().catch(() => {});
  }

  /** Stops listening and breaks every connection through it. */
  async cut(): Promise<void> {
    const listener = this.#listener;
    this.#listener = null;
    if (listener !== null) {
      try {
        listener.close();
      } catch {
        // closed
      }
      await this.#accepting;
    }
    const pairs = [...this.#pairs];
    for (const { a, b } of pairs) {
      for (const conn of [a, b]) {
        try {
          conn.close();
        } catch {
          // closed
        }
      }
    }
    await Promise.allSettled(pairs.map((pair) => pair.done));
  }

  /**
   * Black-holes every connection through it now: they stay open, and what
   * either side sends is dropped, as on a network path that went dark
   * without a reset (a failover behind a virtual address, a firewall that
   * forgot the connection). Connections made later forward as usual.
   *
   * @returns How many connections were frozen.
   */
  freeze(): number {
    for (const pair of this.#pairs) pair.frozen = true;
    return this.#pairs.size;
  }

  /**
   * Breaks the next connection on which the client sends `marker` (say, a
   * `COMMIT`'s text), in one of two ways:
   *
   * - `deliver: true`: what the client sent goes on to the server, and the
   *   server's answers on that connection are dropped until one carries
   *   `afterReply` (e.g. `COMMIT\0`, the tag of the commit's completion):
   *   the server has done it, the client never hears. Then both sides are
   *   closed.
   * - `deliver: false`: the data with the marker is dropped and both sides
   *   closed at once: the server never gets it. With `freeze`, they stay
   *   open instead, silent both ways (as {@linkcode freeze} does).
   *
   * With `thenCut`, the proxy stops listening at the same moment, so the
   * client cannot come back through it until {@linkcode open}.
   *
   * @returns Resolves once it has broken the connection.
   */
  breakAt(
    marker: string,
    options: { deliver: boolean; afterReply?: string; freeze?: boolean; thenCut?: boolean },
  ): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const bytes = new TextEncoder();
    this.#trap = {
      marker: bytes.encode(marker),
      afterReply: bytes.encode(options.afterReply ?? ""),
      deliver: options.deliver,
      freeze: options.freeze ?? false,
      thenCut: options.thenCut ?? false,
      sprang: resolve,
    };
    return promise;
  }

  /**
   * Breaks the next connection on which the server sends `marker` (say, a
   * value of the rows a statement returns): the data carrying it is dropped
   * and both sides are closed. The server has done the work, and the client
   * never hears of it.
   *
   * @returns Resolves once it has broken the connection.
   */
  breakAtReply(marker: string): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#replyTrap = { marker: new TextEncoder().encode(marker), sprang: resolve };
    return promise;
  }

  /** Stops listening: new connections are refused; those open go on as they are. */
  stopAccepting(): void {
    this.#stopListening();
  }

  /** Stops listening (new connections are refused); those open go on. */
  #stopListening(): void {
    const listener = this.#listener;
    this.#listener = null;
    try {
      listener?.close();
    } catch {
      // closed
    }
  }

  async #forward(a: Deno.TcpConn): Promise<void> {
    let b: Deno.TcpConn;
    try {
      b = await Deno.connect(this.#target);
    } catch {
      a.close();
      return;
    }
    const pair: Pair = { a, b, done: Promise.resolve(), frozen: false, sprung: null };
    const closeBoth = () => {
      for (const conn of [a, b]) {
        try {
          conn.close();
        } catch {
          // closed
        }
      }
    };
    // The last bytes seen each way, so that a marker split across chunks is found.
    const tails = new Map<Deno.TcpConn, Uint8Array>();
    const seen = (from: Deno.TcpConn, chunk: Uint8Array, marker: Uint8Array): boolean => {
      const tail = tails.get(from) ?? new Uint8Array();
      const both = new Uint8Array(tail.length + chunk.length);
      both.set(tail);
      both.set(chunk, tail.length);
      tails.set(from, both.slice(Math.max(0, both.length - 64)));
      return marker.length > 0 && indexOf(both, marker) >= 0;
    };
    const copy = async (from: Deno.TcpConn, to: Deno.TcpConn) => {
      const writer = to.writable.getWriter();
      try {
        for await (const chunk of from.readable) {
          const trap = this.#trap;
          if (from === a && trap !== null && pair.sprung === null && seen(a, chunk, trap.marker)) {
            this.#trap = null;
            if (trap.thenCut) this.#stopListening();
            if (!trap.deliver) {
              trap.sprang();
              if (trap.freeze) {
                pair.frozen = true;
                continue;
              }
              closeBoth();
              break;
            }
            pair.sprung = trap;
            // Only answers from now on count: the last commit's tag may be in the tail.
            tails.delete(b);
            await writer.write(chunk);
            continue;
          }
          const replyTrap = this.#replyTrap;
          if (from === b && replyTrap !== null && seen(b, chunk, replyTrap.marker)) {
            this.#replyTrap = null;
            closeBoth();
            replyTrap.sprang();
            break;
          }
          if (from === b && pair.sprung !== null) {
            if (seen(b, chunk, pair.sprung.afterReply)) {
              closeBoth();
              pair.sprung.sprang();
              break;
            }
            continue;
          }
          if (!pair.frozen) await writer.write(chunk);
        }
      } catch {
        // one side broke
      }
      for (const conn of [from, to]) {
        try {
          conn.close();
        } catch {
          // closed
        }
      }
    };
    pair.done = Promise.allSettled([copy(a, b), copy(b, a)]).finally(() =>
      this.#pairs.delete(pair)
    );
    this.#pairs.add(pair);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cut();
  }
}

/** Where `needle` first occurs in `hay`, or -1. */
function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
