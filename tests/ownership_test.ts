/**
 * Orders belong to the account whose session token placed them (issue 14,
 * finding 5): with a token, PEDIDO records the owner and ESTADO, LISTAR,
 * CANCELAR and REINTENTAR see only that account's orders, except for an
 * `operador`, who sees all; without a token, TCP clients behave as before.
 * The operador role is given and taken back with `pedidos usuarios`, also
 * while a daemon runs on the database.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { PedidosClient } from "../client/client.ts";
import { runUsuariosCommand, setAccountRole } from "../server/accounts/usuarios_command.ts";
import { runMain, startInProcess, tempDir } from "./test_util.ts";
import { testWith } from "./permissions.ts";

const ORDER = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };

/** Registers `usuario` and returns its LOGIN reply. */
async function account(client: PedidosClient, usuario: string) {
  const password = "s3cret-pass";
  assert.equal((await client.request({ op: "REGISTRO", usuario, password })).ok, true);
  const login = await client.request({ op: "LOGIN", usuario, password });
  assert.equal(login.ok, true);
  return { token: String(login.token), rol: String(login.rol) };
}

function ids(reply: Record<string, unknown>): number[] {
  return (reply.pedidos as { id: number }[]).map((p) => p.id);
}

testWith("read", "write")(
  "ownership: with a token each account sees and changes only its own orders; without one, everything as before",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    await using daemon = await startInProcess({
      db,
      workers: 1,
      processMs: { min: 60_000, max: 60_000 },
      drainTimeoutMs: 50,
      maxPedidos: 20,
    });
    const client = await daemon.client();
    const ana = await account(client, "ana");
    const beto = await account(client, "beto");
    assert.equal(ana.rol, "usuario", "LOGIN says the role");

    await client.request(ORDER); // anonymous, takes the only worker: the rest stay pendiente
    const a = (await client.request({ op: "PEDIDO", data: ORDER, token: ana.token })).id as number;
    const b = (await client.request({ ...ORDER, token: beto.token })).id as number; // a bare order too
    const anon = (await client.request(ORDER)).id as number;

    assert.deepEqual(ids(await client.request({ op: "LISTAR", token: ana.token })), [a]);
    assert.deepEqual(ids(await client.request({ op: "LISTAR", token: beto.token })), [b]);
    const all = ids(await client.request({ op: "LISTAR" }));
    assert.deepEqual(all.slice(0, 3), [anon, b, a], "without a token, every order");

    const foreign = await client.request({ op: "ESTADO", id: a, token: beto.token });
    assert.equal(foreign.error, "not_found", "another account's order does not exist for beto");
    assert.equal((await client.request({ op: "ESTADO", id: a, token: ana.token })).ok, true);
    assert.equal((await client.request({ op: "ESTADO", id: a })).ok, true, "TCP as before");
    for (const op of ["CANCELAR", "REINTENTAR"]) {
      const refused = await client.request({ op, id: a, token: beto.token });
      assert.equal(refused.error, "not_found", op);
    }
    const waited = await client.request({
      op: "ESTADO",
      id: a,
      esperar: true,
      timeout_ms: 1,
      token: beto.token,
    });
    assert.equal(waited.error, "not_found", "no waiting on another's order either");
    const cancelled = await client.request({ op: "CANCELAR", id: a, token: ana.token });
    assert.equal((cancelled.pedido as { estado: string }).estado, "cancelado");

    // A token shaped as the daemon issues them that names no live session is refused.
    const ended = await client.request({ op: "LISTAR", token: "x".repeat(43) });
    assert.equal(ended.error, "unauthorized");
    assert.equal(ended.campo, "token", "the field at fault, as for GET_TAREAS_HTML");
    // Any other `token` is a field the contract does not define: ignored (§2.1).
    const stray = await client.request({ op: "ESTADO", id: a, token: 42 });
    assert.equal(stray.ok, true, JSON.stringify(stray));
    const placed = await client.request({ ...ORDER, token: "not-a-session" });
    assert.equal(placed.ok, true, JSON.stringify(placed));
    const seen = await client.request({ op: "ESTADO", id: placed.id, token: beto.token });
    assert.equal(seen.error, "not_found", "placed without an owner: not beto's");
  },
);

Deno.test("ownership: a clave used by another account is refused, never answered with that account's order", async () => {
  await using daemon = await startInProcess({ maxPedidos: 20 });
  const client = await daemon.client();
  const ana = await account(client, "ana");
  const beto = await account(client, "beto");
  const first = await client.request({ ...ORDER, clave: "k-1", token: ana.token });
  assert.equal(first.ok, true);
  const again = await client.request({ ...ORDER, clave: "k-1", token: ana.token });
  assert.equal(again.duplicado, true, "the same account's retry is idempotent, as always");
  assert.equal(again.id, first.id);
  const other = await client.request({ ...ORDER, clave: "k-1", token: beto.token });
  assert.equal(other.error, "invalid_order");
  assert.equal(other.campo, "clave");
  assert.doesNotMatch(String(other.mensaje), new RegExp(`\\b${first.id}\\b`), "no id leaks");
  assert.deepEqual(ids(await client.request({ op: "LISTAR", token: beto.token })), []);
});

