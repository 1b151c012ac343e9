/**
 * Crear cuenta (`/registro`): the sign-up form, with the daemon's rules
 * for names and passwords.
 *
 * @module
 */

import { CsrfField } from "../components/csrf_field.tsx";
import { FormError } from "../components/form_error.tsx";

/** Props of {@linkcode RegistroPage}. */
export interface RegistroPageProps {
  /** The session's CSRF token. */
  csrf: string;
  /** The name typed, kept after a refusal. @default {""} */
  usuario?: string;
  /** The refusal, in words. */
  error?: string | null;
}

/** The sign-up form. */
export function RegistroPage(props: RegistroPageProps) {
  return (
    <section class="card narrow">
      <h1>Crear cuenta</h1>
      <FormError text={props.error} />
      <form method="post" action="/registro" class="stack">
        <CsrfField token={props.csrf} />
        <label>
          Usuario
          <input
            name="usuario"
            value={props.usuario ?? ""}
            autocomplete="username"
            minlength={3}
            maxlength={64}
            pattern="[\p{L}\p{M}0-9._\-]{3,64}"
            required
            autofocus
          />
          <small>De 3 a 64 caracteres: letras, dígitos, «.», «_» o «-».</small>
        </label>
        <label>
          Contraseña
          <input
            name="password"
            type="password"
            autocomplete="new-password"
            minlength={8}
            maxlength={256}
            required
          />
          <small>De 8 a 256 caracteres.</small>
        </label>
        <label>
          Repita la contraseña
          <input name="password2" type="password" autocomplete="new-password" required />
        </label>
        <button type="submit">Crear cuenta</button>
      </form>
      <p class="muted">
        ¿Ya tiene cuenta? <a href="/login">Entre</a>.
      </p>
    </section>
  );
}
