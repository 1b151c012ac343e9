/**
 * The `clave`s of orders being stored by this daemon now. A PEDIDO that
 * finds no room must still answer `duplicado` when its `clave` is stored
 * (§8 "Idempotency first"), also when the order holding it was sent just
 * before, pipelined on the same connection, and is not committed yet: as
 * if each request waited for the previous reply, it waits for that insert
 * and looks again.
 *
 * @module
 */

/** Inserts in flight, by `clave`. */
export class ClavesInFlight {
  readonly #inserts = new Map<string, Set<Promise<unknown>>>();

  /** Tracks `insert` of an order with `clave` (none: nothing to track) until it settles. */
  track<T>(clave: string | null, insert: Promise<T>): Promise<T> {
    if (clave === null) return insert;
    let inserts = this.#inserts.get(clave);
    if (inserts === undefined) this.#inserts.set(clave, inserts = new Set());
    const tracked = insert.finally(() => {
      inserts.delete(tracked);
      if (inserts.size === 0 && this.#inserts.get(clave) === inserts) this.#inserts.delete(clave);
    });
    // Its outcome is the caller's; the set only needs to know when it settled.
    tracked.catch(() => {});
    inserts.add(tracked);
    return insert;
  }

  /**
   * Resolves once every insert of `clave` in flight now has settled; true
   * when there was one (the `clave` may be stored now).
   */
  async settled(clave: string): Promise<boolean> {
    const inserts = this.#inserts.get(clave);
    if (inserts === undefined) return false;
    await Promise.allSettled([...inserts]);
    return true;
  }
}
