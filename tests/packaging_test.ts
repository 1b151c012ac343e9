/**
 * Packaging, checked without the network, Docker or systemd: the compile
 * task's baked-in permissions run every subcommand from another directory;
 * the Dockerfile, compose.yaml, the env files and the systemd unit agree with
 * the code and with each other. docs/deploy.md says what is not run here.
 */

import assert from "node:assert/strict";
import { isDeepStrictEqual, parseEnv } from "node:util";
import { parse as parseYaml } from "yaml";
import { CLIENT_SETTINGS } from "../client/client_config.ts";
import { parseServerConfig, SERVER_SETTINGS } from "../server/config/server_config.ts";
import {
  type ConfigSources,
  DEFAULT_ENV_FILE,
  envName,
  type Setting,
} from "../server/config/settings.ts";
import { parseWebConfig, WEB_SETTINGS } from "../client/web/config.ts";
import { parseClientArgs } from "../client/cli_args.ts";
import { parseLoadArgs } from "../client/load/load_args.ts";
import { type CompilePlan, planCompile } from "../server/packaging/compile.ts";
import { ROOT, tempDir } from "./test_util.ts";
import { testWith } from "./permissions.ts";

const ENV_FILES = [".env.local", ".env.docker"];
const SERVICES = ["servidor", "web", "cliente", "testcliente"];
const CLIENT_SERVICES = ["web", "cliente", "testcliente"];

function read(path: string): string {
  return Deno.readTextFileSync(`${ROOT}${path}`);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(`${ROOT}${path}`);
    return true;
  } catch {
    return false;
  }
}

// ---- the compile task

