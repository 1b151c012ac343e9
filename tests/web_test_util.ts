/**
 * Helpers for the gateway's handler tests: a fake daemon (no sockets) and a
 * tiny browser that keeps cookies and fills in the CSRF token, like a real
 * one would.
 *
 * @module
 */

import { ClientError } from "../client/client.ts";
import type { DaemonClient, DaemonRequest } from "../client/web/daemon.ts";
import { createGatewayHandler, type GatewayHandler } from "../client/web/app.tsx";
import { Logger } from "../server/log.ts";
import type { ErrorCode } from "../server/protocol/errors.ts";
import type { Pedido } from "../server/protocol/messages.ts";
import type { ErrorReply, Op, Reply, ReplyOf, Stats } from "../server/protocol/replies.ts";
import { renderTareasHtml } from "../server/accounts/tareas_html.ts";
import { newPedido } from "../server/store/new_pedido.ts";

/** The origin the fake browser browses. */
export const ORIGIN = "http://pedidos.test";

/** A daemon in memory that speaks enough of the protocol for the gateway. */
export class FakeDaemon implements DaemonClient {
  readonly address = "localhost:8888";
  /** Every request received, in order. */
  readonly requests: Record<string, unknown>[] = [];
  /** Throw `connect_failed` for every request, like a daemon that is down. */
  down = false;
  /** Throw `timeout` for every request, like a daemon that took it and never answered. */
  silent = false;
  /** Throw `timeout` for the requests it is true of (their op upper case, their fields). */
  unanswered: ((op: string, data: Record<string, unknown>) => boolean) | null = null;
  /** Awaited before each request is answered (what happens while it is in flight). */
  beforeAnswer: ((op: string) => Promise<void>) | null = null;
  /** Answer this error to the next requests of an op (e.g. `{ TASK: "queue_full" }`). */
  readonly refuse: Partial<Record<Op, ErrorCode>> = {};
  readonly users = new Map<string, { usuario: string; password: string }>();
  readonly tokens = new Map<string, string>();
  /** Names (lower case) whose LOGIN answers `rol: "operador"`. */
  readonly operators = new Set<string>();
  readonly pedidos: Pedido[] = [];
  /**
   * The account (its name as it signed in) of each order placed with a
   * token. As the daemon (§2.10): a token of an account that is not in
   * {@linkcode operators} at that request sees only its own orders; an
   * order placed without a token is nobody's, seen by such a token only
   * when {@linkcode scoped} is off.
   */
  readonly owners = new Map<number, string>();
  /**
   * Off, a token also sees the orders that have no owner, as this fake
   * always answered (the older tests add orders without one and read them
   * as any user); on, exactly as the daemon: only its own.
   */
  scoped = false;
  /** The last id given: ids are never reused, even after an order is removed (retention). */
  #lastId = 0;
  stats: Stats = {
    recibidos: 0,
    aceptados: 0,
    rechazados: 0,
    pendientes: 0,
    en_proceso: 0,
    listos: 0,
    errores: 0,
    cancelados: 0,
    capacidad: 6,
    libres: 6,
    workers: 3,
    conexiones: 2,
    duracion_ms: { min: null, p50: null, p95: null, max: null, avg: null },
    uptime_s: 5,
  };
  #nextToken = 1;

