/**
 * The pedidos area, mounted at `/pedidos`: the page (the order form and the
 * recent orders), the form's POST (PEDIDO), and the live feed of recent
 * orders (`/pedidos/eventos`). All need a signed-in user.
 *
 * Each form carries an idempotency `clave`, new on every page shown and
 * kept when a refused form is shown again, so sending one form twice (a
 * double click, a retry after `queue_full`) makes one order: the daemon
 * answers the second with the first's id and `duplicado`. The key is sent
 * prefixed with the account's name ({@linkcode scopedClave}), so one
 * account's keys never meet another's. Every request carries the
 * session's token: the daemon records the order as the account's, and
 * lists only the account's orders (an operador's: everyone's).
 *
 * A row's Cancelar (a `pendiente` order) and Reintentar (an `error` one)
 * buttons POST to `/pedidos/ID/cancelar` and `/pedidos/ID/reintentar`
 * (CANCELAR, REINTENTAR: §2.8, §2.9), CSRF-checked like every form, with
 * the session's token, so an account acts only on its own orders; what
 * became of it is shown as the next page's message, and in the order's row
 * when the daemon answered of that order (not when it could not be reached:
 * anyone may ask that of any id).
 *
 * @module
 */

import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { field, parseProductos, refusal, statusFor } from "../forms.ts";
import { signedIn } from "../middleware/signed_in.ts";
import { type OrderForm, PedidosPage } from "../pages/pedidos_page.tsx";
import { MessagePage } from "../pages/message_page.tsx";
import type { GatewayContext, GatewayEnv } from "../responses.tsx";
import type { RouteDeps } from "../route_deps.ts";
import type { ActionNote } from "../live/action_notes.ts";
import { accountKey } from "../account_key.ts";
import type { Estado } from "../../../server/protocol/messages.ts";

/** Why a form was not accepted. */
interface Refused {
  /** The daemon's refusal, in words. */
  error: string | null;
  /** The field at fault. */
  campo: string | null;
  /** A problem reaching the daemon. */
  problem: string | null;
}

const ACCEPTED: Refused = { error: null, campo: null, problem: null };

/** The longest `clave` the protocol takes. */
const MAX_CLAVE = 128;

/**
 * An order id in a path, as the daemon takes one (§2.2; `found()` in
 * `server/protocol/parse_request.ts`): a whole number from 1 to 2^53 − 1
 * (16 digits), written plainly: no sign, no leading zero, no exponent.
 *
 * @returns The id; `"too_large"` for digits past 2^53 − 1 (as a number
 * they would read as another id: …993 as …992); null for anything else.
 */
function orderId(text: string): number | "too_large" | null {
  if (!/^[1-9]\d*$/.test(text)) return null;
  if (text.length > 16) return "too_large";
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : "too_large";
}

/** The row actions: the path, the operation, and what a success says. */
const ACTIONS = {
  cancelar: {
    op: "CANCELAR",
    done: (id: number) => `✅ Pedido ${id} cancelado.`,
    already: (id: number) => `✅ Pedido ${id} cancelado (ya lo estaba).`,
    estados: ["cancelado"],
  },
  reintentar: {
    op: "REINTENTAR",
    done: (id: number) => `✅ Pedido ${id} de vuelta en la cola.`,
    already: (id: number) => `✅ Pedido ${id} de vuelta en la cola (ya lo estaba).`,
    // Once it fails again or ends, "back in the queue" is old news.
    estados: ["pendiente", "en proceso"],
  },
} as const;

/** The `clave` sent to the daemon: the form's, in the account's own namespace. */
export function scopedClave(usuario: string, clave: string): string {
  return `${accountKey(usuario)}:${clave}`;
}

/**
 * The Pedidos routes.
 *
 * @param deps The gateway's shared parts.
 * @returns A sub-app to mount at `/pedidos`.
 */
