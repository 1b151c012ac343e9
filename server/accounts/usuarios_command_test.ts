/**
 * `pedidos usuarios`: what it says when it cannot do what it was asked.
 * (Roles given and taken back on a real database: tests/ownership_test.ts.)
 */
import assert from "node:assert/strict";
import { runUsuariosCommand, USUARIOS_USAGE } from "./usuarios_command.ts";
import { testWith } from "../../tests/permissions.ts";

const NO_SOURCES = { getEnv: () => undefined, readFile: () => null };

async function usuarios(args: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const status = await runUsuariosCommand(args, {
    out: (line) => out += `${line}\n`,
    err: (line) => err += `${line}\n`,
    sources: NO_SOURCES,
  });
  return { status, out, err };
}

Deno.test("pedidos usuarios says an unknown option in one short sentence, then the usage (exit 2)", async () => {
  const { status, out, err } = await usuarios(["operador", "ana", "--bogus"]);
  assert.equal(status, 2);
  assert.equal(out, "");
  assert.equal(err, `pedidos usuarios: Unknown option '--bogus'\n\n${USUARIOS_USAGE}\n`);
});

// The PostgreSQL driver reads PG* variables.
testWith("env")(
  "pedidos usuarios with its PostgreSQL database down says whose role it could not change, the password hidden (exit 2)",
  async () => {
    // A loopback port nobody listens on: it was free a moment ago.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr;
    listener.close();
    const { status, out, err } = await usuarios([
      "operador",
      "ana",
      "--db",
      `postgres://x:pw-secreto@127.0.0.1:${port}/db`,
    ]);
    assert.equal(status, 2);
    assert.equal(out, "");
    assert.match(
      err,
      /^pedidos usuarios: Cannot change the role of "ana": the database is unavailable: /,
    );
    assert.doesNotMatch(err, /setRole|pw-secreto/);
  },
);
