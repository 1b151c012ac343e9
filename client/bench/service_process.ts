/**
 * A bench target's process: started, watched until ready, measured, and
 * stopped within a bound.
 *
 * @module
 */

const decoder = new TextDecoder();

async function drain(stream: ReadableStream<Uint8Array>, sink: { text: string }): Promise<void> {
  try {
    for await (const chunk of stream) {
      sink.text += decoder.decode(chunk, { stream: true });
      if (sink.text.length > 1_000_000) sink.text = sink.text.slice(-500_000);
    }
  } catch {
    // the process went away
  }
}

/** A child process with its output collected and a bounded stop. */
export class ServiceProcess implements AsyncDisposable {
  readonly name: string;
  readonly #child: Deno.ChildProcess;
  readonly #stdout = { text: "" };
  readonly #stderr = { text: "" };
  readonly #draining: Promise<void>;
  #stopped: Promise<Deno.CommandStatus> | null = null;

  private constructor(name: string, child: Deno.ChildProcess) {
    this.name = name;
    this.#child = child;
    this.#draining = Promise.all([
      drain(child.stdout, this.#stdout),
      drain(child.stderr, this.#stderr),
    ]).then(() => {});
  }

  /**
   * Starts `command args` and waits until `ready` says so (checked on each
   * output and every 50 ms) or `timeoutMs` passes.
   *
   * @throws {Error} When it exits or is not ready in time; it is killed.
   */
  static async spawn(
    name: string,
    command: string,
    args: string[],
    options: {
      cwd?: string;
      ready: (output: string) => boolean | Promise<boolean>;
      timeoutMs?: number;
    },
  ): Promise<ServiceProcess> {
    const child = new Deno.Command(command, {
      args,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const service = new ServiceProcess(name, child);
    let exited = false;
    child.status.then(() => exited = true);
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    while (!(await options.ready(service.output))) {
      if (exited || Date.now() > deadline) {
        await service.stop();
        throw new Error(
          `Cannot start ${name}: ${exited ? "it exited" : "not ready in time"}\n${service.output}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return service;
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Everything it printed so far, stdout then stderr. */
  get output(): string {
    return this.#stdout.text + this.#stderr.text;
  }

  /** Resident set size in KiB now (via `ps`), or null when it cannot be read. */
  async rssKiB(): Promise<number | null> {
    try {
      const { stdout } = await new Deno.Command("ps", {
        args: ["-o", "rss=", "-p", String(this.pid)],
        stdout: "piped",
        stderr: "null",
      }).output();
      const value = Number(decoder.decode(stdout).trim());
      return Number.isFinite(value) && value > 0 ? value : null;
    } catch {
      return null;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with its exit status. Idempotent. */
  stop(graceMs = 15_000): Promise<Deno.CommandStatus> {
    this.#stopped ??= (async () => {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, graceMs);
      const status = await this.#child.status;
      clearTimeout(timer);
      await this.#draining;
      return status;
    })();
    return this.#stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
