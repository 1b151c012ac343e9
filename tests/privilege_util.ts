/**
 * Tests that need something this machine may not grant (mounting a tmpfs,
 * tracing a process with `strace`). Where the privilege is missing such a
 * test is skipped with a message on stderr, except in CI (`CI=true`), where
 * it fails with the reason: CI must never pass on a promise it did not check.
 *
 * @module
 */

import { lackingReason, readEnv } from "./permissions.ts";

/** Whether this run is CI: the `CI` environment variable is `true`. */
export const IN_CI = readEnv("CI") === "true";

/** A privilege some tests need, and why it is missing (null when granted). */
export interface Privilege {
  /** What is needed, e.g. `"mount -t tmpfs"`. */
  name: string;
  /** Why it cannot be had here, or null when it can. */
  missing: string | null;
}

/**
 * Registers a test that needs `privilege`. Granted: an ordinary test.
 * Missing: outside CI, skipped (and `file` says so once on stderr); in CI, a
 * test that fails with the reason.
 *
 * @param file The test file, for the skip message (e.g. `"durability_test"`).
 */
export function privilegedTest(
  file: string,
  privilege: Privilege,
  definition: { name: string; fn: () => Promise<void> },
): void {
  // Under `deno test --allow-net` these cannot even probe the machine.
  const lacking = lackingReason("read", "write", "run", "env");
  if (lacking !== false) {
    Deno.test({ ...definition, name: `${definition.name} [${lacking}]`, ignore: true });
    return;
  }
  const { missing } = privilege;
  if (missing === null) {
    Deno.test(definition);
    return;
  }
  if (IN_CI) {
    Deno.test({
      name: definition.name,
      fn() {
        throw new Error(
          `Cannot run in CI: this test needs ${privilege.name}, not available here: ${missing}`,
        );
      },
    });
    return;
  }
  warnOnce(
    file,
    `skipping tests that need ${privilege.name}, not available here: ${missing} ` +
      "(with CI=true they fail instead)",
  );
  Deno.test({ ...definition, ignore: true });
}

const warned = new Set<string>();

function warnOnce(file: string, message: string): void {
  const line = `${file}: ${message}`;
  if (warned.has(line)) return;
  warned.add(line);
  console.warn(line);
}
