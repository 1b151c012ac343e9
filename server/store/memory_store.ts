/**
 * A {@linkcode Store} in this process's memory: nothing is written
 * anywhere, so it needs no permission at all, and everything is lost when
 * the process ends. For tests that exercise the daemon through the wire
 * with nothing but `--allow-net` (`deno test --allow-net`), and for trying
 * the daemon out. It passes the same conformance suite as every store.
 *
 * Writes take effect in call order, each at once (there is no disk to wait
 * for); reads see every write made before them.
 *
 * @module
 */

import type { ListFilter, Pedido, PedidoNuevo } from "../protocol/messages.ts";
import { newPedido } from "./new_pedido.ts";
import type { ChangeResult, InsertResult, Outcome, Rol, Sesion, Store, Usuario } from "./store.ts";

interface Row {
  pedido: Pedido;
  owner: number | null;
  /**
   * Its place in the queue when a REINTENTAR put it back at the end: after
   * order `[0]` (the last id given then), the `[1]`th retry since. Absent:
   * its id is its place.
   */
  cola?: [number, number];
}

const FINISHED = new Set(["listo", "error", "cancelado"]);

/** Orders, accounts and sessions in memory. */
/** What an order back in the queue has of its last attempt: nothing. */
const PENDING_AGAIN = {
  estado: "pendiente",
  fecha_inicio: null,
  fecha_fin: null,
  worker: null,
  detalle_error: null,
  resultado: null,
  duracion_ms: null,
} as const;

export class MemoryStore implements Store {
  /** Orders by id, in id order (a Map keeps insertion order). */
  readonly #rows = new Map<number, Row>();
  readonly #byClave = new Map<string, number>();
  readonly #users = new Map<string, Usuario>();
  readonly #usersById = new Map<number, Usuario>();
  readonly #sessions = new Map<string, { usuarioId: number; expira: string }>();
  #lastId = 0;
  #retries = 0;
  #lastUserId = 0;
  #closed = false;

  /** {@inheritDoc Store.insert} */
  insert(
    pedido: PedidoNuevo,
    receivedAt: string,
    owner: number | null = null,
  ): Promise<InsertResult> {
    return this.#do(() => {
      if (pedido.clave !== null) {
        const existing = this.#byClave.get(pedido.clave);
        if (existing !== undefined) {
          return { status: "duplicate", pedido: this.#copy(existing)! } as InsertResult;
        }
      }
      const stored = newPedido(++this.#lastId, structuredClone(pedido), receivedAt);
      this.#rows.set(stored.id, { pedido: stored, owner });
      if (pedido.clave !== null) this.#byClave.set(pedido.clave, stored.id);
      return { status: "inserted", pedido: structuredClone(stored) };
    });
  }