/** The compile task's `deno compile` flags and entry point, as compile.ts reads them. */
function compileTask(): CompilePlan {
  const task: unknown = JSON.parse(read("deno.json")).tasks?.compile;
  assert.equal(typeof task, "string", "deno.json has a compile task");
  const marker = "server/packaging/compile.ts ";
  const at = (task as string).indexOf(marker);
  assert.ok(at >= 0, `the compile task runs ${marker.trim()}`);
  const rest = (task as string).slice(at + marker.length).trim();
  assert.doesNotMatch(rest, /['"`$\\]/, "the compile flags are plain words");
  return planCompile(rest.split(/\s+/));
}

/** The permission flags `deno compile` bakes into the binary. */
function bakedPermissions(plan: CompilePlan): string[] {
  return plan.flags.filter((flag) => flag.startsWith("--allow-"));
}

/** The files the compile task embeds with `--include`. */
function includes(plan: CompilePlan): string[] {
  return plan.flags.filter((flag) => flag.startsWith("--include=")).map((flag) =>
    flag.slice("--include=".length)
  );
}

// ---- env keys and files

/** Every environment variable the subcommands' configuration reads, recorded as they read it. */
function envKeysReadByCode(): Set<string> {
  const seen = new Set<string>();
  const sources: ConfigSources = {
    getEnv: (name) => {
      seen.add(name);
      return undefined;
    },
    readFile: () => null,
  };
  parseServerConfig([], sources);
  parseWebConfig([], sources);
  parseClientArgs(["ping"], sources);
  parseLoadArgs([], sources);
  return seen;
}

/** The programs that read `PEDIDOS_*` keys: the keys each reads, and its configuration. */
const PROGRAMS = [
  {
    name: "server",
    table: SERVER_SETTINGS,
    config: (s: ConfigSources) => parseServerConfig([], s),
  },
  { name: "web", table: WEB_SETTINGS, config: (s: ConfigSources) => parseWebConfig([], s) },
  {
    name: "client",
    table: CLIENT_SETTINGS,
    config: (s: ConfigSources) => parseClientArgs(["ping"], s).config,
  },
].map(({ name, table, config }) => {
  const settings = Object.values<Setting<unknown>>(table);
  const keys = new Set([...settings.map((s) => envName(s.flag)), "PEDIDOS_ENV_FILE"]);
  /** Whether `value` is what this program's usage shows as the default of `key`. */
  const shows = (key: string, value: string) =>
    key === "PEDIDOS_ENV_FILE"
      ? value === DEFAULT_ENV_FILE
      : settings.some((s) => envName(s.flag) === key && s.shown === value);
  return { name, keys, config, shows };
});

/** The defaults a key is documented with: what the usage texts show. */
function shownDefaults(key: string): Set<string> {
  const shown = new Set<string>();
  const tables = [SERVER_SETTINGS, CLIENT_SETTINGS, WEB_SETTINGS];
  for (const table of tables) {
    for (const setting of Object.values<Setting<unknown>>(table)) {
      if (envName(setting.flag) === key) shown.add(setting.shown);
    }
  }
  if (key === "PEDIDOS_ENV_FILE") shown.add(DEFAULT_ENV_FILE);
  return shown;
}

interface EnvLine {
  key: string;
  value: string;
  commented: boolean;
  line: number;
}

const KEY_LINE = /^(#\s*)?(PEDIDOS_[A-Z0-9_]+)=(.*)$/;

/** The `KEY=value` and `# KEY=value` lines of an env file. */
function envLines(text: string): EnvLine[] {
  return text.split("\n").flatMap((line, index) => {
    const match = KEY_LINE.exec(line);
    if (match === null) return [];
    return [{
      key: match[2] ?? "",
      value: match[3] ?? "",
      commented: match[1] !== undefined,
      line: index,
    }];
  });
}

/** Configuration sources that see only `vars`. */
function only(vars: Record<string, string | undefined>): ConfigSources {
  return { getEnv: (name) => vars[name], readFile: () => null };
}

// ---- Dockerfile

interface Instruction {
  name: string;
  args: string;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function dockerfile(): Instruction[] {
  const joined = read("Dockerfile").split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n")
    .replace(/\\\n/g, " ");
  return joined.split("\n").flatMap((line) => {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    return match === null ? [] : [{ name: (match[1] ?? "").toUpperCase(), args: match[2] ?? "" }];
  });
}

/** The JSON array of an exec-form instruction (`RUN ["deno", ...]`), or null. */
function execForm(args: string): string[] | null {
  const text = args.replace(/^CMD\s+/, "").trim();
  if (!text.startsWith("[")) return null;
  return JSON.parse(text) as string[];
}

/** The instructions of the last stage (the image that runs). */
function runtimeStage(instructions: Instruction[]): Instruction[] {
  const from = instructions.findLastIndex((i) => i.name === "FROM");
  return instructions.slice(from);
}

// ---- compose.yaml

interface Service {
  profiles?: string[];
  build?: string | { context?: string; dockerfile?: string };
  image?: string;
  command?: string[];
  env_file?: string | string[];
  environment?: Record<string, string> | string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  stop_grace_period?: string;
}

interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/**
 * compose.yaml's services of the default profile (`docker compose up`); with
 * `profile`, those of that profile only (`docker compose --profile NAME up NAMES`).
 */
function compose(profile?: string): Compose {
  // Compose resolves `<<: *anchor` merge keys; so must the parser.
  const parsed = parseYaml(read("compose.yaml"), { merge: true }) as Compose;
  assert.equal(typeof parsed?.services, "object", "compose.yaml has services");
  const services = Object.fromEntries(
    Object.entries(parsed.services).filter(([, service]) =>
      profile === undefined ? service.profiles === undefined : service.profiles?.includes(profile)
    ),
  );
  return { ...parsed, services };
}

function envFilesOf(service: Service): string[] {
  const files = service.env_file ?? [];
  return typeof files === "string" ? [files] : files;
}

function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(env.map((entry) => {
    const at = entry.indexOf("=");
    return [entry.slice(0, at), entry.slice(at + 1)];
  }));
}

/** What a service's process sees: its env files, then `environment:` over them. */
function serviceEnv(service: Service): Record<string, string | undefined> {
  const vars: Record<string, string | undefined> = {};
  for (const file of envFilesOf(service)) Object.assign(vars, parseEnv(read(file)));
  return { ...vars, ...environmentOf(service) };
}

/** `10s`, `1m30s`, `2min`, `500ms`, `20` (seconds) → milliseconds. */
function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000 };
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  let total = 0;
  let rest = trimmed;
  for (const match of trimmed.matchAll(/(\d+)\s*(ms|sec|min|s|m)/g)) {
    total += Number(match[1]) * (units[match[2] ?? "s"] ?? NaN);
    rest = rest.replace(match[0], "");
  }
  assert.equal(rest.trim(), "", `a duration: ${text}`);
  return total;
}

// ---- subprocesses for the smoke test

/** This environment without any PEDIDOS_* variable, so only the test's settings count. */
function cleanEnv(): Record<string, string> {
  const env = Object.entries(Deno.env.toObject()).filter(([key]) => !key.startsWith("PEDIDOS_"));
  return { ...Object.fromEntries(env), NO_COLOR: "1" };
}

interface Exited {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/** Runs `deno <args>` in `cwd` to completion. */
async function deno(args: string[], cwd: string): Promise<Exited> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: cleanEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15_000),
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

interface Running extends AsyncDisposable {
  /** The ready line's match. */
  ready: RegExpMatchArray;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<Exited>;
}

/** Starts `deno <args>` in `cwd` and waits until its stdout matches `ready`. */
async function start(args: string[], cwd: string, ready: RegExp): Promise<Running> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: cleanEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const { promise: matched, resolve } = Promise.withResolvers<RegExpMatchArray | null>();
  let stdout = "";
  const rest = (async () => {
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      stdout += text;
      const match = stdout.match(ready);
      if (match !== null) resolve(match);
    }
    resolve(null);
    return stdout;
  })();
  const timer = setTimeout(() => resolve(null), 15_000);
  const match = await matched;
  clearTimeout(timer);
  let exit: Promise<Exited> | null = null;
  const exited = () =>
    exit ??= Promise.all([child.status, rest, stderr]).then(([status, out, err]) => ({
      code: status.code,
      stdout: out,
      stderr: err,
    }));
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  };
  if (match === null) {
    kill("SIGKILL");
    const result = await exited();
    throw new Error(`no ready line (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  return {
    ready: match,
    async stop() {
      kill("SIGTERM");
      return await exited();
    },
    async [Symbol.asyncDispose]() {
      kill("SIGKILL");
      await exited();
    },
  };
}

/** The local modules of `entry`'s module graph (what `deno compile` embeds for it). */
async function localModules(entry: string): Promise<string[]> {
  const info = await deno(["info", "--json", "--no-lock", `${ROOT}${entry}`], ROOT);
  assert.equal(info.code, 0, info.stderr);
  const graph = JSON.parse(info.stdout) as { modules: { specifier: string }[] };
  return graph.modules
    .map((module) => module.specifier)
    .filter((specifier) => specifier.startsWith("file:"))
    .map((specifier) => decodeURIComponent(new URL(specifier).pathname));
}

/**
 * `deno run` flags equal to what the compiled binary has: exactly the compile
 * task's permission flags, plus read access to the worker modules it embeds.
 * The binary needs no flag for those (denort grants read access to its own
 * embedded file system); `deno run` loads them from disk, so it does.
 */
async function binaryEquivalentFlags(plan: CompilePlan): Promise<string[]> {
  const embedded = new Set<string>();
  for (const file of includes(plan)) {
    for (const path of await localModules(file)) embedded.add(path);
  }
  const baked = bakedPermissions(plan);
  const grant = [...embedded].join(",");
  const read = baked.findIndex((flag) =>
    flag === "--allow-read" || flag.startsWith("--allow-read=")
  );
  if (read === -1) return ["--frozen", ...baked, `--allow-read=${grant}`];
  if (baked[read] === "--allow-read") return ["--frozen", ...baked];
  return ["--frozen", ...baked.map((flag, i) => i === read ? `${flag},${grant}` : flag)];
}

// ---- the tests

testWith("read")("compile task embeds every module the code starts as a worker", () => {
  const plan = compileTask();
  assert.equal(plan.entry, "main.ts");
  const included = includes(plan);
  for (const file of included) assert.ok(exists(file), `--include=${file} exists`);

  // Every `new URL("./x.ts", import.meta.url)` in the code main.ts ships.
  const loaded: string[] = [];
  for (const folder of ["server", "client", "workers"]) {
    for (const path of walk(`${ROOT}${folder}`)) {
      if (path.endsWith("_test.ts") || path.includes("/bench/")) continue;
      const text = Deno.readTextFileSync(path);
      for (
        const match of text.matchAll(/new URL\("(\.{1,2}\/[^"]+\.tsx?)", import\.meta\.url\)/g)
      ) {
        const url = new URL(match[1] ?? "", `file://${path}`);
        loaded.push(decodeURIComponent(url.pathname).slice(ROOT.length));
      }
    }
  }
  assert.deepEqual([...new Set(loaded)].sort(), [...included].sort());
});

