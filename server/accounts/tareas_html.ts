/**
 * The HTML fragment of GET_TAREAS_HTML (`docs/protocol.md` §2.6): it greets the
 * user and lists the tasks and the pool size. Every value placed in it goes
 * through {@linkcode escapeHtml}, by construction: the {@linkcode html} tag
 * escapes each interpolation.
 *
 * @module
 */

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes text for HTML element content and quoted attribute values.
 *
 * @example Usage
 * ```ts
 * import { escapeHtml } from "./tareas_html.ts";
 * console.log(escapeHtml('<script>alert("x")</script>'));
 * // &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

/** A template tag whose every interpolation is escaped (numbers included, as text). */
export function html(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  let out = strings[0] ?? "";
  values.forEach((value, i) => {
    out += escapeHtml(String(value)) + (strings[i + 1] ?? "");
  });
  return out;
}

/** What the fragment shows. */
export interface TareasHtmlOptions {
  /** The user's name as registered. */
  usuario: string;
  /** The worker pool's size. */
  workers: number;
}

/** The tasks of §2.5, with an example each, in the order shown. */
const TAREAS: readonly { name: string; what: string; example: string }[] = [
  { name: "sum", what: "suma una lista de números", example: "1 2 3.5 → 6.5" },
  { name: "upper", what: "pasa un texto a mayúsculas", example: "hola → HOLA" },
  { name: "lower", what: "pasa un texto a minúsculas", example: "HOLA → hola" },
];

/**
 * The home page fragment for a signed-in user.
 *
 * @example Usage
 * ```ts
 * import { renderTareasHtml } from "./tareas_html.ts";
 * const fragment = renderTareasHtml({ usuario: "ana", workers: 3 });
 * console.log(fragment.includes("Hola, ana")); // true
 * ```
 */
export function renderTareasHtml(options: TareasHtmlOptions): string {
  const { usuario, workers } = options;
  const items = TAREAS.map((t) =>
    html`<li><code>${t.name}</code>: ${t.what}. Ejemplo: <kbd>${t.example}</kbd></li>`
  );
  const plural = workers === 1 ? "worker" : "workers";
  return [
    html`<section class="tareas-inicio">`,
    html`<h2>¡Hola, ${usuario}!</h2>`,
    html`
      <p>El servidor tiene <strong>${workers}</strong> ${plural} en su pool:
    ` +
    html`las tareas y los pedidos se procesan en paralelo.</p>`,
    html`<h3>Tareas disponibles</h3>`,
    `<ul class="tareas-lista">${items.join("")}</ul>`,
    html`</section>`,
  ].join("\n");
}
