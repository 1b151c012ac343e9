/**
 * The banner that says the daemon cannot be reached (or would not answer).
 *
 * @module
 */

/**
 * A problem reaching the daemon, said plainly. `data-problem` lets the live
 * pages' script tell a snapshot drawn without the daemon from one drawn with it.
 */
export function Problem(props: { text: string }) {
  // The daemon's own messages start with their icon: one icon is enough.
  const text = props.text.replace(/^❌\s*/u, "");
  return <p class="banner" role="alert" data-problem>⚠️ {text}</p>;
}
