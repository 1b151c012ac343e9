/**
 * Tests that need more than the network. `deno test --allow-net` (the
 * command the product's design names) runs the quick, network-only subset:
 * every test that needs another permission is reported as ignored, with a
 * name that says which permission and which command runs it. `deno task
 * test` grants them all and runs everything; `.ci/run` fails if anything
 * was ignored for lack of permission there.
 *
 * @example Usage
 * ```ts ignore
 * import { testWith } from "../tests/permissions.ts";
 * const test = testWith("read", "write");
 * test("SqliteStore keeps orders in a file", async () => {});
 * ```
 *
 * @module
 */

/** A permission a test may need beside the network. */
export type Needed = "read" | "write" | "run" | "env" | "sys" | "ffi";

/** The marker `.ci/run` looks for: a test ignored for lack of permission. */
export const MISSING_MARKER = "needs --allow-";

/** Whether the test run was granted `name` (without asking). */
export function granted(name: Needed | "net"): boolean {
  return Deno.permissions.querySync({ name }).state === "granted";
}

/** The permissions of `needed` this run lacks. */
export function missing(needed: readonly Needed[]): Needed[] {
  return needed.filter((name) => !granted(name));
}

/**
 * Why tests that need `needed` cannot run now (`"needs --allow-write: deno
 * task test runs it"`), or false when they can: for `Deno.test`'s `ignore`
 * and suites that take a reason.
 */
export function lackingReason(...needed: Needed[]): string | false {
  const lacking = missing(needed);
  if (lacking.length === 0) return false;
  return `needs ${lacking.map((name) => `--allow-${name}`).join(" ")}: deno task test runs it`;
}

/** An environment variable, or undefined when unset or when the run may not read it. */
export function readEnv(name: string): string | undefined {
  return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted"
    ? Deno.env.get(name)
    : undefined;
}

type TestFn = (t: Deno.TestContext) => void | Promise<void>;

/** `Deno.test` with the same arguments, for tests that need `needed` too. */
export interface PermissionedTest {
  (name: string, fn: TestFn): void;
  (definition: Deno.TestDefinition): void;
}

/**
 * A `Deno.test` for tests that need `needed` beside the network. When the
 * run lacks any of them, the test is registered as ignored, its name ending
 * in `[needs --allow-read --allow-run: deno task test runs it]`.
 */
export function testWith(...needed: Needed[]): PermissionedTest {
  const lacking = lackingReason(...needed);
  const reason = ` [${lacking}]`;
  return ((nameOrDefinition: string | Deno.TestDefinition, fn?: TestFn) => {
    const definition: Deno.TestDefinition = typeof nameOrDefinition === "string"
      ? { name: nameOrDefinition, fn: fn! }
      : nameOrDefinition;
    if (lacking === false) return Deno.test(definition);
    Deno.test({ ...definition, name: definition.name + reason, ignore: true });
  }) as PermissionedTest;
}
