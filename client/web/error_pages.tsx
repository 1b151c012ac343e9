/**
 * What the gateway answers when something goes wrong: a refused form
 * (403, CSRF), a body that is no form (400), a form too large to read (413), a page that does not exist
 * (404), an error of its own (500, logged). Each is a whole page in Spanish.
 *
 * @module
 */

import type { ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { MessagePage } from "./pages/message_page.tsx";
import type { GatewayContext, GatewayEnv } from "./responses.tsx";
import type { RouteDeps } from "./route_deps.ts";
import { loggablePath } from "./middleware/request_log.ts";
import { MAX_BODY_BYTES } from "./middleware/body_limit.ts";
import { returnPath } from "./return_path.ts";

/** The gateway's error pages. */
export class ErrorPages {
  readonly #deps: Pick<RouteDeps, "respond" | "logger">;

  /**
   * Makes the error pages.
   *
   * @param deps Where pages are made and problems logged.
   */
  constructor(deps: Pick<RouteDeps, "respond" | "logger">) {
    this.#deps = deps;
  }

  /**
   * 403: the form did not come from this page or its CSRF token had
   * expired. Logged as a warning. "Volver" goes to a fixed page, never to
   * the request's path (a cross-site `POST //evil.example/` would make it
   * a link away).
   */
  forbidden(c: GatewayContext): Response {
    this.#deps.logger.warn("web.csrf_rejected", { path: c.req.path });
    return this.#message(
      c,
      "Solicitud rechazada",
      "El formulario no venía de esta página o había caducado (protección CSRF). Recargue la página e inténtelo de nuevo.",
      "/",
      403,
    );
  }

  /**
   * 400: a POST whose body is no form: a multipart one whose parts cannot
   * be read (no boundary, another boundary, cut short). Not a CSRF refusal:
   * its token could not even be looked for. Logged at `info` (a client that
   * went away mid-body ends here too), never as `web.csrf_rejected`.
   */
  unreadableForm(c: GatewayContext): Response {
    this.#deps.logger.info("web.form_unreadable", { path: c.req.path });
    return this.#message(
      c,
      "Formulario ilegible",
      "El formulario llegó incompleto o mal formado y no se pudo leer. No se envió nada: vuelva atrás, donde el navegador conserva lo escrito, y envíelo de nuevo.",
      returnPath(c),
      400,
    );
  }

  /**
   * 413: a form over 64 KiB, not read. A whole page that says what the limit
   * counts and that nothing was sent; Back keeps what was typed in the
   * browser, and "Volver" goes to the form's page.
   */
  tooLarge(c: GatewayContext): Response {
    return this.#message(
      c,
      "Formulario demasiado grande",
      `El formulario ocupa más de ${
        MAX_BODY_BYTES / 1024
      } KiB una vez enviado (las letras con tilde y los símbolos ocupan varios bytes cada uno). No se envió nada: vuelva atrás, donde el navegador conserva lo escrito, y acorte el texto.`,
      returnPath(c),
      413,
    );
  }

  /**
   * 422: a form with a field that is not UTF-8 text (a browser always
   * sends text: some program sent it). A whole page naming the field; nothing
   * was sent to the daemon.
   */
  invalidText(c: GatewayContext, name: string): Response {
    return this.#message(
      c,
      "Texto no válido",
      `El campo «${name}» no es texto válido: tiene bytes que no son UTF-8 (un navegador no los envía así). No se envió nada: vuelva atrás y escríbalo de nuevo.`,
      returnPath(c),
      422,
    );
  }

  /**
   * 405: a page of this server asked with a method it does not take there,
   * as a POST-only address (`/logout`, a row's Cancelar) typed into the
   * address bar. A whole page, with `Allow` naming what it takes.
   */
  methodNotAllowed(c: GatewayContext, allowed: readonly string[]): Response {
    c.header("Allow", allowed.join(", "));
    const text = c.req.path === "/logout"
      ? "Para salir, use el botón Salir del menú."
      : allowed.includes("POST") && !allowed.includes("GET")
      ? "Esta dirección solo recibe formularios: use el botón de la página."
      : "Esta dirección no recibe formularios.";
    return this.#message(c, "Método no permitido", text, "/", 405);
  }

  /** A whole page titled `title` that says `text`, with "Volver" to `back`. */
  #message(
    c: GatewayContext,
    title: string,
    text: string,
    back: string,
    status: 400 | 403 | 405 | 413 | 422,
  ): Response {
    return this.#deps.respond.page(
      c,
      { title, nav: "inicio" },
      <MessagePage title={title} text={text} back={back} />,
      status,
    );
  }

  /** The app's `notFound`: 404 naming the path. */
  readonly notFound: NotFoundHandler<GatewayEnv> = (c) =>
    this.#deps.respond.page(
      c,
      { title: "No encontrado", nav: "inicio" },
      // The path as the log shows it: an override in it would make the page read
      // as something else ("No existe /.Verifique su cuenta en …").
      <MessagePage title="Página no encontrada" text={`No existe ${loggablePath(c.req.path)}.`} />,
      404,
    );

  /**
   * The app's `onError`: a 403 from hono's `csrf()` is {@linkcode forbidden};
   * another `HTTPException` gives its own response; anything else is
   * logged and answered with a 500 page.
   */
  readonly onError: ErrorHandler<GatewayEnv> = (error, c) => {
    if (error instanceof HTTPException && error.status === 403) return this.forbidden(c);
    if (error instanceof HTTPException) return error.getResponse();
    this.#deps.logger.error("web.error", { path: c.req.path, error: String(error) });
    return this.#deps.respond.page(
      c,
      { title: "Error", nav: "inicio" },
      <MessagePage
        title="Algo salió mal"
        text="Error interno de la pasarela. Inténtelo de nuevo."
      />,
      500,
    );
  };
}
