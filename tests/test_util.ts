/**
 * Helpers for integration tests: a daemon in this process or as a real
 * subprocess, on port 0 with a temp database, always cleaned up.
 *
 * @module
 */

import { Server, type ServerSettings } from "../server/server.ts";
import { MemoryStore } from "../server/store/memory_store.ts";
import { granted } from "./permissions.ts";
import { Logger } from "../server/log.ts";
import { PedidosClient } from "../client/client.ts";

/** The repository root. */
export const ROOT = new URL("../", import.meta.url).pathname;

/** Defaults for test daemons: fast, small, loopback. */
export const TEST_SETTINGS: ServerSettings = {
  hosts: ["127.0.0.1", "::1"],
  port: 0,
  workers: 2,
  maxPedidos: 6,
  processMs: { min: 0, max: 0 },
  db: ":memory:",
  sync: "full",
  drainTimeoutMs: 2000,
  idleTimeoutMs: 30_000,
  maxRequestBytes: 65536,
  maxConnections: 64,
  log: "error",
  // Retries after a failed attempt wait 10-20-… ms, not 1-2-… s.
  retryBackoffMs: 10,
};

/** A temporary directory removed on dispose. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "pedidos-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** A daemon running in this process. */
export interface InProcessDaemon extends AsyncDisposable {
  server: Server;
  port: number;
  /** A client connected to 127.0.0.1 (or `hostname`). */
  client(hostname?: string): Promise<PedidosClient>;
}

/** Starts a daemon in this process with {@linkcode TEST_SETTINGS} and `overrides`. */
export async function startInProcess(
  overrides: Partial<ServerSettings> = {},
  extra: {
    processorUrl?: URL;
    stallMs?: number;
    logger?: Logger;
    pruneBatchSize?: number;
    busyGraceMs?: number;
  } = {},
): Promise<InProcessDaemon> {
  const config = { ...TEST_SETTINGS, ...overrides };
  const server = await Server.start({
    config,
    logger: new Logger({ level: config.log }),
    ...extra,
    // With nothing but --allow-net (`deno test --allow-net`), a daemon can
    // neither load worker modules nor open a database file: it keeps its
    // orders in memory and processes them on the main thread.
    ...(granted("read") ? {} : { store: new MemoryStore(), inlineProcessing: true }),
  });
  const clients: PedidosClient[] = [];
  return {
    server,
    port: server.port,
    async client(hostname = "127.0.0.1") {
      const client = await PedidosClient.connect({ hostname, port: server.port });
      clients.push(client);
      return client;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((c) => c.close()));
      await server.shutdown();
    },
  };
}

/** A daemon running as a real subprocess (`deno run main.ts server`). */
export interface Subprocess extends AsyncDisposable {
  process: Deno.ChildProcess;
  port: number;
  /** The ready line. */
  readyLine: string;
  /** What it printed to stdout so far. */
  stdoutSoFar(): string;
  /** Sends a signal. */
  kill(signal?: Deno.Signal): void;
  /** Waits for exit; returns the status and everything printed. */
  exited(): Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * The permission flags (`--allow-*`) of a `deno.json` task, as written there,
 * so that a test runs a subcommand with exactly what its task grants.
 *
 * @param task A task name, e.g. `"web"`.
 */
export function taskPermissions(task: string): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks ?? {};
  const command: unknown = tasks[task];
  if (typeof command !== "string") throw new Error(`deno.json has no task ${task}`);
  return command.split(/\s+/).filter((word) => word.startsWith("--allow-"));
}

/** Permission flags like the `server` task's, widened to the test's temp dir. */
export function serverPermissions(dir: string): string[] {
  return [
    "--allow-net",
    `--allow-read=${ROOT},${dir}`,
    `--allow-write=${dir}`,
    "--allow-env=PEDIDOS_*,NO_COLOR,PG*",
  ];
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  return text;
}

/**
 * Starts `main.ts server` with `args` (plus `--port 0` unless given) in a
 * subprocess whose working directory is `dir`, and waits for its ready line.
 */
