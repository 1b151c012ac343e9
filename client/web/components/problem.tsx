/**
 * The banner that says the daemon cannot be reached (or would not answer).
 *
 * @module
 */

/** A problem reaching the daemon, said plainly. */
export function Problem(props: { text: string }) {
  return <p class="banner" role="alert">⚠️ {props.text}</p>;
}
