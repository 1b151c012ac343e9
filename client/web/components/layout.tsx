/**
 * The frame of every page: head, navigation, messages and footer.
 * hono's JSX escapes every string placed in it.
 *
 * @module
 */

import type { Child } from "hono/jsx";
import type { Rol } from "../../../server/store/store.ts";
import type { Flash } from "../sessions.ts";
import { Problem } from "./problem.tsx";

/** Which navigation entry is the current page. */
export type NavKey = "inicio" | "tareas" | "pedidos" | "panel" | "login" | "registro";

/** Props of {@linkcode Layout}. */
export interface LayoutProps {
  /** The page's title, before " · Pedidos". */
  title: string;
  /** The navigation entry marked as current. */
  nav: NavKey;
  /** The signed-in user, or null. */
  usuario: string | null;
  /** The signed-in user's role: the Panel is shown to an `operador` only. @default {null} */
  rol?: Rol | null;
  /** The session's CSRF token, for the logout form. */
  csrf: string | null;
  /** A message shown once, above the page. */
  flash?: Flash | null;
  /** A problem reaching the daemon, shown above everything. */
  problem?: string | null;
  /**
   * Reload every few seconds when JavaScript is off: only for a live page
   * with nothing to type in (the Panel); a reload would wipe a form being filled.
   */
  refreshWithoutScript?: boolean;
  /** The page itself. */
  children?: Child;
}

const LINKS: { key: NavKey; href: string; label: string; operador?: true }[] = [
  { key: "inicio", href: "/", label: "Inicio" },
  { key: "tareas", href: "/tareas", label: "Tareas" },
  { key: "pedidos", href: "/pedidos", label: "Pedidos" },
  { key: "panel", href: "/panel", label: "Panel", operador: true },
];

/** The page frame. */
export function Layout(props: LayoutProps) {
  const { usuario } = props;
  return (
    <html lang="es">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · Pedidos</title>
        <link rel="stylesheet" href="/static/app.css" />
        <link rel="icon" href="data:," />
        {props.refreshWithoutScript && (
          <noscript>
            <meta http-equiv="refresh" content="5" />
          </noscript>
        )}
        <script src="/static/app.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#contenido">Saltar al contenido</a>
        <header class="top">
          <a class="brand" href={usuario ? "/" : "/login"}>📦 Pedidos</a>
          {usuario
            ? (
              <nav aria-label="Principal">
                {LINKS.filter((link) => !link.operador || props.rol === "operador").map((link) => (
                  <a
                    href={link.href}
                    aria-current={props.nav === link.key ? "page" : undefined}
                  >
                    {link.label}
                  </a>
                ))}
                <form method="post" action="/logout" class="logout">
                  <input type="hidden" name="_csrf" value={props.csrf ?? ""} />
                  <span class="who" title="Sesión iniciada">
                    👤 <bdi>{usuario}</bdi>
                  </span>
                  <button type="submit" class="link">Salir</button>
                </form>
              </nav>
            )
            : (
              <nav aria-label="Cuenta">
                <a href="/login" aria-current={props.nav === "login" ? "page" : undefined}>
                  Entrar
                </a>
                <a href="/registro" aria-current={props.nav === "registro" ? "page" : undefined}>
                  Crear cuenta
                </a>
              </nav>
            )}
        </header>
        <main id="contenido" tabindex={-1}>
          {props.problem && <Problem text={props.problem} />}
          {/* A message that says what the banner says (the daemon out of reach) is said once. */}
          {props.flash && props.flash.text !== props.problem && (
            <p class={`flash ${props.flash.kind}`} role="status">{props.flash.text}</p>
          )}
          {props.children}
        </main>
        <footer>
          pedidos · pasarela web del servidor de pedidos
        </footer>
      </body>
    </html>
  );
}
