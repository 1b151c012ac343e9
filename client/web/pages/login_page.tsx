/**
 * Entrar (`/login`): the sign-in form.
 *
 * @module
 */

import { CsrfField } from "../components/csrf_field.tsx";
import { FormError } from "../components/form_error.tsx";

/** Props of {@linkcode LoginPage}. */
export interface LoginPageProps {
  /** The session's CSRF token. */
  csrf: string;
  /** The name typed, kept after a refusal. @default {""} */
  usuario?: string;
  /** The refusal, in words. */
  error?: string | null;
  /** The page to go back to once signed in (a path of this site), or null for Inicio. */
  next?: string | null;
}

/** The sign-in form. */
export function LoginPage(props: LoginPageProps) {
  return (
    <section class="card narrow">
      <h1>Entrar</h1>
      <FormError text={props.error} />
      <form method="post" action="/login" class="stack">
        <CsrfField token={props.csrf} />
        {props.next && <input type="hidden" name="next" value={props.next} />}
        <label>
          Usuario
          <input
            name="usuario"
            value={props.usuario ?? ""}
            autocomplete="username"
            required
            autofocus
          />
        </label>
        <label>
          Contraseña
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit">Entrar</button>
      </form>
      <p class="muted">
        ¿No tiene cuenta? <a href="/registro">Cree una</a>.
      </p>
    </section>
  );
}