function* walk(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (/\.tsx?$/.test(entry.name)) yield path;
  }
}

testWith("read")(
  "compile task bakes in network, the working directory, PEDIDOS_* and libpq's PG* only",
  () => {
    assert.deepEqual(bakedPermissions(compileTask()), [
      "--allow-net",
      "--allow-read=.",
      "--allow-write=.",
      "--allow-env=PEDIDOS_*,NO_COLOR,PG*",
    ]);
  },
);

testWith("read", "write")(
  "compile task's permissions are enough for server --help from another directory",
  async () => {
    await using dir = await tempDir();
    const flags = await binaryEquivalentFlags(compileTask());
    const help = await deno(["run", ...flags, `${ROOT}main.ts`, "server", "--help"], dir.path);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: pedidos server/);
  },
);

testWith("read", "write")(
  "compile task's permissions refuse a database outside the working directory with exit 2 and advice a task user can follow",
  async () => {
    await using dir = await tempDir();
    await using elsewhere = await tempDir();
    const flags = await binaryEquivalentFlags(compileTask());
    const run = await deno(
      [
        "run",
        ...flags,
        `${ROOT}main.ts`,
        "server",
        "--port",
        "0",
        "--db",
        `${elsewhere.path}/x.db`,
      ],
      dir.path,
    );
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /cannot start: .*Requires read access to/);
    assert.match(
      run.stderr,
      /reads and writes only inside the folder it starts in.*See Permissions in the README/,
    );
  },
);

