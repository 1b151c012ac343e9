/**
 * Tareas (`/tareas`): one form per task (`sum`, `upper`, `lower`), and the
 * last result under its form.
 *
 * @module
 */

import { CsrfField } from "../components/csrf_field.tsx";

/** A task's name. */
export type TareaName = "sum" | "upper" | "lower";

/** The outcome of one task. */
export interface TaskOutcome {
  /** Which task ran. */
  tarea: TareaName;
  /** Whether the daemon ran it. */
  ok: boolean;
  /** The result, or the daemon's error in words. */
  text: string;
}

/** Props of {@linkcode TareasPage}. */
export interface TareasPageProps {
  /** The session's CSRF token. */
  csrf: string;
  /** The numbers typed for `sum`. @default {""} */
  numeros?: string;
  /** The text typed for the last `upper` or `lower`. @default {""} */
  texto?: string;
  /**
   * The task whose form was sent, whose text is shown again in it, with an
   * outcome or without (the daemon unreachable). @default {the outcome's}
   */
  sent?: TareaName;
  /** The last task's outcome, or null before the first (or when the daemon was unreachable). */
  outcome?: TaskOutcome | null;
}

function Result(props: { tarea: TareaName; outcome: TaskOutcome | null | undefined }) {
  const { outcome } = props;
  if (outcome?.tarea !== props.tarea) return null;
  return (
    <output
      class={outcome.ok ? "result ok" : "result error"}
      role="status"
      data-tarea={props.tarea}
    >
      {outcome.ok ? "Resultado: " : ""}
      {outcome.text}
    </output>
  );
}

/** The three task forms. */
export function TareasPage(props: TareasPageProps) {
  const { outcome } = props;
  return (
    <>
      <h1>Tareas</h1>
      <p class="muted">Cada tarea ocupa un lugar del pool de workers mientras se ejecuta.</p>
      <div class="grid">
        <section class="card">
          <h2>
            <code>sum</code> · sumar
          </h2>
          <form method="post" action="/tareas" class="stack">
            <CsrfField token={props.csrf} />
            <input type="hidden" name="tarea" value="sum" />
            <label>
              Números
              <input
                name="numeros"
                value={props.numeros ?? ""}
                placeholder="1 2 3.5"
                inputmode="decimal"
                required
              />
              <small>Separados por espacios o «;».</small>
            </label>
            <button type="submit">Sumar</button>
            <Result tarea="sum" outcome={outcome} />
          </form>
        </section>
        {(["upper", "lower"] as const).map((tarea) => (
          <section class="card">
            <h2>
              <code>{tarea}</code> · {tarea === "upper" ? "a mayúsculas" : "a minúsculas"}
            </h2>
            <form method="post" action="/tareas" class="stack">
              <CsrfField token={props.csrf} />
              <input type="hidden" name="tarea" value={tarea} />
              <label>
                Texto
                <input
                  name="texto"
                  value={(props.sent ?? outcome?.tarea) === tarea ? props.texto ?? "" : ""}
                  placeholder={tarea === "upper" ? "hola" : "HOLA"}
                />
              </label>
              <button type="submit">{tarea === "upper" ? "Mayúsculas" : "Minúsculas"}</button>
              <Result tarea={tarea} outcome={outcome} />
            </form>
          </section>
        ))}
      </div>
    </>
  );
}
