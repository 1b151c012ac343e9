/**
 * `deno task compile`: builds the `pedidos` binary with `deno compile`.
 *
 * The task passes this script the `deno compile` flags (permissions to bake
 * in, `--include` for each worker module) and the entry point; this script
 * adds `--output` (and `--target`), runs `deno compile` once per target, and
 * turns the one failure these build machines always hit (the Deno runtime,
 * `denort`, cannot be downloaded) into a clear message and exit status 3.
 *
 * ```sh
 * deno task compile                                  # dist/pedidos, for this machine
 * deno task compile --target aarch64-apple-darwin    # dist/pedidos-aarch64-apple-darwin
 * deno task compile --all-targets                    # every target deno compile supports
 * ```
 *
 * Exit status: 0 built, 1 `deno compile` failed, 2 bad usage, 3 the runtime
 * could not be downloaded.
 *
 * @module
 */

/** Every target `deno compile --target` accepts (Deno 2.9). */
export const TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-pc-windows-msvc",
  "aarch64-pc-windows-msvc",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
];

/** Where the binaries go, relative to the repository folder (where `deno task` runs). */
export const OUT_DIR = "dist";

/** The binary's name. */
export const NAME = "pedidos";

/** Exit statuses of this script. */
export const COMPILE_EXIT = Object.freeze({
  /** Every binary was built. */
  ok: 0,
  /** `deno compile` failed for another reason (type error, missing file, bad flag...). */
  failed: 1,
  /** Bad usage of this script. */
  usage: 2,
  /** `deno compile` could not download its runtime (`denort`). */
  offline: 3,
});

/** The usage text. */
export const COMPILE_USAGE = `Usage: deno task compile [--target TARGET]... [--all-targets]

Builds the pedidos binary with deno compile: ${OUT_DIR}/${NAME} for this machine,
or ${OUT_DIR}/${NAME}-TARGET for each --target (every target with --all-targets).
Targets: ${TARGETS.join(", ")}.

Exit status: 0 built, 1 deno compile failed, 2 bad usage,
3 deno compile could not download the Deno runtime (denort).`;