testWith("read", "write")(
  "compile task's permissions refuse an env file outside the working directory with exit 2 and the same advice",
  async () => {
    await using dir = await tempDir();
    await using elsewhere = await tempDir();
    await Deno.writeTextFile(`${elsewhere.path}/x.env`, "PEDIDOS_WORKERS=2\n");
    const flags = await binaryEquivalentFlags(compileTask());
    const run = await deno(
      ["run", ...flags, `${ROOT}main.ts`, "server", "--env-file", `${elsewhere.path}/x.env`],
      dir.path,
    );
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /Requires read access to/);
    assert.match(
      run.stderr,
      /reads and writes only inside the folder it starts in.*See Permissions in the README/,
    );
  },
);

testWith("read", "write")(
  "client, load and web tasks refuse an env file other than .env.local with exit 2 and advice a task user can follow",
  async () => {
    await using dir = await tempDir();
    await using elsewhere = await tempDir();
    await Deno.writeTextFile(`${elsewhere.path}/x.env`, "PEDIDOS_PORT=9\n");
    const tasks = JSON.parse(read("deno.json")).tasks as Record<string, string>;
    for (const [name, extra] of [["client", ["ping"]], ["load", []], ["web", []]] as const) {
      const words = tasks[name]!.split(/\s+/);
      assert.deepEqual(words.slice(0, 2), ["deno", "run"], name);
      const flags = words.slice(2, words.indexOf("main.ts"));
      const run = await deno(
        [
          "run",
          ...flags,
          `${ROOT}main.ts`,
          name,
          "--env-file",
          `${elsewhere.path}/x.env`,
          ...extra,
        ],
        dir.path,
      );
      assert.equal(run.code, 2, `${name}: ${run.stderr}`);
      assert.match(run.stderr, /Requires read access to/, name);
      assert.match(
        run.stderr,
        /read only the `\.env\.local` of the folder they start in.*See Permissions in the README/,
        name,
      );
    }
  },
);

testWith("read", "write")(
  "server -- --help is an argument, not a request for help: exit 2",
  async () => {
    await using dir = await tempDir();
    const flags = await binaryEquivalentFlags(compileTask());
    const run = await deno(["run", ...flags, `${ROOT}main.ts`, "server", "--", "--help"], dir.path);
    assert.equal(run.code, 2, run.stdout);
    assert.match(run.stderr, /Unexpected argument '--help'/);
  },
);

testWith("read", "write")(
  "compile task's permissions run server, client, load and web from another directory, and SIGTERM exits 0",
  async () => {
    await using dir = await tempDir();
    const flags = await binaryEquivalentFlags(compileTask());
    const main = (...args: string[]) => ["run", ...flags, `${ROOT}main.ts`, ...args];

    await using server = await start(
      main("server", "--port", "0", "--db", `${dir.path}/x.db`, "--process-ms", "0"),
      dir.path,
      /listening on 127\.0\.0\.1:(\d+)/,
    );
    const port = server.ready[1] ?? "";

    // The client finds the port in .env.local in its working directory.
    await Deno.writeTextFile(`${dir.path}/.env.local`, `PEDIDOS_PORT=${port}\n`);
    const ping = await deno(main("client", "ping", "--host", "127.0.0.1"), dir.path);
    assert.equal(ping.code, 0, ping.stderr);
    assert.match(ping.stdout, /pong/);

    const order = await deno(
      main(
        "client",
        "--host",
        "127.0.0.1",
        "--cliente",
        "Ana",
        "--producto",
        "pan",
        "--direccion",
        "C 1",
        "--esperar",
      ),
      dir.path,
    );
    assert.equal(order.code, 0, order.stderr);
    assert.match(order.stdout, /listo/);

    const load = await deno(
      main("load", "--host", "127.0.0.1", "--clientes", "2", "--pedidos", "2", "--json"),
      dir.path,
    );
    assert.equal(load.code, 0, load.stderr);
    assert.equal(JSON.parse(load.stdout).enviados, 4);

    {
      await using web = await start(
        main("web", "--host", "127.0.0.1", "--web-host", "127.0.0.1", "--web-port", "0"),
        dir.path,
        /web listening on (http:\/\/\S+)/,
      );
      // Signed out, / leads to the login page.
      const page = await fetch(web.ready[1] ?? "");
      const html = await page.text();
      assert.equal(page.status, 200, `GET / answered ${page.status}`);
      assert.equal(new URL(page.url).pathname, "/login");
      assert.match(html, /<title>Entrar · Pedidos<\/title>/);
      const webExit = await web.stop();
      assert.equal(webExit.code, 0, webExit.stderr);
    }

    const exit = await server.stop();
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stdout, /resumen recibidos=\d+ aceptados=5 /);
    assert.ok(Deno.statSync(`${dir.path}/x.db`).isFile, "the database is in the working directory");
  },
);