testWith("read", "write")(
  "ownership: an operador sees every order; the role is given and taken back while the daemon runs, at once",
  async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/p.db`;
    await using daemon = await startInProcess({ db, maxPedidos: 20 });
    const client = await daemon.client();
    const ana = await account(client, "ana");
    const ope = await account(client, "ope");
    const a = (await client.request({ ...ORDER, token: ana.token })).id as number;
    const o = (await client.request({ ...ORDER, token: ope.token })).id as number;
    assert.deepEqual(ids(await client.request({ op: "LISTAR", token: ope.token })), [o]);

    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    assert.equal(await runUsuariosCommand(["operador", "OPE", "--db", db], io), 0);
    assert.match(lines.at(-1)!, /OPE es operador/);
    // The same session, at once: no new LOGIN needed.
    assert.deepEqual(ids(await client.request({ op: "LISTAR", token: ope.token })), [o, a]);
    assert.equal((await client.request({ op: "ESTADO", id: a, token: ope.token })).ok, true);
    const relogin = await client.request({ op: "LOGIN", usuario: "ope", password: "s3cret-pass" });
    assert.equal(relogin.rol, "operador");

    assert.equal(await runUsuariosCommand(["usuario", "ope", "--db", db], io), 0);
    assert.deepEqual(ids(await client.request({ op: "LISTAR", token: ope.token })), [o]);
    assert.equal(await setAccountRole(db, "nadie", "operador"), false);
  },
);

testWith("read", "write", "run", "env")(
  "ownership: pedidos usuarios exits 1 for an unknown name and 2 for bad usage, a missing database or a file that is not one (left as it was)",
  async () => {
    await using dir = await tempDir();
    const noFile = await runMain(dir.path, ["usuarios", "operador", "ana", "--db", "nope.db"]);
    assert.equal(noFile.code, 2, noFile.stderr);
    assert.match(noFile.stderr, /file does not exist/);
    // A mistyped --db: another program's SQLite file, an empty file, not SQLite at all.
    {
      const other = new DatabaseSync(`${dir.path}/otra.db`);
      other.exec("CREATE TABLE notas (texto TEXT)");
      other.close();
    }
    Deno.writeFileSync(`${dir.path}/vacio.db`, new Uint8Array());
    Deno.writeTextFileSync(`${dir.path}/texto.db`, "hola\n".repeat(100));
    for (const name of ["otra.db", "vacio.db", "texto.db"]) {
      const before = Deno.readFileSync(`${dir.path}/${name}`);
      const foreign = await runMain(dir.path, ["usuarios", "operador", "ana", "--db", name]);
      assert.equal(foreign.code, 2, `${name}: ${foreign.stderr}`);
      assert.match(
        foreign.stderr,
        name === "texto.db"
          ? /^pedidos usuarios: Cannot open database "texto\.db": file is not a database$/m
          : new RegExp(`^pedidos usuarios: "${name}" is not a pedidos database`, "m"),
        name,
      );
      assert.deepEqual(Deno.readFileSync(`${dir.path}/${name}`), before, `${name} left as it was`);
    }
    Deno.mkdirSync(`${dir.path}/carpeta.db`);
    const folder = await runMain(dir.path, ["usuarios", "operador", "ana", "--db", "carpeta.db"]);
    assert.equal(folder.code, 2, folder.stderr);
    assert.match(
      folder.stderr,
      /^pedidos usuarios: Cannot open database "carpeta\.db": it is a directory$/m,
    );
    const usage = await runMain(dir.path, ["usuarios", "jefe", "ana"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /expected "operador NOMBRE" or "usuario NOMBRE"/);
    // A database a daemon made, with one account.
    {
      await using daemon = await startInProcess({ db: `${dir.path}/p.db` });
      await account(await daemon.client(), "ana");
    }
    const missing = await runMain(dir.path, ["usuarios", "operador", "beto", "--db", "p.db"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no account named "beto"/);
    const done = await runMain(dir.path, ["usuarios", "operador", "ana"], {
      env: { PEDIDOS_DB: "p.db" },
    });
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /ana es operador/);
    const help = await runMain(dir.path, ["usuarios", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /pedidos usuarios operador NOMBRE/);
  },
);

testWith("read", "write", "run", "env")(
  "ownership: pedidos usuarios refuses a database a daemon holds under another name (a hard link), and works on the daemon's name",
  async () => {
    await using dir = await tempDir();
    await using daemon = await startInProcess({ db: `${dir.path}/p.db` });
    await account(await daemon.client(), "ana");
    Deno.linkSync(`${dir.path}/p.db`, `${dir.path}/hard.db`);
    // Under the link, it would read the file without the daemon's WAL (no
    // "ana" yet) and write a WAL of its own, which a later start would replay.
    const aliased = await runMain(dir.path, ["usuarios", "operador", "ana", "--db", "hard.db"]);
    assert.equal(aliased.code, 2, aliased.stderr);
    assert.match(aliased.stderr, /holds this file under another name/);
    assert.throws(() => Deno.statSync(`${dir.path}/hard.db-wal`), Deno.errors.NotFound);
    const done = await runMain(dir.path, ["usuarios", "operador", "ana", "--db", "p.db"]);
    assert.equal(done.code, 0, done.stderr);
  },
);
