/**
 * The web gateway as a plain `fetch` handler: `(Request) => Promise<Response>`.
 * Browser → this handler → the daemon over TCP ({@linkcode DaemonClient}).
 * Tests call it with `new Request(...)` and a fake daemon; `main.ts` serves
 * it with `Deno.serve`.
 *
 * Security: the session cookie (`pedidos_sesion`) is HttpOnly and
 * SameSite=Lax and holds only a random id; the daemon's token and the
 * user's name stay on the server ({@linkcode SessionStore}); a password is
 * passed to the daemon and forgotten. Every form POST must come from this
 * origin (hono's `csrf()`: `Origin` / `Sec-Fetch-Site`) and carry the
 * session's CSRF token.
 *
 * @module
 */

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { Logger } from "../../server/log.ts";
import type { Reply } from "../../server/protocol/messages.ts";
import { ClientError } from "../client.ts";
import type { DaemonClient } from "./daemon.ts";
import { field, parseNumbers, parseProductos, refusal, statusFor } from "./forms.ts";
import { LiveData } from "./live.tsx";
import {
  InicioPage,
  LoginPage,
  MessagePage,
  type OrderForm,
  PanelPage,
  PedidosPage,
  RegistroPage,
  TareasPage,
  type TaskOutcome,
} from "./pages.tsx";
import { type GatewayContext, type GatewayEnv, Responses, SESSION_COOKIE } from "./responses.tsx";
import { safeEqual, SessionStore } from "./sessions.ts";
import { APP_CSS, APP_JS } from "./static.ts";

export { SESSION_COOKIE } from "./responses.tsx";

/** What the gateway needs. */
export interface GatewayDeps {
  /** The daemon (one long-lived client; see `daemon.ts`). */
  daemon: DaemonClient;
  /** Where requests and problems are logged (never bodies, cookies or tokens). @default {a Logger to stderr} */
  logger?: Logger;
  /** The sessions. @default {a new SessionStore} */
  sessions?: SessionStore;
  /** The clock, in ms since the epoch. @default {Date.now} */
  now?: () => number;
  /** How often the live pages are refreshed. @default {500} */
  liveIntervalMs?: number;
  /** Orders shown on Pedidos. @default {15} */
  recentOrders?: number;
  /** Time span of the Panel's timeline. @default {60000} */
  timelineMs?: number;
}

/** The gateway: a `fetch` handler plus `close()`, which ends live streams. */
export interface GatewayHandler {
  (request: Request): Promise<Response>;
  /** Ends every live stream and stops polling the daemon. Idempotent. */
  close(): void;
}

type Ctx = GatewayContext;

/**
 * Builds the gateway.
 *
 * @example Usage
 * ```ts ignore
 * import { createGatewayHandler } from "./app.tsx";
 * import { connectDaemon } from "./daemon.ts";
 * import { Logger } from "../../server/log.ts";
 * const logger = new Logger();
 * const handler = createGatewayHandler({
 *   daemon: connectDaemon({ hosts: ["localhost"], port: 8888, logger }),
 *   logger,
 * });
 * const res = await handler(new Request("http://localhost/login"));
 * console.log(res.status); // 200
 * ```
 */
