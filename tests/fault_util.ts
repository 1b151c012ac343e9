/**
 * Helpers shared by the adversarial tests: a seeded random source, STATS
 * over a fresh connection, reading the database file directly, and a tiny
 * tmpfs for storage faults.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { Privilege } from "./privilege_util.ts";
import { rawConnect } from "./test_util.ts";
import { readEnv } from "./permissions.ts";

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }
}

/** A seed from `PEDIDOS_TEST_SEED` when set (to replay a failure), else `fallback`. */
export function seedFromEnv(fallback: number): number {
  const text = readEnv("PEDIDOS_TEST_SEED");
  return text ? Number(text) : fallback;
}

/** Runs `body`, adding `label` (the seed) to the message of anything it throws. */
export async function withSeed<T>(label: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof Error) error.message = `[${label}] ${error.message}`;
    throw error;
  }
}

/** Concatenates byte arrays and strings (as UTF-8). */
export function concat(...parts: (Uint8Array | string)[]): Uint8Array {
  const encoder = new TextEncoder();
  const arrays = parts.map((p) => typeof p === "string" ? encoder.encode(p) : p);
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** STATS over a fresh connection. */
export async function stats(port: number): Promise<Record<string, number>> {
  await using conn = await rawConnect(port);
  await conn.write('{"op":"STATS"}\n');
  return (await conn.readLine())?.stats as Record<string, number>;
}

/** A row of `pedidos` as the tests check it. */
export interface Row {
  id: number;
  clave: string | null;
  estado: string;
  intentos: number;
  detalle_error: string | null;
}

/** Every order in the database file, read with a read-only connection of our own. */
export function readRows(path: string): Row[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(
      "SELECT id, clave, estado, intentos, detalle_error FROM pedidos ORDER BY id",
    ).all() as unknown as Row[];
  } finally {
    db.close();
  }
}

/** Runs a command; resolves with its status and output, never throws for a non-zero status. */
export async function run(
  command: string,
  args: string[],
): Promise<{ code: number; stderr: string }> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" })
      .output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } catch (error) {
    return { code: -1, stderr: String(error) };
  }
}

/** A tmpfs mounted on a fresh directory; unmounted and removed on dispose. */
export interface Tmpfs extends AsyncDisposable {
  path: string;
}

/**
 * Mounts a tmpfs of `size` (e.g. `"2m"`) on a new temp directory, optionally
 * read-only.
 *
 * @throws {Error} With mount's reason when this machine does not let us
 * mount (not root, no CAP_SYS_ADMIN): see {@linkcode tmpfsPrivilege}.
 */
export async function mountTmpfs(
  size: string,
  options: { readOnly?: boolean } = {},
): Promise<Tmpfs> {
  const path = await Deno.makeTempDir({ prefix: "pedidos-tmpfs-" });
  const opts = `size=${size},mode=0777${options.readOnly ? ",ro" : ""}`;
  const mounted = await run("mount", ["-t", "tmpfs", "-o", opts, "tmpfs", path]);
  if (mounted.code !== 0) {
    await Deno.remove(path, { recursive: true }).catch(() => {});
    const why = mounted.stderr.trim() || `mount exited ${mounted.code}`;
    throw new Error(`Cannot mount a tmpfs on ${path}: ${why}`);
  }
  return {
    path,
    async [Symbol.asyncDispose]() {
      if ((await run("umount", [path])).code !== 0) await run("umount", ["-l", path]);
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Remounts a mounted tmpfs read-only or read-write. */
export async function remount(path: string, mode: "ro" | "rw"): Promise<void> {
  const result = await run("mount", ["-o", `remount,${mode}`, path]);
  if (result.code !== 0) throw new Error(`Cannot remount ${path} ${mode}: ${result.stderr}`);
}

let tmpfs: Promise<Privilege> | null = null;

/**
 * Whether this machine lets the tests mount a tmpfs (tried once per
 * process), and if not, why (mount's own words).
 */
export function tmpfsPrivilege(): Promise<Privilege> {
  return tmpfs ??= (async () => {
    const name = "mount -t tmpfs (root with CAP_SYS_ADMIN)";
    try {
      const fs = await mountTmpfs("64k");
      await fs[Symbol.asyncDispose]();
      return { name, missing: null };
    } catch (error) {
      return { name, missing: error instanceof Error ? error.message : String(error) };
    }
  })();
}