  /** {@inheritDoc Store.markStarted} */
  markStarted(id: number, worker: number, at: string): Promise<void> {
    return this.#do(() => {
      const p = this.#row(id, "start").pedido;
      Object.assign(p, {
        estado: "en proceso",
        fecha_inicio: at,
        worker,
        intentos: p.intentos + 1,
        fecha_fin: null,
        detalle_error: null,
      });
    });
  }

  /** {@inheritDoc Store.markFinished} */
  markFinished(id: number, outcome: Outcome): Promise<void> {
    return this.#do(() => this.#end(this.#row(id, "finish").pedido, outcome));
  }

  /** {@inheritDoc Store.markRan} */
  markRan(id: number, worker: number, startedAt: string, outcome: Outcome): Promise<void> {
    return this.#do(() => {
      const p = this.#row(id, "finish").pedido;
      Object.assign(p, { fecha_inicio: startedAt, worker, intentos: p.intentos + 1 });
      this.#end(p, outcome);
    });
  }

  /** {@inheritDoc Store.markPending} */
  markPending(id: number): Promise<void> {
    return this.#do(() => {
      Object.assign(this.#row(id, "reset").pedido, PENDING_AGAIN);
    });
  }

  /** {@inheritDoc Store.cancel} */
  cancel(id: number, at: string, owner?: number): Promise<ChangeResult> {
    return this.#change(id, owner, (p) => {
      if (p.estado !== "pendiente") return false;
      Object.assign(p, { estado: "cancelado", fecha_fin: at });
      return true;
    });
  }

  /** {@inheritDoc Store.retry} */
  retry(id: number, owner?: number): Promise<ChangeResult> {
    return this.#change(id, owner, (p) => {
      if (p.estado !== "error") return false;
      Object.assign(p, PENDING_AGAIN);
      // At the end of the queue: after every order stored now, before every later one.
      this.#rows.get(id)!.cola = [this.#lastId, ++this.#retries];
      return true;
    });
  }

  /** {@inheritDoc Store.prune} */
  prune(before: string, limit: number): Promise<number> {
    return this.#do(() => {
      let deleted = 0;
      for (const [id, { pedido }] of this.#rows) {
        if (deleted >= limit) break;
        if (!FINISHED.has(pedido.estado) || pedido.fecha_fin === null) continue;
        if (pedido.fecha_fin >= before) continue;
        this.#rows.delete(id);
        if (pedido.clave !== null) this.#byClave.delete(pedido.clave);
        deleted++;
      }
      return deleted;
    });
  }

  /** {@inheritDoc Store.get} */
  get(id: number, owner?: number): Promise<Pedido | null> {
    return this.#do(() => {
      const row = this.#rows.get(id);
      if (row === undefined || (owner !== undefined && row.owner !== owner)) return null;
      return structuredClone(row.pedido);
    });
  }

  /** {@inheritDoc Store.findByClave} */
  findByClave(clave: string): Promise<Pedido | null> {
    return this.#do(() => {
      const id = this.#byClave.get(clave);
      return id === undefined ? null : this.#copy(id);
    });
  }

  /** {@inheritDoc Store.list} */
  list(filter: ListFilter): Promise<Pedido[]> {
    return this.#do(() => {
      const found: Pedido[] = [];
      for (const { pedido, owner } of [...this.#rows.values()].reverse()) {
        if (found.length >= filter.limit) break;
        if (filter.estado !== undefined && pedido.estado !== filter.estado) continue;
        if (filter.cliente !== undefined && pedido.cliente !== filter.cliente) continue;
        if (filter.antesDe !== undefined && pedido.id >= filter.antesDe) continue;
        if (filter.usuarioId !== undefined && owner !== filter.usuarioId) continue;
        found.push(structuredClone(pedido));
      }
      return found;
    });
  }

  /** {@inheritDoc Store.unfinished} */
  unfinished(): Promise<Pedido[]> {
    const place = ({ pedido, cola }: Row) => cola ?? [pedido.id, 0];
    return this.#do(() =>
      [...this.#rows.values()]
        .filter(({ pedido }) => pedido.estado === "pendiente" || pedido.estado === "en proceso")
        .map((row) => ({ row, at: place(row) }))
        .sort((a, b) => a.at[0] - b.at[0] || a.at[1] - b.at[1])
        .map(({ row }) => structuredClone(row.pedido))
    );
  }

  /** {@inheritDoc Store.createUser} */
  createUser(usuario: string, hash: string, at: string): Promise<number | null> {
    return this.#do(() => {
      const key = asciiLower(usuario);
      if (this.#users.has(key)) return null;
      const user: Usuario = { id: ++this.#lastUserId, usuario, hash, creado: at, rol: "usuario" };
      this.#users.set(key, user);
      this.#usersById.set(user.id, user);
      return user.id;
    });
  }

  /** {@inheritDoc Store.findUser} */
  findUser(usuario: string): Promise<Usuario | null> {
    return this.#do(() => {
      const user = this.#users.get(asciiLower(usuario));
      return user === undefined ? null : { ...user };
    });
  }

  /** {@inheritDoc Store.setRole} */
  setRole(usuario: string, rol: Rol): Promise<boolean> {
    return this.#do(() => {
      const user = this.#users.get(asciiLower(usuario));
      if (user === undefined) return false;
      user.rol = rol;
      return true;
    });
  }

  /** {@inheritDoc Store.createSession} */
  createSession(tokenHash: string, usuarioId: number, expira: string): Promise<void> {
    return this.#do(() => {
      if (!this.#usersById.has(usuarioId)) {
        throw new Error(`Cannot create session: no account has id ${usuarioId}`);
      }
      this.#sessions.set(tokenHash, { usuarioId, expira });
    });
  }

  /** {@inheritDoc Store.findSession} */
  findSession(tokenHash: string, now: string): Promise<Sesion | null> {
    return this.#do(() => {
      const session = this.#sessions.get(tokenHash);
      if (session === undefined || session.expira <= now) return null;
      const user = this.#usersById.get(session.usuarioId)!;
      return { usuarioId: user.id, usuario: user.usuario, expira: session.expira, rol: user.rol };
    });
  }

  /** {@inheritDoc Store.deleteExpiredSessions} */
  deleteExpiredSessions(now: string): Promise<number> {
    return this.#do(() => {
      let deleted = 0;
      for (const [hash, { expira }] of this.#sessions) {
        if (expira <= now) {
          this.#sessions.delete(hash);
          deleted++;
        }
      }
      return deleted;
    });
  }

  /** Forgets everything; later calls reject. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Calls {@linkcode MemoryStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs one operation now; rejects, as a store would, when closed or when it throws. */
  #do<T>(operation: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("Cannot use the store: it is closed"));
    try {
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #row(id: number, verb: string): Row {
    const row = this.#rows.get(id);
    if (row === undefined) throw new Error(`Cannot ${verb} order ${id}: not found`);
    return row;
  }

  #copy(id: number): Pedido | null {
    const row = this.#rows.get(id);
    return row === undefined ? null : structuredClone(row.pedido);
  }

  #end(p: Pedido, outcome: Outcome): void {
    Object.assign(p, {
      estado: outcome.estado,
      fecha_fin: outcome.at,
      detalle_error: outcome.estado === "error" ? outcome.detalle ?? null : null,
      resultado: outcome.resultado === undefined ? null : JSON.parse(outcome.resultado),
    });
    this.#duration(p);
  }

  #change(
    id: number,
    owner: number | undefined,
    apply: (p: Pedido) => boolean,
  ): Promise<ChangeResult> {
    return this.#do(() => {
      const row = this.#rows.get(id);
      if (row === undefined || (owner !== undefined && row.owner !== owner)) {
        return { status: "not_found" } as ChangeResult;
      }
      const changed = apply(row.pedido);
      this.#duration(row.pedido);
      return { status: changed ? "changed" : "refused", pedido: structuredClone(row.pedido) };
    });
  }

  #duration(p: Pedido): void {
    p.duracion_ms = p.fecha_inicio !== null && p.fecha_fin !== null
      ? Date.parse(p.fecha_fin) - Date.parse(p.fecha_inicio)
      : null;
  }
}

/** A name as the SQLite and PostgreSQL stores compare names: ASCII letters in lower case, others as they are. */
function asciiLower(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}
