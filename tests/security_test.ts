/**
 * Security properties of issue 4: input is data, never code or SQL; logs
 * never carry passwords or tokens, even at `--log debug`.
 * (Default loopback bind: tests/lifecycle_test.ts; each limit:
 * tests/limits_test.ts, tests/ops_test.ts, tests/hostile_peers_test.ts.)
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Logger } from "../server/log.ts";
import { Server } from "../server/server.ts";
import { rawConnect, ROOT, startInProcess, tempDir, TEST_SETTINGS } from "./test_util.ts";
import { testWith } from "./permissions.ts";

const INJECTIONS = [
  "'; DROP TABLE pedidos; --",
  '" OR 1=1 --',
  "Robert'); DELETE FROM pedidos WHERE ('1'='1",
  "x' UNION SELECT sqlite_version(), 1, 1 --",
  "${Deno.exit(7)}",
  "`${globalThis.polluted = 1}`",
  "__proto__",
  "constructor",
];

testWith("read", "write")(
  "security: SQL and code in every field are stored as plain text and change nothing",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    await using daemon = await startInProcess({ db, maxPedidos: 100 });
    await using conn = await rawConnect(daemon.port);
    const ids: number[] = [];
    for (const text of INJECTIONS) {
      const order = {
        cliente: text,
        productos: [text, { nombre: text }],
        direccion: text,
        clave: text,
      };
      await conn.write(JSON.stringify(order) + "\n");
      const reply = await conn.readLine();
      assert.equal(reply?.ok, true, text);
      ids.push(reply?.id as number);
      await conn.write(`{"op":"ESTADO","id":${reply?.id}}\n`);
      const pedido = (await conn.readLine())?.pedido as Record<string, unknown>;
      assert.equal(pedido.cliente, text);
      assert.equal(pedido.direccion, text);
      assert.equal(pedido.clave, text);
      assert.deepEqual(pedido.productos, [text, { nombre: text, cantidad: 1 }]);
      // As a filter it matches exactly that order, never more.
      await conn.write(JSON.stringify({ op: "LISTAR", cliente: text }) + "\n");
      const found = (await conn.readLine())?.pedidos as { id: number }[];
      assert.deepEqual(found.map((p) => p.id), [reply?.id], `LISTAR cliente=${text}`);
    }
    for (const op of INJECTIONS) {
      await conn.write(JSON.stringify({ op }) + "\n");
      assert.equal((await conn.readLine())?.error, "unknown_op");
      await conn.write(JSON.stringify({ op: "LISTAR", estado: op }) + "\n");
      assert.equal((await conn.readLine())?.error, "invalid_request");
      await conn.write(JSON.stringify({ op: "TASK", task: { name: op } }) + "\n");
      assert.equal((await conn.readLine())?.error, "unknown_task");
    }
    assert.equal(
      (globalThis as Record<string, unknown>).polluted,
      undefined,
      "nothing was evaluated",
    );
    await daemon.server.shutdown();
    const check = new DatabaseSync(db, { readOnly: true });
    try {
      const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()
        .map((row) => row.name);
      assert.ok(tables.includes("pedidos"), "the table is still there");
      const count = check.prepare("SELECT count(*) AS n FROM pedidos").get() as { n: number };
      assert.equal(count.n, INJECTIONS.length, "no row added or deleted by the input");
    } finally {
      check.close();
    }
  },
);

testWith("read")(
  "security: no source file evaluates input (eval, new Function, dynamic import of data)",
  async () => {
    const offenders: string[] = [];
    const sources: string[] = ["main.ts"];
    const walk = async (dir: string) => {
      for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory) await walk(path);
        else if (/\.tsx?$/.test(entry.name) && !/_test\.tsx?$/.test(entry.name)) sources.push(path);
      }
    };
    for (const dir of ["server", "workers", "client"]) await walk(dir);
    assert.ok(sources.includes("client/web/app.tsx"), "the walk reaches nested folders");
    // The one dynamic import of a computed specifier: the processor module (§11) that the
    // operator names with --processor (configuration, never request data), in the workers.
    const operatorModule = "workers/processor_module.ts";
    for (const path of sources) {
      const text = await Deno.readTextFile(`${ROOT}${path}`);
      const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ""); // comments may mention them
      for (const pattern of [/\beval\s*\(/, /\bnew\s+Function\s*\(/, /\bimport\s*\(\s*[^"'\s]/]) {
        if (path === operatorModule && pattern.source.startsWith("\\bimport")) {
          const specifiers = [...code.matchAll(/\bimport\s*\(([^)]*)\)/g)].map((m) => m[1]);
          assert.deepEqual(specifiers, ["source.url"], `${path} imports only --processor`);
          continue;
        }
        if (pattern.test(code)) offenders.push(`${path}: ${pattern}`);
      }
    }
    assert.deepEqual(offenders, []);
  },
);

testWith("read", "env")(
  "security: passwords and tokens never reach the log, even at debug level",
  async () => {
    const lines: string[] = [];
    const password = "Pw-0f-Ana-7x9q";
    let token = "";
    const server = await Server.start({
      config: { ...TEST_SETTINGS, log: "debug" },
      logger: new Logger({ level: "debug", write: (line) => lines.push(line) }),
    });
    try {
      await using conn = await rawConnect(server.port);
      const requests = [
        { op: "REGISTRO", data: { usuario: "ana", password } },
        { op: "REGISTRO", data: { usuario: "ana", password } }, // taken
        { op: "LOGIN", data: { usuario: "ana", password } },
        { op: "LOGIN", data: { usuario: "ana", password: `${password}-wrong` } },
        { op: "LOGIN", data: { usuario: password, password } }, // a password typed as the name
        { op: "REGISTRO", data: { usuario: "x", password } }, // invalid_user
      ];
      for (const request of requests) {
        await conn.write(JSON.stringify(request) + "\n");
        const reply = await conn.readLine();
        if (typeof reply?.token === "string") token = reply.token;
      }
      const tokens = [token || "tok-never-issued", "forged-token-123456"];
      for (const t of tokens) {
        await conn.write(JSON.stringify({ op: "GET_TAREAS_HTML", data: { token: t } }) + "\n");
        await conn.readLine();
      }
      // Broken requests that carry them: not JSON, a bad order, an unknown op.
      await conn.write(`{"op":"LOGIN","password":"${password}"\n`);
      await conn.write("}\n");
      await conn.readLine();
      await conn.write(
        JSON.stringify({ cliente: password, productos: [], direccion: token }) + "\n",
      );
      await conn.readLine();
      await conn.write(JSON.stringify({ op: password, token }) + "\n");
      await conn.readLine();
    } finally {
      await server.shutdown();
    }
    assert.ok(lines.length > 0, "debug logging was on");
    for (const secret of [password, "forged-token-123456", ...(token ? [token] : [])]) {
      const leaks = lines.filter((line) => line.includes(secret));
      assert.deepEqual(leaks, [], `"${secret}" in the log`);
    }
    // What is logged instead: where a failed sign-in came from.
    const failed = lines.filter((line) => line.includes("account.login_failed"));
    assert.equal(failed.length, 2, failed.join("\n"));
    for (const line of failed) assert.match(line, /peer=127\.0\.0\.1:\d+/);
  },
);
