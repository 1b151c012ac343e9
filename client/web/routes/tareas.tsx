/**
 * The tareas area: Inicio (`/`, the daemon's GET_TAREAS_HTML fragment) and
 * Tareas (`/tareas`, TASK `sum`, `upper`, `lower`). Mounted at `/`; both
 * pages need a signed-in user.
 *
 * @module
 */

import { Hono } from "hono";
import { field, isTooLarge, parseNumbers, refusal, statusFor } from "../forms.ts";
import { signedIn } from "../middleware/signed_in.ts";
import { InicioPage } from "../pages/inicio_page.tsx";
import { MessagePage } from "../pages/message_page.tsx";
import { TareasPage, type TaskOutcome } from "../pages/tareas_page.tsx";
import type { GatewayEnv } from "../responses.tsx";
import type { RouteDeps } from "../route_deps.ts";

/**
 * What is wrong with the numbers typed for `sum`, in the user's words, or
 * null: said here, where the typed entry is known, rather than as the
 * daemon's `"args": una lista de números`.
 */
function sumMistake(args: (number | string)[]): string | null {
  const wrong = args.find((item) => typeof item === "string");
  if (wrong !== undefined && isTooLarge(wrong)) {
    return `❌ El número «${wrong}» es demasiado grande (más de ±1.8e308).`;
  }
  if (wrong !== undefined) {
    return `❌ «${wrong}» no es un número. Separe los números con espacios o «;» ` +
      "(los decimales, con punto o coma: 3.5 o 3,5).";
  }
  return args.length === 0 ? "❌ Escriba al menos un número." : null;
}

/**
 * A sum for people: at most 15 significant digits, which every double
 * holds, so that the binary fractions' leftovers do not show (0.1 + 0.2 is
 * 0.3, not 0.30000000000000004). The TCP reply keeps the exact double.
 */
export function shownNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(15)));
}

/**
 * The Inicio and Tareas routes.
 *
 * @param deps The gateway's shared parts.
 * @returns A sub-app to mount at `/`.
 */
export function tareasRoutes(deps: RouteDeps): Hono<GatewayEnv> {
  const { ask, unreachable, respond } = deps;
  const app = new Hono<GatewayEnv>();
  const guard = signedIn(respond);
  app.use("/", guard);
  app.use("/tareas", guard);

  app.get("/", async (c) => {
    const session = c.get("session")!;
    const reply = await ask({ op: "GET_TAREAS_HTML", data: { token: session.token } });
    const ended = respond.ifSessionEnded(c);
    if (ended !== null) return ended;
    if (reply === null || !reply.ok) {
      return respond.page(
        c,
        {
          title: "Inicio",
          nav: "inicio",
          problem: reply === null ? unreachable() : refusal(reply),
        },
        <InicioPage fragment={null} operador={session.rol === "operador"} />,
        reply ? statusFor(reply.error) : 503,
      );
    }
    return respond.page(
      c,
      { title: "Inicio", nav: "inicio" },
      <InicioPage fragment={reply.html} operador={session.rol === "operador"} />,
    );
  });

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
    const args = parseNumbers(numeros);
    // §2.5: upper and lower need "s", a text; "" is one (an empty box is
    // converted to ""), but a form without the field asks for nothing.
    const mistake = tarea === "sum"
      ? sumMistake(args)
      : typeof form.texto !== "string"
      ? "❌ Falta el texto a convertir: el formulario no trajo el campo «texto»."
      : null;
    if (mistake !== null) {
      return respond.page(
        c,
        { title: "Tareas", nav: "tareas" },
        <TareasPage
          csrf={session.csrf}
          numeros={numeros}
          outcome={{ tarea, ok: false, text: mistake }}
        />,
        422,
      );
    }
    const task = tarea === "sum" ? { name: tarea, args } : { name: tarea, s: texto };
    const reply = await ask({ op: "TASK", data: { task } });
    let outcome: TaskOutcome | null = null;
    if (reply?.ok) {
      const text = typeof reply.result === "string"
        ? reply.result
        : typeof reply.result === "number"
        ? shownNumber(reply.result)
        : JSON.stringify(reply.result);
      outcome = { tarea, ok: true, text };
    } else if (reply) {
      // A task is no order: "Límite de pedidos alcanzado" would say otherwise.
      const text = reply.error === "queue_full"
        ? "❌ El servidor está a plena capacidad: todos sus lugares están ocupados. Intente más tarde."
        : refusal(reply);
      outcome = { tarea, ok: false, text };
    }
    return respond.page(
      c,
      { title: "Tareas", nav: "tareas", problem: reply === null ? unreachable() : null },
      <TareasPage
        csrf={session.csrf}
        sent={tarea}
        numeros={numeros}
        texto={texto}
        outcome={outcome}
      />,
      reply === null ? 503 : reply.ok ? 200 : statusFor(reply.error),
    );
  });

  return app;
}