/** A bad command line for this script. */
export class UsageError extends Error {
  /** @param message What was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** One `deno compile` run. */
export interface Build {
  /** The `--target`, or null for this machine. */
  target: string | null;
  /** The binary to write. */
  output: string;
}

/** What {@linkcode planCompile} found in the command line. */
export interface CompilePlan {
  /** The `deno compile` flags, in order: the same for every build. */
  flags: string[];
  /** The entry point. */
  entry: string;
  /** One build per target; empty when `help` is true. */
  builds: Build[];
  /** Whether `--help` or `-h` was given. */
  help: boolean;
}

/** The binary for `target` (null: this machine): `dist/pedidos`, `dist/pedidos-TARGET[.exe]`. */
export function outputFor(target: string | null): string {
  if (target === null) return `${OUT_DIR}/${NAME}`;
  return `${OUT_DIR}/${NAME}-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/**
 * Splits the command line: `deno compile` flags (each one argument, `--flag`
 * or `--flag=value`), then the entry point, then this script's own options
 * (`--target T`, `--all-targets`, `--help`), which may also come first.
 *
 * @example Usage
 * ```ts
 * import { planCompile } from "./compile.ts";
 * const plan = planCompile(["--allow-net", "main.ts", "--target", "x86_64-apple-darwin"]);
 * console.log(plan.flags, plan.entry, plan.builds[0]?.output);
 * // ["--allow-net"] "main.ts" "dist/pedidos-x86_64-apple-darwin"
 * ```
 * @param args The script's arguments.
 * @returns The flags, the entry point and the builds.
 * @throws {UsageError} On an unknown target, a stray argument, `--output`, or no entry point.
 */
export function planCompile(args: string[]): CompilePlan {
  const flags: string[] = [];
  const targets: string[] = [];
  let entry: string | null = null;
  let all = false;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (arg === "--help" || arg === "-h") {
      help = true;
    } else if (arg === "--all-targets") {
      all = true;
    } else if (arg === "--target" || arg.startsWith("--target=")) {
      const target = arg === "--target" ? args[++i] : arg.slice("--target=".length);
      if (target === undefined || !TARGETS.includes(target)) {
        throw new UsageError(
          `Invalid --target ${JSON.stringify(target ?? "")}: must be one of ${TARGETS.join(", ")}`,
        );
      }
      if (!targets.includes(target)) targets.push(target);
    } else if (arg === "-o" || arg === "--output" || arg.startsWith("--output=")) {
      throw new UsageError(`Unexpected ${arg}: the binaries always go to ${OUT_DIR}/`);
    } else if (entry !== null) {
      throw new UsageError(`Unexpected argument ${JSON.stringify(arg)} after the entry point`);
    } else if (arg.startsWith("-")) {
      flags.push(arg);
    } else {
      entry = arg;
    }
  }
  if (entry === null) throw new UsageError("Missing the entry point (e.g. main.ts)");
  if (help) return { flags, entry, builds: [], help };
  const chosen: (string | null)[] = all ? [...TARGETS] : targets.length > 0 ? targets : [null];
  return {
    flags,
    entry,
    builds: chosen.map((target) => ({ target, output: outputFor(target) })),
    help,
  };
}

// deno colours its messages even when piped; match on the plain text.
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Whether `deno compile`'s stderr says it could not download the runtime
 * (`denort-TARGET.zip` from dl.deno.land): a network failure, not a problem
 * of the code.
 *
 * @param stderr What `deno compile` printed on stderr.
 */
export function isRuntimeDownloadFailure(stderr: string): boolean {
  const text = stderr.replace(ANSI, "");
  return /error sending request for url \([^)]*denort[^)]*\)/.test(text) ||
    (/denort-[\w-]+\.zip/.test(text) &&
      /dns error|timed out|connection refused|network is unreachable|tcp connect error/i.test(
        text,
      ));
}

/** The message printed when {@linkcode isRuntimeDownloadFailure} is true. */
export function offlineMessage(build: Build): string {
  const target = build.target ?? "this machine";
  return `pedidos compile: cannot build ${build.output}: deno compile needs the Deno runtime
(denort) for ${target}, which it downloads from dl.deno.land the first time it compiles
for a given Deno version and target, and that download failed (see the error above).
The type check and the module graph passed; the --include files are checked only
after the download. Build where dl.deno.land can be reached (e.g. docker build, see
docs/deploy.md), or set DENORT_BIN to a denort binary of this Deno version and target.`;
}

const encoder = new TextEncoder();

function writeAll(file: { writeSync(p: Uint8Array): number }, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
}

function writeStderr(text: string): void {
  writeAll(Deno.stderr, text);
}

/** Runs one `deno compile`, echoing its stderr; returns its status and stderr. */
async function compileOne(
  plan: CompilePlan,
  build: Build,
): Promise<{ code: number; stderr: string }> {
  const target = build.target === null ? [] : [`--target=${build.target}`];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["compile", ...plan.flags, ...target, `--output=${build.output}`, plan.entry],
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stderr) {
    writeAll(Deno.stderr, chunk);
    stderr += decoder.decode(chunk, { stream: true });
  }
  const status = await child.status;
  return { code: status.code, stderr };
}

/**
 * Builds every binary of the plan `args` describe.
 *
 * @param args The script's arguments (see {@linkcode planCompile}).
 * @returns The exit status (see {@linkcode COMPILE_EXIT}).
 */
export async function main(args: string[]): Promise<number> {
  let plan: CompilePlan;
  try {
    plan = planCompile(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    writeStderr(`pedidos compile: ${error.message}\n\n${COMPILE_USAGE}\n`);
    return COMPILE_EXIT.usage;
  }
  if (plan.help) {
    writeAll(Deno.stdout, `${COMPILE_USAGE}\n`);
    return COMPILE_EXIT.ok;
  }
  await Deno.mkdir(OUT_DIR, { recursive: true });
  for (const build of plan.builds) {
    const { code, stderr } = await compileOne(plan, build);
    if (code === 0) continue;
    if (isRuntimeDownloadFailure(stderr)) {
      writeStderr(`\n${offlineMessage(build)}\n`);
      return COMPILE_EXIT.offline;
    }
    writeStderr(`\npedidos compile: deno compile failed for ${build.output} (exit ${code})\n`);
    return COMPILE_EXIT.failed;
  }
  return COMPILE_EXIT.ok;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