  request<O extends Op = "PEDIDO">(body: DaemonRequest<O>): Promise<ReplyOf<O>> {
    this.requests.push(structuredClone(body));
    const before = this.beforeAnswer;
    if (before === null) return this.#reply(body);
    this.beforeAnswer = null;
    return before(String(body.op ?? "PEDIDO").toUpperCase()).then(() => this.#reply(body));
  }

  #reply<O extends Op>(body: DaemonRequest<O>): Promise<ReplyOf<O>> {
    if (this.down) {
      return Promise.reject(
        new ClientError("connect_failed", "Cannot connect to localhost:8888: Connection refused"),
      );
    }
    if (this.silent) {
      return Promise.reject(new ClientError("timeout", "No reply from the daemon within 15000 ms"));
    }
    const op = String(body.op ?? "PEDIDO").toUpperCase();
    const data = (body.data ?? body) as Record<string, unknown>;
    if (this.unanswered?.(op, data)) {
      return Promise.reject(new ClientError("timeout", "No reply from the daemon within 15000 ms"));
    }
    const refused = this.refuse[op as Op];
    if (refused) return Promise.resolve(fail(refused, `❌ Falla simulada: ${refused}.`));
    // As the daemon: a request with a session token it does not know is refused.
    if (typeof data.token === "string" && !this.tokens.has(data.token)) {
      return Promise.resolve(fail("unauthorized", "❌ Sesión inválida o vencida."));
    }
    // The fake answers each op with that op's reply; the cast states it.
    return Promise.resolve(this.#answer(op, data) as ReplyOf<O>);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Requests of one op. */
  sent(op: string): Record<string, unknown>[] {
    return this.requests.filter((r) => r.op === op);
  }

  /** Adds a stored order. */
  addPedido(fields: Partial<Pedido> = {}): Pedido {
    const order = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null };
    const received = new Date().toISOString();
    const id = Math.max(this.#lastId, this.pedidos.length) + 1;
    const pedido: Pedido = { ...newPedido(id, order, received), ...fields };
    this.#lastId = pedido.id;
    this.pedidos.push(pedido);
    return pedido;
  }

  /** Removes an order, as retention does (its id is not given again). */
  prune(id: number): void {
    const at = this.pedidos.findIndex((p) => p.id === id);
    if (at >= 0) this.pedidos.splice(at, 1);
  }

  /** Whether the request's token (if any) sees `pedido`: the role is read at every request. */
  #sees(data: Record<string, unknown>, pedido: Pedido): boolean {
    if (typeof data.token !== "string") return true;
    const usuario = this.tokens.get(data.token)?.toLowerCase();
    if (usuario === undefined) return false;
    const owner = this.owners.get(pedido.id)?.toLowerCase();
    return this.operators.has(usuario) || owner === usuario ||
      (!this.scoped && owner === undefined);
  }

  /** The order `id` as the request's token sees it. */
  #find(data: Record<string, unknown>): Pedido | undefined {
    const pedido = this.pedidos.find((p) => p.id === data.id);
    return pedido !== undefined && this.#sees(data, pedido) ? pedido : undefined;
  }

  #answer(op: string, data: Record<string, unknown>): Reply {
    switch (op) {
      case "PING":
        return { ok: true, pong: true };
      case "REGISTRO": {
        const usuario = String(data.usuario);
        if (!/^[\p{L}\p{M}0-9._-]{3,64}$/u.test(usuario)) {
          return fail("invalid_user", "❌ El usuario debe tener de 3 a 64 caracteres.");
        }
        if (String(data.password).length < 8) {
          return fail("invalid_user", "❌ La contraseña debe tener de 8 a 256 caracteres.");
        }
        if (this.users.has(usuario.toLowerCase())) {
          return fail("user_exists", `❌ El usuario ${usuario} ya existe.`);
        }
        this.users.set(usuario.toLowerCase(), { usuario, password: String(data.password) });
        return { ok: true, usuario };
      }
      case "LOGIN": {
        const user = this.users.get(String(data.usuario).toLowerCase());
        if (!user || user.password !== data.password) {
          return fail("bad_credentials", "❌ Usuario o contraseña incorrectos.");
        }
        const token = `daemon-token-${this.#nextToken++}-${"x".repeat(30)}`;
        this.tokens.set(token, user.usuario);
        const expira = new Date(Date.now() + 3600_000).toISOString();
        const rol = this.operators.has(user.usuario.toLowerCase()) ? "operador" : "usuario";
        return { ok: true, usuario: user.usuario, token, expira, rol };
      }
      case "GET_TAREAS_HTML": {
        const usuario = this.tokens.get(String(data.token));
        if (usuario === undefined) return fail("unauthorized", "❌ Sesión inválida o vencida.");
        return { ok: true, html: renderTareasHtml({ usuario, workers: this.stats.workers }) };
      }
      case "TASK": {
        const task = data.task as { name: string; args?: unknown[]; s?: unknown };
        if (task.name === "sum") {
          if (!task.args?.every((n) => typeof n === "number")) {
            return fail("invalid_task", '❌ La tarea sum necesita "args": una lista de números.');
          }
          return { ok: true, result: (task.args as number[]).reduce((a, b) => a + b, 0) };
        }
        const s = String(task.s);
        return { ok: true, result: task.name === "upper" ? s.toUpperCase() : s.toLowerCase() };
      }
      case "PEDIDO": {
        this.stats.recibidos++;
        if (String(data.cliente ?? "").trim() === "") {
          return { ...fail("invalid_order", '❌ Falta el campo "cliente".'), campo: "cliente" };
        }
        const existing = this.pedidos.find((p) => p.clave !== null && p.clave === data.clave);
        if (existing) {
          return {
            ok: true,
            id: existing.id,
            estado: existing.estado,
            duplicado: true,
            mensaje: `✅ Pedido ${existing.id} ya estaba registrado (clave repetida).`,
          };
        }
        this.stats.aceptados++;
        const pedido = this.addPedido({
          cliente: String(data.cliente),
          productos: data.productos as Pedido["productos"],
          direccion: String(data.direccion),
          clave: typeof data.clave === "string" ? data.clave : null,
        });
        const owner = typeof data.token === "string" ? this.tokens.get(data.token) : undefined;
        if (owner !== undefined) this.owners.set(pedido.id, owner);
        return {
          ok: true,
          id: pedido.id,
          estado: "pendiente",
          mensaje: `✅ Pedido ${pedido.id} recibido.`,
        };
      }
      case "LISTAR": {
        const limit = typeof data.limit === "number" ? data.limit : 50;
        const listed = this.pedidos.filter((pedido) =>
          (typeof data.estado !== "string" || pedido.estado === data.estado) &&
          (typeof data.antes_de !== "number" || pedido.id < data.antes_de) &&
          this.#sees(data, pedido)
        );
        return { ok: true, pedidos: [...listed].reverse().slice(0, limit) };
      }
      case "STATS":
        return { ok: true, stats: structuredClone(this.stats) };
      case "ESTADO": {
        const pedido = this.#find(data);
        if (pedido === undefined) return fail("not_found", `❌ No existe el pedido ${data.id}.`);
        return { ok: true, pedido: structuredClone(pedido) };
      }
      case "CANCELAR":
      case "REINTENTAR": {
        const pedido = this.#find(data);
        if (pedido === undefined) return fail("not_found", `❌ No existe el pedido ${data.id}.`);
        const [from, to, code] = op === "CANCELAR"
          ? ["pendiente", "cancelado", "not_cancellable"] as const
          : ["error", "pendiente", "not_retryable"] as const;
        if (pedido.estado !== from) {
          return {
            ...fail(code, `❌ El pedido ${pedido.id} está ${pedido.estado}.`),
            pedido: structuredClone(pedido),
          };
        }
        pedido.estado = to;
        if (to === "pendiente") {
          // §2.9: back to the queue, its attempt's fields cleared, `intentos` kept.
          Object.assign(pedido, {
            detalle_error: null,
            resultado: null,
            fecha_inicio: null,
            fecha_fin: null,
            worker: null,
            duracion_ms: null,
          });
        } else {
          // §2.8: cancelled now.
          pedido.fecha_fin = new Date().toISOString();
        }
        return { ok: true, pedido: structuredClone(pedido) };
      }
      default:
        return fail("unknown_op", "❌ Operación desconocida.");
    }
  }
}