export async function startSubprocess(
  dir: string,
  args: string[],
  options: {
    env?: Record<string, string>;
    timeoutMs?: number;
    /** The daemon's limit of open file descriptors (`ulimit -n`). @default {the test's} */
    fdLimit?: number;
    /** The largest file the daemon may write, bytes (`prlimit --fsize`). @default {none} */
    fileSizeLimit?: number;
    /** The module run instead of `main.ts` (a fixture wrapping it). @default {main.ts} */
    entry?: string;
  } = {},
): Promise<Subprocess> {
  const fullArgs = args.includes("--port") ? args : [...args, "--port", "0"];
  const command = [
    Deno.execPath(),
    "run",
    ...serverPermissions(dir),
    options.entry ?? `${ROOT}main.ts`,
    "server",
    ...fullArgs,
  ];
  const limited = options.fileSizeLimit === undefined
    ? command
    : ["prlimit", `--fsize=${options.fileSizeLimit}`, "--", ...command];
  const [program, ...programArgs] = options.fdLimit === undefined
    ? limited
    : withFdLimit(options.fdLimit, limited);
  const process = new Deno.Command(program!, {
    args: programArgs,
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  }).spawn();
  const stderr = collect(process.stderr);
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  const deadline = AbortSignal.timeout(options.timeoutMs ?? 20_000);
  while (!/listening on .*\n/.test(stdout)) {
    const next = await Promise.race([
      reader.read(),
      new Promise<null>((resolve) => deadline.addEventListener("abort", () => resolve(null))),
    ]);
    if (next === null || next.done) {
      try {
        process.kill("SIGKILL");
      } catch { /* gone */ }
      const status = await process.status;
      const rest = next === null ? "" : "";
      reader.releaseLock();
      await process.stdout.cancel().catch(() => {});
      throw new Error(
        `daemon did not get ready (exit ${status.code}): ${stdout}${rest}\n${await stderr}`,
      );
    }
    stdout += next.value;
  }
  const readyLine = stdout.match(/listening on .*/)![0];
  const port = Number(readyLine.match(/:(\d+)(?:\s|$)/)![1]);
  const rest = (async () => {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      stdout += next.value;
    }
    return stdout;
  })();
  let exit: Promise<{ code: number; stdout: string; stderr: string }> | null = null;
  const exited = () =>
    exit ??= Promise.all([process.status, rest, stderr]).then(([status, out, err]) => ({
      code: status.code,
      stdout: out,
      stderr: err,
    }));
  return {
    process,
    port,
    readyLine,
    stdoutSoFar: () => stdout,
    kill(signal: Deno.Signal = "SIGTERM") {
      try {
        process.kill(signal);
      } catch {
        // already gone
      }
    },
    exited,
    async [Symbol.asyncDispose]() {
      try {
        process.kill("SIGKILL");
      } catch {
        // already gone
      }
      await exited();
    },
  };
}

/** Runs `main.ts` with `args` to completion (for bad-flag and client tests). */
export async function runMain(
  dir: string,
  args: string[],
  options: { stdin?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...serverPermissions(dir), `${ROOT}main.ts`, ...args],
    cwd: dir,
    // A command expected to end that does not (a daemon that starts where it
    // should refuse) is killed: the test fails instead of hanging.
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** `promise`, or a failure naming `what` when it takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; everyMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${options.what ?? "condition"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 20));
  }
}

/** A raw TCP connection for framing-level tests. */
export async function rawConnect(port: number, hostname = "127.0.0.1"): Promise<RawConn> {
  return new RawConn(await Deno.connect({ hostname, port }));
}

/** Writes bytes and reads reply lines, with no client logic in between. */
export class RawConn implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  #buffer = "";
  #decoder = new TextDecoder();
  #closed = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Writes text or bytes. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }

  /** Reads one reply line as JSON; null when the daemon closed the connection. */
  async readLine(timeoutMs = 5000): Promise<Record<string, unknown> | null> {
    const deadline = Date.now() + timeoutMs;
    const chunk = new Uint8Array(65536);
    while (!this.#buffer.includes("\n")) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("Timed out reading a reply line");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.conn.read(chunk).catch(() => null),
        new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), left)),
      ]);
      clearTimeout(timer);
      if (n === "timeout") throw new Error("Timed out reading a reply line");
      if (n === null) return null;
      this.#buffer += this.#decoder.decode(chunk.subarray(0, n), { stream: true });
    }
    const at = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, at);
    this.#buffer = this.#buffer.slice(at + 1);
    return JSON.parse(line);
  }

  /** Reads until the daemon closes the connection; true if it did within the time. */
  async closedByPeer(timeoutMs = 5000): Promise<boolean> {
    const chunk = new Uint8Array(4096);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.conn.read(chunk).catch(() => null),
        new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), left)),
      ]);
      clearTimeout(timer);
      if (n === "timeout") return false;
      if (n === null) return true;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * `command` (program first) run under a limit of `fdLimit` open file
 * descriptors (`ulimit -n`), through `/bin/sh`; `exec`: the process the test
 * kills and waits for is the program's own.
 */
export function withFdLimit(fdLimit: number, command: string[]): string[] {
  return ["/bin/sh", "-c", `ulimit -n ${fdLimit} && exec "$@"`, "sh", ...command];
}

/**
 * Opens connections to `port` on 127.0.0.1 (`most` at most) until the
 * server stops accepting them (refused or reset: out of descriptors, it
 * stopped listening), holds them a moment, then closes them all.
 */
export async function exhaustAccepts(port: number, most: number): Promise<void> {
  const held: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < most; i++) {
      try {
        held.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      } catch (error) {
        // Refused, reset, or dropped as it was made (ENOTCONN: the peer closed
        // it before connect() could read its address): no more to hold.
        if (
          error instanceof Deno.errors.ConnectionRefused ||
          error instanceof Deno.errors.ConnectionReset ||
          error instanceof Deno.errors.NotConnected
        ) break;
        throw error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    for (const conn of held) conn.close();
  }
}

/** Whether a GET of `url` answers 200 now (false when it cannot be reached). */
export async function answers200(url: string): Promise<boolean> {
  try {
    const response = await fetch(url);
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}