testWith("read")(
  "every PEDIDOS_* key the code reads is documented, with its default, in both env files",
  () => {
    const keys = envKeysReadByCode();
    // The recording saw the tables: the daemon's, the gateway's and the env file key.
    for (const setting of [SERVER_SETTINGS.drainTimeoutMs, WEB_SETTINGS.webPort]) {
      assert.ok(keys.has(envName(setting.flag)));
    }
    assert.ok(keys.has("PEDIDOS_ENV_FILE"));

    for (const file of ENV_FILES) {
      const lines = envLines(read(file));
      const documented = new Set(lines.map((line) => line.key));
      for (const key of keys) assert.ok(documented.has(key), `${file} documents ${key}`);
      for (const { key, value, commented } of lines) {
        // No key the code does not read (a typo, or a secret someone added).
        assert.ok(keys.has(key), `${file}: ${key} is read by the code`);
        // A commented-out line shows the built-in default.
        if (commented) {
          assert.ok(shownDefaults(key).has(value), `${file}: # ${key}=${value} is the default`);
        }
      }
    }
  },
);

testWith("read")("env files explain every key and hold only values the code accepts", () => {
  for (const file of ENV_FILES) {
    const text = read(file);
    const all = text.split("\n");
    for (const { key, line } of envLines(text)) {
      let above = line - 1;
      while (above >= 0 && KEY_LINE.test(all[above] ?? "")) above--;
      assert.match(all[above] ?? "", /^#\s*\S/, `${file}: a comment explains ${key}`);
    }
    // Each line, as written (set) or uncommented (shown): the programs that
    // read its key accept it, and a shown default changes nothing.
    for (const { key, value, commented } of envLines(text)) {
      const readers = PROGRAMS.filter((program) => program.keys.has(key));
      assert.ok(readers.length > 0, `${file}: ${key} is read by a program`);
      const effects = readers.map((program) => {
        // An empty default env file, so that naming it is no change.
        const sources = (vars: Record<string, string>): ConfigSources => ({
          getEnv: (name) => vars[name],
          readFile: (path) => path === DEFAULT_ENV_FILE ? "" : null,
        });
        const set = program.config(sources({ [key]: value }));
        return { program, changes: !isDeepStrictEqual(set, program.config(sources({}))) };
      });
      if (commented) {
        // A key several programs read shows one program's default (the daemon's host).
        const shownBy = readers.filter((program) => program.shows(key, value));
        assert.ok(shownBy.length > 0, `${file}: # ${key}=${value} is a program's default`);
        for (const { program, changes } of effects) {
          if (shownBy.includes(program)) {
            assert.ok(!changes, `${file}: # ${key}=${value} is ${program.name}'s default`);
          }
        }
      } else {
        assert.ok(effects.some((e) => e.changes), `${file}: ${key}=${value} changes a setting`);
      }
    }
  }
});

testWith("read", "write")(
  ".env.docker makes the daemon listen on every address and keep its database on /data",
  () => {
    const vars = parseEnv(read(".env.docker")) as Record<string, string | undefined>;
    const server = parseServerConfig([], only(vars));
    assert.deepEqual(server.hosts, ["*"]);
    assert.match(server.db, /^\/data\/[^/]+$/);
    assert.equal(parseWebConfig([], only(vars)).webHost, "0.0.0.0");
  },
);

testWith("read")(
  "compose.yaml defines servidor, web, cliente and testcliente, built from the Dockerfile",
  () => {
    const { services, volumes } = compose();
    assert.deepEqual(Object.keys(services).sort(), [...SERVICES].sort());
    for (const [name, service] of Object.entries(services)) {
      const build = typeof service.build === "string" ? { context: service.build } : service.build;
      assert.ok(build?.context !== undefined, `${name} is built here`);
      assert.ok(
        exists(`${build.context}/${build.dockerfile ?? "Dockerfile"}`),
        `${name}'s Dockerfile`,
      );
      const files = envFilesOf(service);
      assert.deepEqual(files, [".env.docker"], `${name} reads .env.docker`);
      for (const file of files) assert.ok(exists(file), `${name}: env_file ${file} exists`);
      const keys = envKeysReadByCode();
      for (const key of Object.keys(environmentOf(service))) {
        assert.ok(keys.has(key), `${name}: environment ${key} is read by the code`);
      }
    }
    const data = services.servidor?.volumes?.find((volume) => volume.split(":")[1] === "/data");
    assert.ok(data !== undefined, "servidor keeps /data on a volume");
    assert.ok(Object.hasOwn(volumes ?? {}, data.split(":")[0] ?? ""), "the volume is declared");
  },
);

testWith("read", "write")(
  "compose.yaml: every command parses to what its service is for, and the clients reach a healthy servidor",
  () => {
    const { services } = compose();
    const subcommands = Object.entries(services).map(([name, s]) => [name, s.command?.[0]]);
    assert.deepEqual(Object.fromEntries(subcommands), {
      servidor: "server",
      web: "web",
      cliente: "client",
      testcliente: "load",
    });
    // What each service runs with, read as the program reads its command and environment.
    const sourcesOf = (name: string) => only(serviceEnv(services[name] ?? {}));
    const argsOf = (name: string) => services[name]?.command?.slice(1) ?? [];
    const server = parseServerConfig(argsOf("servidor"), sourcesOf("servidor"));
    assert.deepEqual([server.hosts, server.port, server.db], [["*"], 8888, "/data/pedidos.db"]);
    const web = parseWebConfig(argsOf("web"), sourcesOf("web"));
    assert.deepEqual(
      [web.hosts, web.port, web.webHost, web.webPort],
      [["servidor"], 8888, "0.0.0.0", 5000],
    );
    assert.deepEqual(parseClientArgs(argsOf("cliente"), sourcesOf("cliente")), {
      kind: "pedido",
      request: { cliente: "Ana", productos: ["pan", "agua"], direccion: "Calle 1" },
      esperar: true,
      timeoutMs: null,
      config: { hosts: ["servidor"], port: 8888, envFile: null },
      json: false,
    });
    const load = parseLoadArgs(argsOf("testcliente"), sourcesOf("testcliente"));
    assert.deepEqual(
      [load.config.hosts, load.config.port, load.options.clientes, load.options.pedidos],
      [["servidor"], 8888, 10, 5],
    );
    assert.deepEqual(services.servidor?.healthcheck?.test?.slice(2, 4), ["client", "ping"]);
    for (const name of CLIENT_SERVICES) {
      const service = services[name] ?? {};
      assert.equal(service.depends_on?.servidor?.condition, "service_healthy", name);
      const { config } = parseClientArgs(["ping"], only(serviceEnv(service)));
      assert.deepEqual(config.hosts, ["servidor"], `${name} talks to servidor`);
    }
  },
);

testWith("read")("compose.yaml publishes the daemon and web ports on 127.0.0.1 only", () => {
  const { services } = compose();
  const published = new Map<string, string[]>();
  for (const [name, service] of Object.entries(services)) {
    for (const port of service.ports ?? []) {
      assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${port} on loopback`);
      published.set(name, [...(published.get(name) ?? []), port.split(":")[2] ?? ""]);
    }
  }
  assert.deepEqual(published.get("servidor"), [String(SERVER_SETTINGS.port.default)]);
  assert.deepEqual(published.get("web"), [String(WEB_SETTINGS.webPort.default)]);
});

testWith("read")(
  "compose.yaml: only the daemons' containers keep the image's ping healthcheck; the others turn it off",
  () => {
    const dockerfile = Deno.readTextFileSync(`${ROOT}Dockerfile`);
    assert.match(
      dockerfile,
      /HEALTHCHECK[^\n]*\\\n\s*CMD \[[^\]]*"client", "ping", "--host", "127\.0\.0\.1"\]/,
    );
    const ours = [
      ...Object.entries(compose().services),
      ...Object.entries(compose("cluster").services),
    ]
      .filter(([, s]) => s.image === "pedidos:local");
    assert.ok(ours.length >= 6, ours.map(([name]) => name).join());
    for (const [name, service] of ours) {
      if (service.command?.[0] === "server") {
        assert.deepEqual(service.healthcheck?.test?.slice(1, 5), [
          "/usr/local/bin/pedidos",
          "client",
          "ping",
          "--host",
        ], name);
      } else {
        // Nothing listens on its 127.0.0.1:8888: the ping would fail and mark it unhealthy.
        assert.equal(service.healthcheck?.disable, true, `${name} turns the ping off`);
      }
    }
  },
);

testWith("read")("compose.yaml gives servidor longer to stop than its drain timeout", () => {
  const servidor = compose().services.servidor ?? {};
  const { drainTimeoutMs } = parseServerConfig(
    servidor.command?.slice(1) ?? [],
    only(serviceEnv(servidor)),
  );
  assert.ok(
    durationMs(servidor.stop_grace_period ?? "10s") > drainTimeoutMs,
    `stop_grace_period ${servidor.stop_grace_period} > ${drainTimeoutMs} ms`,
  );
});

testWith("read")(
  "compose.yaml cluster profile: PostgreSQL with a volume and a healthcheck, two daemons on it, the gateway and Adminer",
  () => {
    const { services, volumes } = compose("cluster");
    assert.deepEqual(
      Object.keys(services).sort(),
      ["adminer", "postgres", "servidor-a", "servidor-b", "web-cluster"],
    );
    const postgres = services.postgres ?? {};
    assert.match(postgres.image ?? "", /^postgres:\d+/);
    const pgEnv = environmentOf(postgres);
    const data = postgres.volumes?.find((v) => v.split(":")[1] === "/var/lib/postgresql/data");
    assert.ok(data !== undefined, "PostgreSQL keeps its data on a volume");
    assert.ok(Object.hasOwn(volumes ?? {}, data.split(":")[0] ?? ""), "the volume is declared");
    assert.equal(postgres.healthcheck?.test?.[1], "pg_isready");

    const capacities = new Set<number>();
    for (const name of ["servidor-a", "servidor-b"]) {
      const daemon = services[name] ?? {};
      assert.deepEqual(daemon.command, ["server"], name);
      assert.ok(daemon.build !== undefined, `${name} is built here`);
      assert.equal(daemon.depends_on?.postgres?.condition, "service_healthy", name);
      const env = serviceEnv(daemon);
      const config = parseServerConfig([], only(env));
      const url = new URL(config.db);
      assert.equal(url.protocol, "postgres:", `${name} uses PostgreSQL`);
      assert.deepEqual(
        [url.hostname, url.username, url.pathname.slice(1)],
        ["postgres", pgEnv.POSTGRES_USER, pgEnv.POSTGRES_DB],
        `${name} reaches the postgres service's database`,
      );
      assert.equal(url.password, "", `${name}: no password in the URL (it would show in ps)`);
      assert.equal(env.PGPASSWORD, pgEnv.POSTGRES_PASSWORD, `${name}: the password, in PGPASSWORD`);
      assert.equal(daemon.healthcheck?.test?.[2], "client");
      capacities.add(config.maxPedidos);
      for (const key of Object.keys(environmentOf(daemon))) {
        assert.ok(
          envKeysReadByCode().has(key) || /^PG[A-Z]+$/.test(key),
          `${name}: ${key} is read`,
        );
      }
    }
    assert.equal(capacities.size, 1, "both daemons have the same --max-pedidos (one capacity)");

    const web = services["web-cluster"] ?? {};
    assert.deepEqual(web.command, ["web"]);
    const { config } = parseClientArgs(["ping"], only(serviceEnv(web)));
    assert.deepEqual(
      config.hosts,
      ["servidor-a", "servidor-b"],
      "the gateway reaches either daemon",
    );
    for (const name of ["servidor-a", "servidor-b"]) {
      assert.equal(web.depends_on?.[name]?.condition, "service_healthy");
    }
    assert.match(services.adminer?.image ?? "", /^adminer(:|$)/);
    assert.equal(environmentOf(services.adminer ?? {}).ADMINER_DEFAULT_SERVER, "postgres");

    // Published on loopback only, and not on the default profile's ports.
    const published: string[] = [];
    for (const [name, service] of Object.entries(services)) {
      for (const port of service.ports ?? []) {
        assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${port} on loopback`);
        published.push(port.split(":")[1] ?? "");
      }
    }
    const defaults = Object.values(compose().services).flatMap((service) =>
      (service.ports ?? []).map((port) => port.split(":")[1])
    );
    assert.equal(new Set([...published, ...defaults]).size, published.length + defaults.length);
    assert.equal(published.includes("5432"), false, "PostgreSQL itself is not published");
  },
);

testWith("read")(
  "Dockerfile compiles with exactly the compile task's flags, dependencies cached first",
  () => {
    const plan = compileTask();
    const instructions = dockerfile();
    const from = instructions.find((i) => i.name === "FROM")?.args ?? "";
    const version = /^denoland\/deno:(\d+\.\d+\.\d+)\b/.exec(from)?.[1];
    const ci = /^DENO_VERSION="([^"]+)"/m.exec(read(".ci/run"))?.[1];
    assert.ok(version !== undefined, `the build stage is a pinned denoland/deno image: ${from}`);
    assert.equal(version, ci, "the same Deno as CI");

    const runs = instructions.filter((i) => i.name === "RUN").map((i) => execForm(i.args));
    const compiles = runs.filter((run) => run?.[0] === "deno" && run[1] === "compile");
    assert.equal(compiles.length, 1, "one deno compile, in exec form");
    const args = (compiles[0] ?? []).slice(2).filter((arg) => !arg.startsWith("--output="));
    assert.deepEqual(args, [...plan.flags, plan.entry]);

    const index = (test: (i: Instruction) => boolean) => instructions.findIndex(test);
    const copyManifests = index((i) => i.name === "COPY" && /^deno\.json deno\.lock /.test(i.args));
    const install = index((i) =>
      i.name === "RUN" && JSON.stringify(execForm(i.args)) === '["deno","install","--frozen"]'
    );
    const copySources = index((i) => i.name === "COPY" && /\bmain\.ts\b|^\. /.test(i.args));
    const compile = index((i) => i.name === "RUN" && execForm(i.args)?.[1] === "compile");
    assert.ok(
      copyManifests >= 0 && copyManifests < install,
      "deno.json and deno.lock, then install",
    );
    assert.ok(install < copySources && copySources < compile, "then the sources, then compile");
  },
);

testWith("read")(
  "Dockerfile runtime image runs the binary as non-root with /data, both ports and a ping healthcheck",
  () => {
    const stage = runtimeStage(dockerfile());
    const get = (name: string) => stage.filter((i) => i.name === name).map((i) => i.args);
    const user = get("USER").at(-1) ?? "root";
    assert.doesNotMatch(user, /^(root|0)(:|$)/, "a non-root user");
    assert.ok(get("VOLUME").some((v) => v === '["/data"]' || v === "/data"), "VOLUME /data");
    assert.equal(get("WORKDIR").at(-1), "/data", "runs in /data, where --allow-read=. points");
    const exposed = get("EXPOSE").flatMap((e) => e.split(/\s+/));
    assert.ok(exposed.includes(String(SERVER_SETTINGS.port.default)), "EXPOSE the daemon's port");
    assert.ok(exposed.includes(String(WEB_SETTINGS.webPort.default)), "EXPOSE the web port");

    const entrypoint = execForm(get("ENTRYPOINT").at(-1) ?? "") ?? [];
    const binary = entrypoint[0] ?? "";
    assert.ok(get("COPY").some((c) => c.endsWith(` ${binary}`)), `${binary} is copied in`);
    const health = get("HEALTHCHECK").at(-1) ?? "";
    const check = execForm(health.slice(health.indexOf("CMD ")));
    assert.deepEqual(check?.slice(0, 3), [binary, "client", "ping"]);

    // ENV: keys the code reads, values it accepts, listening on every address.
    const env: Record<string, string> = {};
    for (const args of get("ENV")) {
      for (const match of args.matchAll(/(\S+?)=(\S+)/g)) env[match[1] ?? ""] = match[2] ?? "";
    }
    const keys = envKeysReadByCode();
    for (const key of Object.keys(env)) assert.ok(keys.has(key), `ENV ${key} is read by the code`);
    assert.deepEqual(parseServerConfig([], only(env)).hosts, ["*"]);
    // The gateway listens on every address there, yet answers only the loopback's names
    // (against DNS rebinding), as compose's .env.docker makes it.
    const web = parseWebConfig([], only(env));
    assert.equal(web.webHost, "0.0.0.0");
    assert.equal(web.webAllowedHosts, "loopback");
  },
);

testWith("read")(
  "systemd unit runs as its own user, restarts on failure and outwaits the drain on SIGTERM",
  () => {
    const unit: Record<string, string> = {};
    for (const line of read("server/packaging/pedidos.service").split("\n")) {
      const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
      if (match !== null) unit[match[1] ?? ""] = (match[2] ?? "").trim();
    }
    assert.ok(unit.User !== undefined && !/^(root|0)$/.test(unit.User), `User=${unit.User}`);
    assert.equal(unit.Restart, "on-failure");
    assert.equal(unit.KillSignal, "SIGTERM");

    const [binary, subcommand, ...args] = (unit.ExecStart ?? "").split(/\s+/);
    assert.match(binary ?? "", /\/pedidos$/);
    assert.equal(subcommand, "server");
    const { drainTimeoutMs, maxConnections } = parseServerConfig(args, only({}));
    // A descriptor per connection, and more for the rest.
    assert.ok(Number(unit.LimitNOFILE) > 2 * maxConnections, `LimitNOFILE=${unit.LimitNOFILE}`);
    const stopMs = durationMs(unit.TimeoutStopSec ?? "90s");
    assert.ok(
      stopMs > drainTimeoutMs,
      `TimeoutStopSec=${unit.TimeoutStopSec} > ${drainTimeoutMs} ms`,
    );

    // The binary reads and writes only its working directory: the state directory.
    assert.equal(unit.WorkingDirectory, `/var/lib/${unit.StateDirectory}`);
  },
);

testWith("read")(
  "systemd unit of the web gateway runs it as the daemon's user, after it, with the same settings file, and outwaits its 5 s stop",
  () => {
    const unitOf = (path: string) => {
      const unit: Record<string, string> = {};
      for (const line of read(path).split("\n")) {
        const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
        if (match !== null) unit[match[1] ?? ""] = (match[2] ?? "").trim();
      }
      return unit;
    };
    const daemon = unitOf("server/packaging/pedidos.service");
    const web = unitOf("server/packaging/pedidos-web.service");
    assert.equal(web.User, daemon.User);
    assert.match(web.After ?? "", /\bpedidos\.service\b/);
    assert.equal(web.EnvironmentFile, daemon.EnvironmentFile);
    assert.equal(web.WorkingDirectory, daemon.WorkingDirectory);
    assert.equal(web.Restart, "on-failure");
    assert.equal(web.RestartPreventExitStatus, "2");
    const [binary, subcommand, ...args] = (web.ExecStart ?? "").split(/\s+/);
    assert.match(binary ?? "", /\/pedidos$/);
    assert.equal(subcommand, "web");
    parseWebConfig(args, only({})); // its flags are the gateway's
    assert.ok(
      durationMs(web.TimeoutStopSec ?? "90s") > 5000,
      `TimeoutStopSec=${web.TimeoutStopSec}`,
    );
  },
);
