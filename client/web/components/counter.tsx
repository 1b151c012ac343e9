/**
 * One number of the Panel, with its label.
 *
 * @module
 */

/** Props of {@linkcode Counter}. */
export interface CounterProps {
  /** What it counts. */
  label: string;
  /** The number (or a duration in words). */
  value: string | number;
  /** A colour: `wait`, `run`, `done`, `alert`. @default {none} */
  tone?: string;
}

/** One counter of the Panel. */
export function Counter(props: CounterProps) {
  return (
    <div class={`counter ${props.tone ?? ""}`}>
      <span class="value">{props.value}</span>
      <span class="label">{props.label}</span>
    </div>
  );
}
