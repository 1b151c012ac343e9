/**
 * The text of a caught error, for the run's incidents and details.
 *
 * @module
 */

/** `error`'s message when it is an `Error`, else its text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