export function pedidosRoutes(deps: RouteDeps): Hono<GatewayEnv> {
  const { ask, unreachable, respond, live, now } = deps;
  const app = new Hono<GatewayEnv>();
  const guard = signedIn(respond);
  app.use("/", guard);
  app.use("/eventos", guard);
  app.use("/:id/*", guard);

  async function page(
    c: GatewayContext,
    form: OrderForm,
    refused: Refused,
    status: ContentfulStatusCode,
  ): Promise<Response> {
    const session = c.get("session")!;
    // The daemon just did not answer: the page is drawn without asking it
    // again, which would add its own wait (a stalled daemon made this 45 s).
    const { pedidos, problem, notas } = refused.problem !== null
      ? { pedidos: null, problem: refused.problem, notas: live.notes.current() }
      : await live.orders(session.token);
    const ended = respond.ifSessionEnded(c);
    if (ended !== null) return ended;
    if (problem !== null && status === 200) status = 503;
    return respond.page(
      c,
      {
        title: "Pedidos",
        nav: "pedidos",
        problem: refused.problem ?? problem,
      },
      <PedidosPage
        csrf={session.csrf}
        form={form}
        error={refused.error}
        campo={refused.campo}
        pedidos={pedidos}
        notas={notas}
        now={now()}
      />,
      status,
    );
  }

  app.get("/", (c) => {
    const usuario = c.get("session")!.usuario ?? "";
    const form = { cliente: usuario, productos: "", direccion: "", clave: crypto.randomUUID() };
    return page(c, form, ACCEPTED, 200);
  });

  app.post("/", async (c) => {
    const session = c.get("session")!;
    const body = await c.req.parseBody();
    const given = field(body, "clave");
    const room = MAX_CLAVE - scopedClave(session.usuario, "").length;
    const form: OrderForm = {
      cliente: field(body, "cliente"),
      productos: field(body, "productos"),
      direccion: field(body, "direccion"),
      clave: given.length >= 1 && given.length <= room ? given : crypto.randomUUID(),
    };
    const reply = await ask({
      op: "PEDIDO",
      data: {
        cliente: form.cliente,
        productos: parseProductos(form.productos),
        direccion: form.direccion,
        clave: scopedClave(session.usuario, form.clave),
        token: session.token,
      },
    });
    const received = reply?.ok ? reply.mensaje ?? `✅ Pedido ${reply.id} recibido.` : null;
    const ended = respond.ifSessionEnded(c, received);
    if (ended !== null) return ended;
    if (reply?.ok) {
      live.placed(session.usuario, reply.id);
      session.flash = { kind: "ok", text: received! };
      return c.redirect("/pedidos", 303);
    }
    if (reply === null) return page(c, form, { ...ACCEPTED, problem: unreachable() }, 503);
    const refused = { error: refusal(reply), campo: reply.campo ?? null, problem: null };
    return page(c, form, refused, statusFor(reply.error));
  });

  app.get("/eventos", (c) => live.stream(c, "pedidos"));

  for (const [path, action] of Object.entries(ACTIONS)) {
    // Digits only in the path, so that a GET of `/pedidos/abc/cancelar` is
    // "no such page" (404) as its POST is, not 405 (app.tsx's notFound).
    app.post(`/:id{[0-9]+}/${path}`, async (c) => {
      const id = orderId(c.req.param("id"));
      if (id === null) return c.notFound();
      if (id === "too_large") {
        // No order has it: nothing to ask the daemon.
        return respond.page(
          c,
          { title: "Pedido no encontrado", nav: "pedidos" },
          <MessagePage
            title="Pedido no encontrado"
            text={`No existe ese pedido: los ids van de 1 a ${Number.MAX_SAFE_INTEGER}.`}
            back="/pedidos"
          />,
          404,
        );
      }
      const session = c.get("session")!;
      const reply = await ask({ op: action.op, id, token: session.token });
      const ended = respond.ifSessionEnded(c, reply?.ok ? action.done(id) : null);
      if (ended !== null) return ended;
      let note: ActionNote;
      if (reply === null) note = { kind: "error", text: unreachable() };
      else if (reply.ok) note = { kind: "ok", text: action.done(id), estados: action.estados };
      else {
        const estado = (reply.pedido as { estado?: Estado } | null | undefined)?.estado;
        if (estado !== undefined && (action.estados as readonly Estado[]).includes(estado)) {
          // Refused because it is already where it was asked to go (a double click, another
          // tab): CANCELAR is idempotent from the client's view (§2.8), and so is this page.
          note = { kind: "ok", text: action.already(id), estados: action.estados };
        } else {
          // A refusal that names the order's state holds while the order stays in it.
          note = { kind: "error", text: refusal(reply), ...(estado ? { estados: [estado] } : {}) };
        }
      }
      // Only what the daemon said of the order goes in its row: a success, or a
      // refusal that names it (not_cancellable, not_retryable), which it gives
      // only to an account that may act on the order. Without an answer the
      // note is the asker's alone (the flash): the row is seen by the order's
      // owner, whoever asked.
      if (reply !== null && (reply.ok || reply.pedido !== undefined)) live.notes.set(id, note);
      session.flash = { kind: note.kind, text: note.text };
      return c.redirect("/pedidos", 303);
    });
  }

  return app;
}
