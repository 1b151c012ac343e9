/**
 * The command line of the bench's own tools (`bench:compare`,
 * `bench:retention`, `bench:pg`), read as the other commands read theirs:
 * `--help` prints the usage on stdout and exits 0; an unknown flag, a
 * missing value or a number that is none says so after the tool's name,
 * with the usage, on stderr, and exits 2, never a stack trace.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** How a tool reads its flags. */
export interface ToolArgsOptions<O extends Options> {
  /** The task's name, put before each message: `bench:pg`. */
  name: string;
  /** The usage: the tool's `deno task` line and its flags. */
  usage: string;
  options: O;
  /** Flags whose value must be a number greater than 0 (each of a comma-separated list). */
  positive?: readonly (keyof O & string)[];
  /** A check of the values read; returns what is wrong, or null. */
  check?: (values: Record<string, unknown>) => string | null;
  /** Where the usage and messages go, and how the tool ends. @default Deno's */
  io?: {
    stdout(text: string): void;
    stderr(text: string): void;
    exit(code: number): never;
  };
}

const DENO_IO = {
  stdout: (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text)),
  stderr: (text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
  exit: (code: number): never => Deno.exit(code),
};

/**
 * The values of `args`, or the end of the tool: after its usage (`--help`,
 * exit 0) or a message (exit 2).
 */
export function parseToolArgs<O extends Options>(
  args: string[],
  options: ToolArgsOptions<O>,
): ReturnType<typeof parseArgs<{ options: O }>>["values"] {
  const io = options.io ?? DENO_IO;
  const usage = options.usage.endsWith("\n") ? options.usage : `${options.usage}\n`;
  let values: Record<string, unknown>;
  try {
    values = parseArgs({
      args,
      options: { ...options.options, help: { type: "boolean", short: "h" } },
    }).values;
  } catch (error) {
    io.stderr(`${options.name}: ${(error as Error).message}\n\n${usage}`);
    return io.exit(2);
  }
  if (values.help === true) {
    io.stdout(usage);
    return io.exit(0);
  }
  const wrong = (options.positive ?? []).flatMap((flag) => {
    const value = values[flag];
    if (typeof value !== "string") return [];
    const bad = value.split(",").some((part) => !(Number(part.trim()) > 0) || part.trim() === "");
    return bad ? [`invalid --${flag} "${value}": must be a number greater than 0`] : [];
  })[0] ?? options.check?.(values) ?? null;
  if (wrong !== null) {
    io.stderr(`${options.name}: ${wrong}\n\n${usage}`);
    return io.exit(2);
  }
  delete values.help;
  return values as ReturnType<typeof parseArgs<{ options: O }>>["values"];
}
