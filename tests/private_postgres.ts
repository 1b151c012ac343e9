/**
 * A PostgreSQL server of a test's own, for what cannot be set on the shared
 * one without disturbing every other test (a server-wide setting such as
 * `synchronous_standby_names`): `initdb` in a temporary directory, started
 * on a free port of 127.0.0.1, stopped and removed on dispose. Run as the
 * `postgres` user when the test runs as root (`initdb` refuses root).
 *
 * @module
 */

import { unusedPort } from "../client/testing/unused_port.ts";

/** A running private server. */
export interface PrivatePostgres extends AsyncDisposable {
  /** A URL for its `postgres` database, as the `postgres` user (trust). */
  url: string;
}

async function run(program: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const { success, stdout, stderr } = await new Deno.Command(program, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { ok: success, out: `${decode(stdout)}${decode(stderr)}` };
  } catch (error) {
    return { ok: false, out: String(error) };
  }
}

/** The server's binaries, or null when PostgreSQL's are not installed here. */
async function binDir(): Promise<string | null> {
  const found = await run("pg_config", ["--bindir"]);
  if (found.ok) return found.out.trim();
  for (const version of ["17", "16", "15", "14"]) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    try {
      Deno.statSync(`${dir}/initdb`);
      return dir;
    } catch {
      // not this one
    }
  }
  return null;
}

/** Whether this process runs as root (`id -u`: `Deno.uid()` would need `--allow-sys`). */
async function isRoot(): Promise<boolean> {
  const id = await run("id", ["-u"]);
  return id.ok && id.out.trim() === "0";
}

/** Why a private server cannot be started here, or false. */
export async function privatePostgresSkipReason(): Promise<string | false> {
  if ((await binDir()) === null) return "PostgreSQL's initdb is not installed";
  if (await isRoot() && !(await run("runuser", ["-u", "postgres", "--", "true"])).ok) {
    return "running as root without a postgres user to run initdb as";
  }
  return false;
}

/**
 * Starts a private server with `settings` (`-c name=value` each).
 *
 * @throws {Error} When it cannot be created or started (with its output).
 */
export async function startPrivatePostgres(
  settings: Record<string, string> = {},
): Promise<PrivatePostgres> {
  const bin = await binDir();
  if (bin === null) throw new Error("Cannot start PostgreSQL: initdb is not installed");
  const dir = await Deno.makeTempDir({ prefix: "pedidos-pg-" });
  const asRoot = await isRoot();
  const as = (program: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", program, ...args]) : run(program, args);
  const data = `${dir}/data`;
  const remove = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  if (asRoot) {
    const owned = await run("chown", ["postgres", dir]);
    if (!owned.ok) {
      await remove();
      throw new Error(`Cannot start PostgreSQL: chown: ${owned.out}`);
    }
  }
  const init = await as(`${bin}/initdb`, ["-D", data, "-U", "postgres", "--auth=trust", "-N"]);
  if (!init.ok) {
    await remove();
    throw new Error(`Cannot start PostgreSQL: initdb: ${init.out}`);
  }
  const port = unusedPort();
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    "-c fsync=off",
    ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
  ].join(" ");
  const stop = () => as(`${bin}/pg_ctl`, ["-D", data, "-m", "immediate", "-w", "stop"]);
  const started = await as(`${bin}/pg_ctl`, [
    "-D",
    data,
    "-o",
    options,
    "-l",
    `${dir}/log`,
    "-w",
    "start",
  ]);
  if (!started.ok) {
    await stop();
    await remove();
    throw new Error(`Cannot start PostgreSQL: pg_ctl: ${started.out}`);
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async [Symbol.asyncDispose]() {
      await stop();
      await remove();
    },
  };
}
