/**
 * What the gateway's forms refuse before asking the daemon, as a user (or a
 * program posting to them) sees it: fields that are not text, and a task
 * without its text. Fake daemon, no sockets.
 */
import assert from "node:assert/strict";
import { FakeBrowser, fakeGateway, ORIGIN, signIn } from "./web_test_util.ts";

/** POSTs `body` as typed (percent escapes kept as bytes), with the page's CSRF token. */
function postRaw(browser: FakeBrowser, path: string, body: string) {
  const headers = new Headers({
    "content-type": "application/x-www-form-urlencoded",
    origin: ORIGIN,
    cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
  });
  const csrf = encodeURIComponent(browser.csrf ?? "");
  return browser.send(
    new Request(ORIGIN + path, { method: "POST", headers, body: `${body}&_csrf=${csrf}` }),
  );
}

Deno.test("gateway: an order whose cliente is not UTF-8 is refused with 422 naming the field, and nothing is stored", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  await browser.get("/pedidos");
  const page = await postRaw(
    browser,
    "/pedidos",
    "cliente=%ff%fe%80&productos=pan&direccion=Calle+1&clave=k1",
  );
  assert.equal(page.status, 422);
  assert.match(page.text, /«cliente» no es texto válido/);
  assert.match(page.text, /No se envió nada/);
  assert.equal(gw.daemon.sent("PEDIDO").length, 0, "nothing was sent to the daemon");
  assert.equal(gw.daemon.pedidos.length, 0);
  // Text typed in any script still goes.
  await browser.get("/pedidos");
  const ok = await postRaw(
    browser,
    "/pedidos",
    "cliente=Jos%C3%A9+%F0%9F%8D%95&productos=pan&direccion=Calle+1&clave=k2",
  );
  assert.equal(ok.status, 303);
  assert.equal(gw.daemon.pedidos[0]?.cliente, "José 🍕");
});

Deno.test("gateway: a sign-in or a task with a field that is not UTF-8 is refused with 422, not sent", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await browser.get("/login");
  const login = await postRaw(browser, "/login", "usuario=ana&password=%C3");
  assert.equal(login.status, 422);
  assert.match(login.text, /«password» no es texto válido/);
  assert.equal(gw.daemon.sent("LOGIN").length, 0);
  await signIn(browser);
  await browser.get("/tareas");
  const task = await postRaw(browser, "/tareas", "tarea=upper&texto=%ff");
  assert.equal(task.status, 422);
  assert.match(task.text, /«texto» no es texto válido/);
  assert.equal(gw.daemon.sent("TASK").length, 0);
});

Deno.test("gateway: upper or lower without the texto field is refused with 422 saying so; an empty text is converted", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  for (const tarea of ["upper", "lower"]) {
    const page = await browser.submit("/tareas", { tarea });
    assert.equal(page.status, 422, tarea);
    assert.match(page.text, /class="result error"[^>]*>❌ Falta el texto/);
  }
  assert.equal(gw.daemon.sent("TASK").length, 0, "nothing was sent to the daemon");
  // §2.5: "s" is a text, and "" is one: an empty box is a valid (empty) task, and the
  // page lets a browser send one (no `required` on the box).
  const form = await browser.get("/tareas");
  assert.equal([...form.text.matchAll(/<input name="texto"[^>]*>/g)].length, 2);
  assert.doesNotMatch(form.text, /<input name="texto"[^>]*required/);
  const empty = await browser.submit("/tareas", { tarea: "upper", texto: "" });
  assert.equal(empty.status, 200);
  assert.deepEqual(gw.daemon.sent("TASK")[0], {
    op: "TASK",
    data: { task: { name: "upper", s: "" } },
  });
});

/** POSTs a multipart form as a browser sends a FormData (`enctype="multipart/form-data"`), with the page's CSRF token. */
function postMultipart(
  browser: FakeBrowser,
  path: string,
  body: Uint8Array<ArrayBuffer>,
  boundary: string,
) {
  const headers = new Headers({
    "content-type": `multipart/form-data; boundary=${boundary}`,
    origin: ORIGIN,
    cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
  });
  return browser.send(new Request(ORIGIN + path, { method: "POST", headers, body }));
}

/** The bytes of a multipart body with these fields (a value given as bytes is sent as is). */
function multipartBody(
  boundary: string,
  fields: Record<string, string | Uint8Array>,
): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  for (const [name, value] of Object.entries(fields)) {
    chunks.push(
      encoder.encode(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`),
      typeof value === "string" ? encoder.encode(value) : value,
      encoder.encode("\r\n"),
    );
  }
  chunks.push(encoder.encode(`--${boundary}--\r\n`));
  return new Uint8Array(chunks.flatMap((chunk) => [...chunk]));
}

Deno.test("gateway: a task sent as a multipart form with '€' and an emoji is converted, and one with bytes that are not UTF-8 is refused with 422", async () => {
  using gw = fakeGateway();
  const browser = gw.browser();
  await signIn(browser);
  await browser.get("/tareas");
  const boundary = "----formdata-7d1";
  const fields = { tarea: "upper", texto: "precio 5 € 😀", _csrf: browser.csrf ?? "" };
  const ok = await postMultipart(browser, "/tareas", multipartBody(boundary, fields), boundary);
  assert.equal(ok.status, 200);
  assert.match(ok.text, /PRECIO 5 € 😀/);
  assert.equal(gw.daemon.sent("TASK").length, 1);
  await browser.get("/tareas");
  const bad = multipartBody(boundary, {
    tarea: "upper",
    texto: new Uint8Array([0x41, 0xe2, 0x82]),
    _csrf: browser.csrf ?? "",
  });
  const refused = await postMultipart(browser, "/tareas", bad, boundary);
  assert.equal(refused.status, 422);
  assert.match(refused.text, /«texto» no es texto válido/);
  assert.equal(gw.daemon.sent("TASK").length, 1, "nothing more was sent");
});