function fail(error: ErrorCode, mensaje: string): ErrorReply {
  return { ok: false, error, mensaje };
}

/** What a response looked like, read once. */
export interface Page {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

/** Options of one request of {@linkcode FakeBrowser}. */
export interface SendOptions {
  /** The `Origin` header: same origin by default, `null` for none. */
  origin?: string | null;
  /** The CSRF token sent: the one of the last page by default, `null` for none. */
  csrf?: string | null;
}

/** A browser without sockets: keeps cookies, sends Origin, fills in `_csrf`. */
export class FakeBrowser {
  readonly handler: (request: Request) => Promise<Response>;
  readonly cookies = new Map<string, string>();
  /** Every Set-Cookie header received. */
  readonly setCookies: string[] = [];
  /** The CSRF token of the last page that had one. */
  csrf: string | null = null;
  /** The `Referrer-Policy` of the last response (its last token counts). */
  referrerPolicy: string | null = null;

  constructor(handler: (request: Request) => Promise<Response>) {
    this.handler = handler;
  }

  /** GET, following no redirects. */
  get(path: string): Promise<Page> {
    return this.send(new Request(ORIGIN + path, { headers: this.#headers() }));
  }

  /** POST a form. */
  post(path: string, fields: Record<string, string>, options: SendOptions = {}): Promise<Page> {
    const form = new URLSearchParams(fields);
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    if (csrf !== null) form.set("_csrf", csrf);
    const headers = this.#headers();
    headers.set("content-type", "application/x-www-form-urlencoded");
    // As a browser does (Fetch, "append a request Origin header"): a POST
    // from a page under `no-referrer` says `Origin: null`, even to its own
    // origin; and over plain HTTP to a name other than localhost it sends no
    // Sec-Fetch-Site, so nothing else tells the gateway where it came from.
    const policy = this.referrerPolicy?.split(",").at(-1)?.trim().toLowerCase();
    const origin = options.origin === undefined
      ? (policy === "no-referrer" ? "null" : ORIGIN)
      : options.origin;
    if (origin !== null) headers.set("origin", origin);
    return this.send(new Request(ORIGIN + path, { method: "POST", headers, body: form }));
  }

  /** GET `path`, then POST the form there. */
  async submit(path: string, fields: Record<string, string>): Promise<Page> {
    await this.get(path);
    return this.post(path, fields);
  }

  async send(request: Request): Promise<Page> {
    const response = await this.handler(request);
    this.referrerPolicy = response.headers.get("referrer-policy");
    for (const line of response.headers.getSetCookie()) {
      this.setCookies.push(line);
      const [pair] = line.split(";");
      const at = pair!.indexOf("=");
      const name = pair!.slice(0, at);
      const value = pair!.slice(at + 1);
      if (/max-age=0/i.test(line) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await response.text();
    const token = /name="_csrf" value="([^"]*)"/.exec(text);
    if (token) this.csrf = token[1]!;
    return {
      status: response.status,
      headers: response.headers,
      text,
      location: response.headers.get("location"),
    };
  }

  #headers(): Headers {
    const headers = new Headers();
    if (this.cookies.size > 0) {
      headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    return headers;
  }
}

/** Options of {@linkcode EventStream.until} and {@linkcode EventStream.end}. */
export interface WaitOptions {
  /** Fail when nothing matched (or the stream did not end) within this time. @default {5000} */
  timeoutMs?: number;
  /** Match only what was received past this offset of the text (a later snapshot). @default {0} */
  from?: number;
}

/**
 * A server-sent-events response read as text, like a browser's
 * `EventSource` would. Every wait is bounded: a stream that ends early or
 * never sends what is awaited fails the test with what it did send.
 * Cancels the stream on dispose.
 */
export class EventStream implements AsyncDisposable {
  readonly #reader: ReadableStreamDefaultReader<string>;
  /** Everything received so far. */
  text = "";

  constructor(response: Response) {
    if (response.body === null) throw new TypeError("Cannot read events: the response has no body");
    this.#reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /**
   * Reads until the text received (past `options.from`) matches `pattern`.
   *
   * @returns Everything received so far.
   * @throws {Error} When the stream ends first, or after `timeoutMs`.
   */
  async until(pattern: string | RegExp, options: WaitOptions = {}): Promise<string> {
    const { from = 0 } = options;
    const matches = () => {
      const text = this.text.slice(from);
      return typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
    };
    const what = `the event stream to send ${pattern}`;
    while (!matches()) {
      const { done, value } = await this.#read(what, options);
      if (done) throw new Error(`Waited for ${what}, but it ended. It sent:\n${this.text}`);
      this.text += value;
    }
    return this.text;
  }

  /**
   * Reads until the stream ends.
   *
   * @throws {Error} When it is still open after `timeoutMs`.
   */
  async end(options: WaitOptions = {}): Promise<void> {
    for (;;) {
      const { done, value } = await this.#read("the event stream to end", options);
      if (done) return;
      this.text += value;
    }
  }

  async #read(what: string, options: WaitOptions): Promise<ReadableStreamReadResult<string>> {
    const { timeoutMs = 5000 } = options;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`Waited ${timeoutMs} ms for ${what}. It sent:\n${this.text}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.#reader.read(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops reading (the browser leaves). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** A gateway on a fake daemon, with its log lines; closed on dispose. */
export function fakeGateway(options: { liveIntervalMs?: number; cluster?: boolean } = {}) {
  const daemon = new FakeDaemon();
  const lines: string[] = [];
  const logger = new Logger({ level: "debug", write: (line) => lines.push(line) });
  const handler: GatewayHandler = createGatewayHandler({
    daemon,
    logger,
    liveIntervalMs: options.liveIntervalMs ?? 20,
    cluster: options.cluster ?? false,
  });
  return {
    daemon,
    handler,
    lines,
    browser: () => new FakeBrowser(handler),
    [Symbol.dispose]() {
      handler.close();
    },
  };
}

/** Registers and signs in `usuario` in `browser`. */
export async function signIn(browser: FakeBrowser, usuario = "ana", password = "s3cret-pass") {
  await browser.submit("/registro", { usuario, password, password2: password });
  const page = await browser.submit("/login", { usuario, password });
  if (page.status !== 303 || page.location !== "/") {
    throw new Error(`Cannot sign in: ${page.status} ${page.text.slice(0, 200)}`);
  }
  return page;
}
