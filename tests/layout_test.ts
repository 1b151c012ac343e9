/**
 * The import rules of `docs/architecture.md` ("The arrows"), checked on
 * the source: `workers/` loads no daemon code at run time (only type
 * imports of the shapes it speaks), and the daemon never imports the
 * clients.
 */
import assert from "node:assert/strict";
import { testWith } from "./permissions.ts";
import { ROOT } from "./test_util.ts";

/** Every `.ts`/`.tsx` file under `dir` (relative to the root), tests included. */
function* sources(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sources(path);
    else if (/\.tsx?$/.test(entry.name)) yield path;
  }
}

/** The specifiers a file imports at run time (`import type` and `export type` left out). */
function runtimeImports(path: string): string[] {
  const text = Deno.readTextFileSync(`${ROOT}${path}`);
  const found: string[] = [];
  const statement = /^(import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms;
  for (const match of text.matchAll(statement)) {
    if (match[2] === undefined) found.push(match[3]!);
  }
  for (const match of text.matchAll(/^import\s+"([^"]+)";/gm)) found.push(match[1]!);
  return found;
}

function resolve(from: string, specifier: string): string {
  return new URL(specifier, `file:///${from}`).pathname.slice(1);
}

testWith("read")("nothing in workers/ imports the daemon's code at run time", () => {
  const offending = [...sources("workers")].filter((path) => !path.endsWith("_test.ts"))
    .flatMap((path) =>
      runtimeImports(path).filter((s) => s.startsWith(".")).map((s) => [path, resolve(path, s)])
    )
    .filter(([, target]) => !target!.startsWith("workers/"));
  assert.deepEqual(offending, []);
});

testWith("read")("nothing in server/ imports client/", () => {
  const offending = [...sources("server")].filter((path) => !/_test\.tsx?$/.test(path))
    .flatMap((path) => runtimeImports(path).map((s) => [path, resolve(path, s)]))
    .filter(([, target]) => target!.startsWith("client/"));
  assert.deepEqual(offending, []);
});