export function createGatewayHandler(deps: GatewayDeps): GatewayHandler {
  const { daemon } = deps;
  const logger = deps.logger ?? new Logger();
  const sessions = deps.sessions ?? new SessionStore();
  const now = deps.now ?? Date.now;
  const closing = new AbortController();
  const unreachable = () =>
    `No hay conexión con el servidor de pedidos (${daemon.address}). ` +
    "Compruebe que está en marcha (deno task server); esta página se recupera sola cuando vuelva.";

  /** Sends a request; a daemon that cannot be reached is `null` (the caller says so). */
  async function ask(body: Record<string, unknown>): Promise<Reply | null> {
    try {
      return await daemon.request(body, { signal: closing.signal });
    } catch (error) {
      if (error instanceof ClientError || closing.signal.aborted) return null;
      throw error;
    }
  }

  const live = new LiveData({
    ask,
    unreachable,
    now,
    intervalMs: deps.liveIntervalMs ?? 500,
    recentOrders: deps.recentOrders ?? 15,
    timelineMs: deps.timelineMs ?? 60_000,
  });

  const respond = new Responses(sessions, now);

  // ---- the app ----

  const app = new Hono<GatewayEnv>();

  app.onError((error, c) => {
    if (error instanceof HTTPException && error.status === 403) return forbidden(c);
    if (error instanceof HTTPException) return error.getResponse();
    logger.error("web.error", { path: c.req.path, error: String(error) });
    return respond.page(
      c,
      { title: "Error", nav: "inicio" },
      <MessagePage
        title="Algo salió mal"
        text="Error interno de la pasarela. Inténtelo de nuevo."
      />,
      500,
    );
  });

  app.notFound((c) =>
    respond.page(
      c,
      { title: "No encontrado", nav: "inicio" },
      <MessagePage title="Página no encontrada" text={`No existe ${c.req.path}.`} />,
      404,
    )
  );

  function forbidden(c: Ctx): Response {
    logger.warn("web.csrf_rejected", { path: c.req.path });
    return respond.page(
      c,
      { title: "Solicitud rechazada", nav: "inicio" },
      <MessagePage
        title="Solicitud rechazada"
        text="El formulario no venía de esta página o había caducado (protección CSRF). Recargue la página e inténtelo de nuevo."
        back={c.req.path}
      />,
      403,
    );
  }

  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    const level = c.req.path.startsWith("/static/") ? "debug" : "info";
    logger.log(level, "web.request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  });

  app.use(
    "*",
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
      strictTransportSecurity: false,
    }),
  );

  app.get("/static/app.css", (c) => {
    c.header("Cache-Control", "public, max-age=300");
    return c.body(APP_CSS, 200, { "Content-Type": "text/css; charset=utf-8" });
  });
  app.get("/static/app.js", (c) => {
    c.header("Cache-Control", "public, max-age=300");
    return c.body(APP_JS, 200, { "Content-Type": "text/javascript; charset=utf-8" });
  });

  app.use("*", async (c, next) => {
    c.set("session", sessions.get(getCookie(c, SESSION_COOKIE)));
    await next();
  });

  app.use("*", bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.text("Demasiado grande", 413) }));
  app.use("*", csrf());
  app.use("*", async (c, next) => {
    if (c.req.method !== "POST") return await next();
    const session = c.get("session");
    const form = await c.req.parseBody();
    if (session === null || !safeEqual(field(form, "_csrf"), session.csrf)) return forbidden(c);
    await next();
  });

  const signedIn = async (c: Ctx, next: () => Promise<void>) => {
    const session = c.get("session");
    if (session?.usuario && session.token) return await next();
    if (c.req.path.endsWith("/eventos")) return c.text("Inicie sesión", 401);
    const fresh = respond.ensureSession(c);
    fresh.flash = { kind: "error", text: "Inicie sesión para continuar." };
    return c.redirect("/login", 303);
  };
  for (const path of ["/", "/tareas", "/pedidos", "/pedidos/eventos", "/panel", "/panel/eventos"]) {
    app.use(path, signedIn);
  }

  // Registro, Login, Logout

  app.get("/login", (c) => {
    const session = respond.ensureSession(c);
    if (session.usuario) return c.redirect("/", 303);
    return respond.page(c, { title: "Entrar", nav: "login" }, <LoginPage csrf={session.csrf} />);
  });

  app.post("/login", async (c) => {
    const session = c.get("session")!;
    const form = await c.req.parseBody();
    const usuario = field(form, "usuario").trim();
    const reply = await ask({ op: "LOGIN", data: { usuario, password: field(form, "password") } });
    if (reply?.ok && typeof reply.token === "string") {
      const expires = Date.parse(String(reply.expira)) || now() + 86_400_000;
      respond.signIn(c, { usuario: String(reply.usuario), token: reply.token, expires });
      return c.redirect("/", 303);
    }
    return respond.page(
      c,
      { title: "Entrar", nav: "login", problem: reply === null ? unreachable() : null },
      <LoginPage csrf={session.csrf} usuario={usuario} error={reply ? refusal(reply) : null} />,
      reply ? statusFor(reply.error) : 503,
    );
  });

  app.get("/registro", (c) => {
    const session = respond.ensureSession(c);
    return respond.page(
      c,
      { title: "Crear cuenta", nav: "registro" },
      <RegistroPage csrf={session.csrf} />,
    );
  });

  app.post("/registro", async (c) => {
    const session = c.get("session")!;
    const form = await c.req.parseBody();
    const usuario = field(form, "usuario").trim();
    const password = field(form, "password");
    const again = (error: string | null, status: ContentfulStatusCode, problem?: string) =>
      respond.page(
        c,
        { title: "Crear cuenta", nav: "registro", problem: problem ?? null },
        <RegistroPage csrf={session.csrf} usuario={usuario} error={error} />,
        status,
      );
    if (password !== field(form, "password2")) {
      return again("❌ Las contraseñas no coinciden.", 422);
    }
    const reply = await ask({ op: "REGISTRO", data: { usuario, password } });
    if (reply === null) return again(null, 503, unreachable());
    if (!reply.ok) return again(refusal(reply), statusFor(reply.error));
    session.flash = {
      kind: "ok",
      text: `✅ Cuenta ${String(reply.usuario)} creada. Ya puede entrar.`,
    };
    return c.redirect("/login", 303);
  });

  app.post("/logout", (c) => respond.signOut(c, "Sesión cerrada."));

  // Inicio

  app.get("/", async (c) => {
    const session = c.get("session")!;
    const reply = await ask({ op: "GET_TAREAS_HTML", data: { token: session.token } });
    if (reply?.ok === false && reply.error === "unauthorized") {
      return respond.signOut(c, "Su sesión venció. Entre de nuevo.", "error");
    }
    if (reply === null || !reply.ok) {
      const problem = reply === null ? unreachable() : refusal(reply);
      return respond.page(
        c,
        { title: "Inicio", nav: "inicio", problem },
        <InicioPage fragment={null} />,
        reply ? statusFor(reply.error) : 503,
      );
    }
    return respond.page(
      c,
      { title: "Inicio", nav: "inicio" },
      <InicioPage fragment={String(reply.html)} />,
    );
  });

  // Tareas

  app.get("/tareas", (c) => {
    const session = c.get("session")!;
    return respond.page(c, { title: "Tareas", nav: "tareas" }, <TareasPage csrf={session.csrf} />);
  });

  app.post("/tareas", async (c) => {
    const session = c.get("session")!;
    const form = await c.req.parseBody();
    const tarea = field(form, "tarea");
    if (tarea !== "sum" && tarea !== "upper" && tarea !== "lower") {
      return respond.page(
        c,
        { title: "Tareas", nav: "tareas" },
        <MessagePage title="Tarea desconocida" text="Use sum, upper o lower." back="/tareas" />,
        422,
      );
    }
    const numeros = field(form, "numeros");
    const texto = field(form, "texto");
    const task = tarea === "sum"
      ? { name: tarea, args: parseNumbers(numeros) }
      : { name: tarea, s: texto };
    const reply = await ask({ op: "TASK", data: { task } });
    const outcome: TaskOutcome | null = reply === null ? null : reply.ok
      ? {
        tarea,
        ok: true,
        text: typeof reply.result === "string" ? reply.result : JSON.stringify(reply.result),
      }
      : { tarea, ok: false, text: refusal(reply) };
    return respond.page(
      c,
      { title: "Tareas", nav: "tareas", problem: reply === null ? unreachable() : null },
      <TareasPage csrf={session.csrf} numeros={numeros} texto={texto} outcome={outcome} />,
      reply === null ? 503 : reply.ok ? 200 : statusFor(reply.error),
    );
  });

  // Pedidos

  async function pedidosPage(
    c: Ctx,
    form: OrderForm,
    refused: { error: string | null; campo: string | null; problem: string | null },
    status: ContentfulStatusCode,
  ): Promise<Response> {
    const session = c.get("session")!;
    const { pedidos, problem } = await live.orders();
    if (problem !== null && status === 200) status = 503;
    return respond.page(
      c,
      {
        title: "Pedidos",
        nav: "pedidos",
        problem: refused.problem ?? problem,
        refreshWithoutScript: true,
      },
      <PedidosPage
        csrf={session.csrf}
        form={form}
        error={refused.error}
        campo={refused.campo}
        pedidos={pedidos}
        now={now()}
      />,
      status,
    );
  }

  app.get("/pedidos", (c) => {
    const usuario = c.get("session")!.usuario ?? "";
    const form = { cliente: usuario, productos: "", direccion: "", clave: crypto.randomUUID() };
    return pedidosPage(c, form, { error: null, campo: null, problem: null }, 200);
  });

  app.post("/pedidos", async (c) => {
    const session = c.get("session")!;
    const body = await c.req.parseBody();
    const given = field(body, "clave");
    const form: OrderForm = {
      cliente: field(body, "cliente"),
      productos: field(body, "productos"),
      direccion: field(body, "direccion"),
      clave: given.length >= 1 && given.length <= 128 ? given : crypto.randomUUID(),
    };
    const reply = await ask({
      op: "PEDIDO",
      data: {
        cliente: form.cliente,
        productos: parseProductos(form.productos),
        direccion: form.direccion,
        clave: form.clave,
      },
    });
    if (reply?.ok) {
      session.flash = {
        kind: "ok",
        text: String(reply.mensaje ?? `✅ Pedido ${reply.id} recibido.`),
      };
      return c.redirect("/pedidos", 303);
    }
    const refused = reply === null ? { error: null, campo: null, problem: unreachable() } : {
      error: refusal(reply),
      campo: typeof reply.campo === "string" ? reply.campo : null,
      problem: null,
    };
    return pedidosPage(c, form, refused, reply === null ? 503 : statusFor(reply.error));
  });

  app.get("/pedidos/eventos", (c) => live.stream(c, "pedidos"));

  // Panel

  app.get("/panel", async (c) => {
    const props = await live.panel();
    return respond.page(
      c,
      { title: "Panel", nav: "panel", refreshWithoutScript: true },
      <PanelPage {...props} />,
      props.stats === null ? 503 : 200,
    );
  });

  app.get("/panel/eventos", (c) => live.stream(c, "panel"));

  const handler = ((request: Request) => Promise.resolve(app.fetch(request))) as GatewayHandler;
  handler.close = () => {
    closing.abort();
    live.close();
  };
  return handler;
}
