/**
 * The hidden field that carries the session's CSRF token in every form.
 *
 * @module
 */

/** A hidden `_csrf` field with the session's token. */
export function CsrfField(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}
