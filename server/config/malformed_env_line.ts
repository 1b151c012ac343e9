/**
 * Finding the line of an env file that `node:util` `parseEnv` would skip
 * without a word: `PEDIDOS_PORT 9504` (no `=`) sets nothing, and the daemon
 * would start on its default port; or whose value it would cut short at a
 * `#` (`PEDIDOS_DB=p#q.db` is `p`).
 *
 * @module
 */

/** A line of an env file that is not `NAME=value`, a comment or blank. */
export interface MalformedLine {
  /** Its number, from 1. */
  line: number;
  /**
   * The name it starts with (letters, digits and `_`; at most 40), to
   * point at it without showing a value that may be a secret: of
   * `PGPASSWORD:s3cret`, only `PGPASSWORD`. Empty when it starts otherwise.
   */
  start: string;
  /**
   * What is wrong with it: `"form"`, not an assignment, a comment or blank;
   * `"hash"`, an assignment whose unquoted value has a `#` right after a
   * character (`PEDIDOS_DB=p#q.db`), where `parseEnv` ends the value (`p`).
   */
  problem: "form" | "hash";
}

/**
 * `NAME=value` or `export NAME=value`, as `parseEnv` reads them; a name has no
 * spaces. `parseEnv` drops `export` only before a space: `export<TAB>NAME=1`
 * sets a variable named `export<TAB>NAME`, so it is not an assignment here.
 */
const ASSIGNMENT = /^(?:export \s*)?([^\s=#]+)\s*=(.*)$/;

/**
 * The first line of `text` that is neither blank, nor a comment, nor
 * `[export ]NAME=value`, or null when there is none. The lines inside a
 * quoted value that spans lines (`A="one\ntwo"`) are part of the value.
 *
 * @example Usage
 * ```ts
 * import { findMalformedLine } from "./malformed_env_line.ts";
 * console.log(findMalformedLine("# port\nPEDIDOS_PORT 9504\n")); // { line: 2, start: "PEDIDOS_PORT", problem: "form" }
 * ```
 * @param text The env file's text, without a byte order mark.
 */
export function findMalformedLine(text: string): MalformedLine | null {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const assignment = ASSIGNMENT.exec(line);
    if (assignment === null) return { line: i + 1, start: startOf(line), problem: "form" };
    // Only pedidos' own settings: a value of another program's (`COLOR=#fff`) is its business.
    if (assignment[1]!.startsWith("PEDIDOS_") && cutByHash(assignment[2]!)) {
      return { line: i + 1, start: startOf(assignment[1]!), problem: "hash" };
    }
    i = lastLineOfValue(lines, i, assignment[2]!.trim());
  }
  return null;
}

/**
 * The text of each assignment of `text`, in order: its line, or its lines
 * when a quoted value spans several. Each may be read by `parseEnv` on its
 * own, so that every value of a name given twice can be checked, not only
 * the last, which `parseEnv` keeps. Lines {@linkcode findMalformedLine}
 * refuses are left out.
 *
 * @example Usage
 * ```ts
 * import { assignmentTexts } from "./malformed_env_line.ts";
 * console.log(assignmentTexts("# x\nA=1\nB=\"two\nlines\"\n")); // ["A=1", 'B="two\nlines"']
 * ```
 * @param text The env file's text, without a byte order mark.
 */
export function assignmentTexts(text: string): string[] {
  const lines = text.split("\n");
  const texts: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const assignment = ASSIGNMENT.exec(line);
    if (assignment === null) continue;
    const last = lastLineOfValue(lines, i, assignment[2]!.trim());
    texts.push(lines.slice(i, last + 1).join("\n"));
    i = last;
  }
  return texts;
}

/** The name a line starts with (at most 40 characters), never what follows it. */
function startOf(line: string): string {
  return /^[\p{L}\p{N}_]*/u.exec(line)![0].slice(0, 40);
}

/**
 * Whether `parseEnv` would end the unquoted `value` (the text after `=`) at
 * a `#` that does not look like a comment: right after `=` or after a
 * character that is not a space (`p#q.db`, `postgres://ana:pa#ss@db/x`).
 * `NAME=x # note` is a value and a comment; a quoted value keeps its `#`.
 */
function cutByHash(value: string): boolean {
  const quote = value.trimStart()[0];
  if (quote === '"' || quote === "'" || quote === "`") return false;
  // The first "#" is where parseEnv ends the value; any after it are in the comment.
  const at = value.indexOf("#");
  return at === 0 || (at > 0 && !/\s/.test(value[at - 1]!));
}

/**
 * The index of the line where the value starting on line `i` ends: a quote
 * left open on its line closes on a later one (as `parseEnv` reads it), or,
 * never closed, is read as plain text on its own line.
 */
function lastLineOfValue(lines: readonly string[], i: number, value: string): number {
  const quote = value[0];
  if (quote !== '"' && quote !== "'" && quote !== "`") return i;
  if (value.indexOf(quote, 1) !== -1) return i;
  for (let j = i + 1; j < lines.length; j++) {
    if (lines[j]!.includes(quote)) return j;
  }
  return i;
}
