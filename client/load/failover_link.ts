/**
 * A connection to the first of several daemons that answers, opened again
 * when it breaks or its daemon says it is stopping: then on the hosts after
 * that one first, so that a daemon that still accepts connections while it
 * stops is not chosen again at once. Used by the load generator's wait for
 * `listo` (`wait_for_listos.ts`), which goes on from another daemon of a
 * cluster when the one it was waiting on stops or dies.
 *
 * @module
 */

import { PedidosClient } from "../client.ts";
import { firstToConnect } from "../dial.ts";

/** Options of {@linkcode FailoverLink}. */
export interface FailoverLinkOptions {
  /** The daemons' hosts, in the order to try them; not empty. */
  hosts: readonly string[];
  port: number;
  /** How long one connection attempt may take, ms. @default {the client's} */
  connectTimeoutMs?: number;
  /** Stops connecting: a connection attempt then rejects. */
  signal?: AbortSignal;
}

/** One connection at a time to the first of `hosts` that answers. */
export class FailoverLink implements AsyncDisposable {
  readonly #options: FailoverLinkOptions;
  #client: PedidosClient | null = null;
  #opening: Promise<PedidosClient> | null = null;
  /** Where the next connection tries first: after the host of the last one given up. */
  #start = 0;
  /** The place in `hosts` of the current connection's host. */
  #host = 0;
  #closed = false;
  /** Connections given up and still closing: {@linkcode FailoverLink.close} waits for them. */
  readonly #dropped = new Set<Promise<void>>();

  constructor(options: FailoverLinkOptions) {
    if (options.hosts.length === 0) throw new RangeError("Cannot connect: no hosts given");
    this.#options = options;
  }

  /**
   * The connection, opened when there is none (one attempt for all the
   * callers that ask meanwhile).
   *
   * @throws {ClientError} When no host connects (`connect_failed`), or the signal aborted.
   */
  get(): Promise<PedidosClient> {
    if (this.#closed) return Promise.reject(new Error("Cannot connect: the link is closed"));
    if (this.#client !== null) return Promise.resolve(this.#client);
    this.#opening ??= this.#open().finally(() => this.#opening = null);
    return this.#opening;
  }

  async #open(): Promise<PedidosClient> {
    const { hosts, port, connectTimeoutMs, signal } = this.#options;
    const order = [...hosts.keys()].map((i) => (this.#start + i) % hosts.length);
    const { value, index } = await firstToConnect(
      order.map((i) => hosts[i]!),
      (hostname) =>
        PedidosClient.connect({
          hostname,
          port,
          ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
          ...(signal === undefined ? {} : { signal }),
        }),
    );
    if (this.#closed) {
      await value.close();
      throw new Error("Cannot connect: the link is closed");
    }
    this.#client = value;
    this.#host = order[index]!;
    return value;
  }

  /**
   * Gives `client` up (it broke, or its daemon is stopping) and closes it;
   * the next {@linkcode FailoverLink.get} tries the hosts after its host
   * first. A connection given up already is only closed.
   */
  drop(client: PedidosClient): void {
    if (this.#client === client) {
      this.#client = null;
      this.#start = (this.#host + 1) % this.#options.hosts.length;
    }
    const closing = client.close().catch(() => {});
    this.#dropped.add(closing);
    closing.finally(() => this.#dropped.delete(closing));
  }

  /** Closes the connection, and waits for those given up to be closed; no other is opened. */
  async close(): Promise<void> {
    this.#closed = true;
    const opening = this.#opening;
    await opening?.catch(() => {});
    const client = this.#client;
    this.#client = null;
    await client?.close();
    await Promise.all(this.#dropped);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
