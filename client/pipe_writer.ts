/**
 * Writing the output of a command-line tool (`client`, `load`) to a file
 * such as stdout, when its reader may go away first.
 *
 * @module
 */

const encoder = new TextEncoder();

function writeAllSync(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let written = 0; written < bytes.length;) {
    written += file.writeSync(bytes.subarray(written));
  }
}

/**
 * Writes text to `file` until its reader goes (`client listar | head -2`):
 * then what is left is dropped, quietly, as other command-line tools do,
 * rather than ending in a stack trace.
 *
 * @example Usage
 * ```ts ignore
 * import { pipeWriter } from "./pipe_writer.ts";
 * const out = pipeWriter(Deno.stdout);
 * out("hola\n");
 * ```
 */
export function pipeWriter(file: { writeSync(p: Uint8Array): number }): (text: string) => void {
  let gone = false;
  return (text) => {
    if (gone) return;
    try {
      writeAllSync(file, text);
    } catch (error) {
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
      gone = true;
    }
  };
}
