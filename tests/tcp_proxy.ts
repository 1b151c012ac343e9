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

  /** A proxy to `target` on a free port, not listening yet: nothing answers there. */
  constructor(target: { hostname: string; port: number }) {
    this.#target = target;
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (probe.addr as Deno.NetAddr).port;
    probe.close();
  }

  /** Starts listening and forwarding. */
  open(): void {
    if (this.#listener !== null) return;
    const listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
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

  async #forward(a: Deno.TcpConn): Promise<void> {
    let b: Deno.TcpConn;
    try {
      b = await Deno.connect(this.#target);
    } catch {
      a.close();
      return;
    }
    const pair: Pair = { a, b, done: Promise.resolve(), frozen: false };
    const copy = async (from: Deno.TcpConn, to: Deno.TcpConn) => {
      const writer = to.writable.getWriter();
      try {
        for await (const chunk of from.readable) {
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
