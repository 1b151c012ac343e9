/**
 * The daemon's (or the gateway's) refusal, shown above a form.
 *
 * @module
 */

/** An error message next to a form; nothing when there is none. */
export function FormError(props: { text: string | null | undefined }) {
  return props.text ? <p class="form-error" role="alert">{props.text}</p> : null;
}
