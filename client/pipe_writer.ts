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
 * The output could not be written, and its reader is still there (a full
 * disk, `> /dev/full`, a terminal gone: EIO): the command's output is lost,
 * so it ends with status 1 and this message rather than a stack trace.
 */
export class OutputError extends Error {
  constructor(cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`Cannot write the output: ${reason}`, { cause });
    this.name = "OutputError";
  }
}

/**
 * Writes text to `file` until its reader goes (`client listar | head -2`):
 * then what is left is dropped, quietly, as other command-line tools do,
 * rather than ending in a stack trace. Any other failure to write throws
 * {@linkcode OutputError}.
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
      if (!(error instanceof Deno.errors.BrokenPipe)) throw new OutputError(error);
      gone = true;
    }
  };
}
