/**
 * A TCP proxy on 127.0.0.1 for the store-down tests: daemons are pointed at
 * it instead of PostgreSQL, and the test decides when it forwards, so that
 * "the database is unreachable" is something the test switches on and off.
 *
 * @module
 */

/** A proxy that can be opened (forwarding) and cut (closed, refusing). */
export class TcpProxy implements AsyncDisposable {
  /** The port it listens on while open (fixed for its life). */
  readonly port: number;
  readonly #target: { hostname: string; port: number };
  #listener: Deno.TcpListener | null = null;
  #accepting: Promise<void> | null = null;
  readonly #pairs = new Set<{ a: Deno.TcpConn; b: Deno.TcpConn; done: Promise<unknown> }>();

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

  async #forward(a: Deno.TcpConn): Promise<void> {
    let b: Deno.TcpConn;
    try {
      b = await Deno.connect(this.#target);
    } catch {
      a.close();
      return;
    }
    const copy = async (from: Deno.TcpConn, to: Deno.TcpConn) => {
      try {
        await from.readable.pipeTo(to.writable, { preventClose: false });
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
    const pair = { a, b, done: Promise.resolve() as Promise<unknown> };
    pair.done = Promise.allSettled([copy(a, b), copy(b, a)]).finally(() =>
      this.#pairs.delete(pair)
    );
    this.#pairs.add(pair);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cut();
  }
}
