/**
 * A page that only says what went wrong (not found, refused, an error),
 * with a link back.
 *
 * @module
 */

/** Props of {@linkcode MessagePage}. */
export interface MessagePageProps {
  /** The heading. */
  title: string;
  /** What happened, in one sentence. */
  text: string;
  /** Where "Volver" goes. @default {"/"} */
  back?: string;
}

/** A title, a sentence and a way back. */
export function MessagePage(props: MessagePageProps) {
  return (
    <section class="card narrow">
      <h1>{props.title}</h1>
      <p>{props.text}</p>
      <p>
        <a href={props.back ?? "/"}>Volver</a>
      </p>
    </section>
  );
}
