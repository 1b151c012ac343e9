import assert from "node:assert/strict";
import { type ErrorCode, EXAMPLE_ORDER, MESSAGES, ProtocolError } from "./errors.ts";
import { Secret } from "./messages.ts";
import { mayBeJson, parseRequest } from "./parse_request.ts";

const ORDER = '"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"';
const NEW_ORDER = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null };

/** Asserts that `text` is refused with `code` (and `campo`), with a Spanish mensaje. */
function assertRefused(text: string, code: ErrorCode, campo?: string): ProtocolError {
  let error: unknown;
  try {
    parseRequest(text);
  } catch (e) {
    error = e;
  }
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  assert.ok(error instanceof ProtocolError, `expected a ProtocolError for ${shown}`);
  assert.equal(error.code, code, `${shown}: ${error.message}`);
  assert.equal(error.campo, campo, `${shown}: ${error.message}`);
  assert.match(error.message, /^❌ \S/);
  return error;
}

Deno.test("parseRequest() refuses text that is not JSON with invalid_json and an example", () => {
  for (const text of ["", " ", "hola", "{", '{"op":}', "{'op':'PING'}", '{"op":"PING"} x', "}"]) {
    const error = assertRefused(text, "invalid_json");
    assert.equal(error.message, MESSAGES.invalid_json);
    assert.ok(error.cause instanceof SyntaxError);
  }
  assert.match(MESSAGES.invalid_json, /"cliente"/);
});

Deno.test("parseRequest() refuses JSON that is not an object with invalid_json, saying what came", () => {
  const kinds: [string, RegExp][] = [
    ["null", /no null\./],
    ["[]", /no una lista/],
    ["[1,2]", /no una lista/],
    ['[{"op":"PING"}]', /no una lista/],
    ['"PING"', /no un texto/],
    ["5", /no un número/],
    ["1e400", /no un número/],
    ["true", /no true\./],
  ];
  for (const [text, kind] of kinds) {
    const { message } = assertRefused(text, "invalid_json");
    // Valid JSON, but not an object: not called "JSON inválido".
    assert.match(message, /^❌ Se esperaba un objeto JSON/);
    assert.match(message, kind);
    assert.ok(message.includes(EXAMPLE_ORDER), message);
  }
});

Deno.test("parseRequest() refuses deep nesting with invalid_json", () => {
  assertRefused("[".repeat(100000), "invalid_json");
  assertRefused("[".repeat(100000) + "]".repeat(100000), "invalid_json");
  assertRefused('{"a":'.repeat(100000), "invalid_json");
  assertRefused("[".repeat(1_000_000) + "]".repeat(999_999), "invalid_json");
  // Deep but well-formed JSON parses (V8's JSON.parse does not recurse): an object is then an order.
  assertRefused('{"a":'.repeat(100000) + "1" + "}".repeat(100000), "invalid_order", "cliente");
  const deep = "[".repeat(100000) + "]".repeat(100000);
  assert.deepEqual(parseRequest(`{${ORDER},"extra":${deep}}`), { op: "PEDIDO", order: NEW_ORDER });
});

Deno.test("parseRequest() reads an object without op as a bare order", () => {
  assert.deepEqual(parseRequest(`{${ORDER}}`), { op: "PEDIDO", order: NEW_ORDER });
  assert.deepEqual(parseRequest(`{${ORDER},"dirección":"x","extra":[1]}`), {
    op: "PEDIDO",
    order: NEW_ORDER,
  });
  assertRefused("{}", "invalid_order", "cliente");
  assertRefused('{"cliente":"Ana"}', "invalid_order", "productos");
});

Deno.test("parseRequest() refuses a non-string op with invalid_request", () => {
  for (const op of ["5", "null", "true", '["PING"]', '{"name":"PING"}']) {
    assertRefused(`{"op":${op}}`, "invalid_request", "op");
  }
  assertRefused(`{${ORDER},"op":null}`, "invalid_request", "op");
});

Deno.test("parseRequest() reads op case-insensitively and trimmed", () => {
  for (const op of ["PING", "ping", "Ping", " pInG\t"]) {
    assert.deepEqual(parseRequest(`{"op":${JSON.stringify(op)}}`), { op: "PING" });
  }
  assert.deepEqual(parseRequest('{"op":"stats"}'), { op: "STATS" });
});

Deno.test("parseRequest() refuses an unknown op with unknown_op", () => {
  // Case-insensitive in ASCII only: a dotless ı or a long ſ does not fold into PING or STATS.
  for (const op of ["", "  ", "FOO", "PINGG", "PED IDO", "pedidos", "pıng", "ſtats", "ﬆats"]) {
    const error = assertRefused(`{"op":${JSON.stringify(op)}}`, "unknown_op", "op");
    assert.match(
      error.message,
      /PEDIDO, ESTADO, LISTAR, STATS, TASK, PING, CANCELAR, REINTENTAR, REGISTRO, LOGIN o GET_TAREAS_HTML/,
    );
  }
  // A long op is echoed only in part.
  const error = assertRefused(`{"op":"${"X".repeat(10000)}"}`, "unknown_op", "op");
  assert.ok(error.message.length < 200);
});

Deno.test("parseRequest() names an unknown op before a bad data field of the same envelope", () => {
  for (const data of ["5", '"x"', "[1]"]) {
    assertRefused(`{"op":"FOO","data":${data}}`, "unknown_op", "op");
    // For an op it knows, the bad data is the fault.
    assertRefused(`{"op":"ESTADO","data":${data}}`, "invalid_request", "data");
  }
});

Deno.test("parseRequest() reads REGISTRO and LOGIN credentials, with username as an alias", () => {
  for (const op of ["REGISTRO", "login", " Registro "]) {
    const forms = [
      `{"op":"${op}","data":{"usuario":"ana","password":"s3cret-pass"}}`,
      `{"op":"${op}","usuario":"ana","password":"s3cret-pass"}`,
      `{"op":"${op}","data":{"username":"ana","password":"s3cret-pass"}}`,
    ];
    for (const text of forms) {
      const request = parseRequest(text);
      assert.equal(request.op, op.trim().toUpperCase());
      assert.ok(request.op === "REGISTRO" || request.op === "LOGIN");
      assert.equal(request.credentials.usuario, "ana");
      assert.ok(request.credentials.password instanceof Secret);
      assert.equal(request.credentials.password.reveal(), "s3cret-pass");
    }
  }
  // usuario wins over username when both are given
  const both = parseRequest(
    '{"op":"LOGIN","usuario":"ana","username":"eva","password":"12345678"}',
  );
  assert.ok(both.op === "LOGIN" && both.credentials.usuario === "ana");
});

Deno.test("parseRequest() accepts names of 3-64 letters, digits, dot, underscore and dash", () => {
  for (const usuario of ["ana", "Ana.Maria_2-x", "a".repeat(64), "0_0", "..."]) {
    const request = parseRequest(JSON.stringify({ op: "REGISTRO", usuario, password: "12345678" }));
    assert.ok(request.op === "REGISTRO" && request.credentials.usuario === usuario, usuario);
  }
});

Deno.test("parseRequest() refuses a bad usuario with invalid_user", () => {
  const bad: unknown[] = [
    "ab",
    "a".repeat(65),
    "<script>",
    "ana maria",
    " ana",
    "ana@x",
    "jo😀sé",
    "a\u0301b", // "áb" once composed: two characters
    "\u0301\u0301\u0301", // combining marks on nothing: a name that shows as nothing
    "_\u0301ab", // a mark on punctuation
    "1\u20dd23", // a mark on a digit
    "opera\u3164", // a letter that draws as nothing: shown as "opera"
    "\u3164\u3164\u3164", // a name of nothing but blank letters
    "\u1160\u1160\u1160",
    // Marks that draw as nothing after a letter: each shown as "opera".
    "opera\u034f", // combining grapheme joiner
    "opera\ufe0f", // variation selectors
    "opera\ufe00",
    "opera\u{e0100}",
    "opera\u180b", // Mongolian free variation selector
    "opera\u17b4", // Khmer inherent vowel
    "an\uffa0a",
    "\ud800ana",
    "",
    42,
    null,
    ["ana"],
  ];
  for (const usuario of bad) {
    const text = JSON.stringify({ op: "REGISTRO", data: { usuario, password: "s3cret-pass" } });
    assert.match(assertRefused(text, "invalid_user", "usuario").message, /3 a 64/);
  }
  // A name registered before marks had to sit on letters still signs in.
  const older = parseRequest(JSON.stringify({
    op: "LOGIN",
    data: { usuario: "_\u0301ab", password: "s3cret-pass" },
  })) as { credentials: { usuario: string } };
  assert.equal(older.credentials.usuario, "_\u0301ab");
  assertRefused('{"op":"LOGIN","password":"s3cret-pass"}', "invalid_user", "usuario");
  // A password that is not text is told so, not that its length is wrong.
  for (const password of ["12345678", "true", '["s3cret-pass"]', '{"a":"s3cret-pass"}']) {
    const { message } = assertRefused(
      `{"op":"LOGIN","usuario":"ana","password":${password}}`,
      "invalid_user",
      "password",
    );
    assert.match(message, /^❌ La contraseña debe ser un texto entre comillas/);
  }
  for (const password of ["", ',"password":null']) {
    const { message } = assertRefused(
      `{"op":"LOGIN","usuario":"ana"${password}}`,
      "invalid_user",
      "password",
    );
    assert.match(message, /^❌ Falta la contraseña/);
  }
});

Deno.test("parseRequest() refuses a new usuario that would pass for another: lookalike scripts mixed, compatibility forms; such a name registered before still signs in", () => {
  for (
    const usuario of [
      "\u0430na", // Cyrillic а, then Latin "na": shown as "ana"
      "Ana\u03bf", // Latin with a Greek ο
      "\uff26\uff55\uff4c\uff4c", // fullwidth "Ｆｕｌｌ"
      "\ufb01le", // the ligature "ﬁ" + "le": "file"
      "\u00aana", // the ordinal "ª", a letter NFKC makes "a"
    ]
  ) {
    const text = JSON.stringify({ op: "REGISTRO", data: { usuario, password: "s3cret-pass" } });
    assert.match(
      assertRefused(text, "invalid_user", "usuario").message,
      /no puede mezclar letras latinas, griegas y cirílicas/,
      usuario,
    );
    const login = parseRequest(JSON.stringify({
      op: "LOGIN",
      data: { usuario, password: "s3cret-pass" },
    })) as { credentials: { usuario: string } };
    assert.equal(login.credentials.usuario, usuario);
  }
});

Deno.test("parseRequest() takes letters of any script in usuario, in one Unicode form", () => {
  for (const usuario of ["josé", "María_2", "Ñandú-3", "Łukasz", "Ελένη", "山田太郎", "नमस्ते"]) {
    const parsed = parseRequest(JSON.stringify({
      op: "REGISTRO",
      data: { usuario, password: "s3cret-pass" },
    })) as { credentials: { usuario: string } };
    assert.equal(parsed.credentials.usuario, usuario);
  }
  // The accent typed as a combining mark is the same name.
  const decomposed = parseRequest(JSON.stringify({
    op: "LOGIN",
    data: { usuario: "jose\u0301", password: "s3cret-pass" },
  })) as { credentials: { usuario: string } };
  assert.equal(decomposed.credentials.usuario, "josé");
});

Deno.test("parseRequest() refuses a bad password with invalid_user", () => {
  const bad: unknown[] = ["1234567", "x".repeat(257), "😀".repeat(257), "", 12345678, null];
  for (const password of bad) {
    const text = JSON.stringify({ op: "LOGIN", data: { usuario: "ana", password } });
    assert.match(assertRefused(text, "invalid_user", "password").message, /8 a 256/);
  }
  assertRefused('{"op":"REGISTRO","usuario":"ana"}', "invalid_user", "password");
});

Deno.test("parseRequest() counts password length in code points", () => {
  for (const password of ["😀".repeat(8), "ñ".repeat(256), "😀".repeat(256)]) {
    const request = parseRequest(JSON.stringify({ op: "LOGIN", usuario: "ana", password }));
    assert.ok(request.op === "LOGIN" && request.credentials.password.reveal() === password);
  }
  assertRefused(
    JSON.stringify({ op: "LOGIN", usuario: "ana", password: "😀".repeat(7) }),
    "invalid_user",
    "password",
  );
});

Deno.test("parseRequest() never shows a password or token when a request is printed", () => {
  const login = parseRequest('{"op":"LOGIN","usuario":"ana","password":"s3cret-pass"}');
  const tareas = parseRequest('{"op":"GET_TAREAS_HTML","token":"tok-123456"}');
  assert.ok(login.op === "LOGIN" && tareas.op === "GET_TAREAS_HTML");
  for (const request of [login, tareas]) {
    for (const shown of [JSON.stringify(request), Deno.inspect(request, { depth: 10 })]) {
      assert.doesNotMatch(shown, /s3cret-pass|tok-123456/);
      assert.match(shown, /\[oculto\]/);
    }
  }
  assert.equal(`${login.credentials.password}`, "[oculto]");
  assert.equal(String(tareas.token), "[oculto]");
});

Deno.test("parseRequest() reads the token of GET_TAREAS_HTML", () => {
  for (
    const text of [
      '{"op":"GET_TAREAS_HTML","data":{"token":"abc"}}',
      '{"op":"get_tareas_html","token":"abc"}',
    ]
  ) {
    const request = parseRequest(text);
    assert.ok(request.op === "GET_TAREAS_HTML" && request.token.reveal() === "abc");
  }
});

Deno.test("parseRequest() answers GET_TAREAS_HTML without a usable token with unauthorized", () => {
  for (
    const data of [{}, { token: "" }, { token: 5 }, { token: null }, { token: "x".repeat(513) }]
  ) {
    const error = assertRefused(
      JSON.stringify({ op: "GET_TAREAS_HTML", data }),
      "unauthorized",
      "token",
    );
    assert.equal(error.message, MESSAGES.unauthorized);
  }
});

Deno.test("parseRequest() reads arguments at the top level or in data, data winning", () => {
  const expected = { op: "ESTADO", id: 42, esperar: false, timeoutMs: 30000 };
  assert.deepEqual(parseRequest('{"op":"estado","data":{"id":42}}'), expected);
  assert.deepEqual(
    parseRequest('{"op":"estado","data":{"id":42}}'),
    parseRequest('{"op":"ESTADO","id":42}'),
  );
  assert.deepEqual(parseRequest('{"op":"ESTADO","id":1,"data":{"id":42}}'), expected);
  assert.deepEqual(parseRequest('{"op":"ESTADO","id":42,"data":{}}'), expected);
  assert.deepEqual(parseRequest('{"op":"ESTADO","id":42,"data":{"esperar":true}}'), {
    ...expected,
    esperar: true,
  });
  // data wins even when its value is bad, or null (absent).
  assertRefused('{"op":"ESTADO","id":42,"data":{"id":"x"}}', "invalid_request", "id");
  assertRefused('{"op":"ESTADO","id":42,"data":{"id":null}}', "invalid_request", "id");
});

Deno.test("parseRequest() lets a field in data win over the top level under either of its names", () => {
  const inData = '"cliente":"Ana","productos":["pan"],"dirección":"En data"';
  assert.deepEqual(parseRequest(`{"op":"PEDIDO","direccion":"Arriba","data":{${inData}}}`), {
    op: "PEDIDO",
    order: { ...NEW_ORDER, direccion: "En data" },
  });
  assert.deepEqual(
    parseRequest(`{"op":"PEDIDO","dirección":"Arriba","data":{${ORDER}}}`),
    { op: "PEDIDO", order: NEW_ORDER },
  );
  // A null in data is the field given as absent, under either name.
  assertRefused(
    `{"op":"PEDIDO","dirección":"Arriba","data":{"cliente":"Ana","productos":["pan"],"direccion":null}}`,
    "invalid_order",
    "direccion",
  );
  const login = parseRequest(
    '{"op":"LOGIN","usuario":"eva","data":{"username":"ana","password":"s3cret-pass"}}',
  );
  assert.ok(login.op === "LOGIN" && login.credentials.usuario === "ana");
  // Without data, both names at the top level are read as before.
  assert.deepEqual(
    parseRequest(`{"op":"PEDIDO","cliente":"Ana","productos":["pan"],"dirección":"Calle 1"}`),
    { op: "PEDIDO", order: NEW_ORDER },
  );
});

Deno.test("parseRequest() refuses a data that is not an object with invalid_request", () => {
  for (const data of ["[]", '[{"id":42}]', '"id=42"', "42", "false"]) {
    assertRefused(`{"op":"ESTADO","id":42,"data":${data}}`, "invalid_request", "data");
  }
});

Deno.test("parseRequest() takes a data of null as absent, as any null field", () => {
  assert.deepEqual(parseRequest('{"op":"PING","data":null}'), { op: "PING" });
  assert.deepEqual(parseRequest('{"op":"STATS","data":null}'), { op: "STATS" });
  const estado = parseRequest('{"op":"ESTADO","id":42,"data":null}');
  assert.equal((estado as { id: number }).id, 42);
  assertRefused('{"op":"ESTADO","data":null}', "invalid_request", "id");
  const pedido = parseRequest(`{"op":"PEDIDO",${ORDER},"data":null}`);
  assert.equal(pedido.op, "PEDIDO");
});

Deno.test("parseRequest() ignores __proto__ keys when merging data", () => {
  assertRefused('{"op":"ESTADO","data":{"__proto__":{"id":5}}}', "invalid_request", "id");
  assertRefused('{"op":"ESTADO","__proto__":{"id":5},"data":{}}', "invalid_request", "id");
  assertRefused(
    `{"op":"PEDIDO","data":{"__proto__":{${ORDER}}}}`,
    "invalid_order",
    "cliente",
  );
  assert.deepEqual(parseRequest(`{"op":"PEDIDO","__proto__":{"x":1},"data":{${ORDER}}}`), {
    op: "PEDIDO",
    order: NEW_ORDER,
  });
  assert.equal(({} as Record<string, unknown>).id, undefined);
});

Deno.test("parseRequest() reads PEDIDO in both forms", () => {
  const expected = { op: "PEDIDO", order: NEW_ORDER };
  assert.deepEqual(parseRequest(`{"op":"PEDIDO","data":{${ORDER}}}`), expected);
  assert.deepEqual(parseRequest(`{"op":"pedido",${ORDER}}`), expected);
  assert.deepEqual(parseRequest(`{"op":"PEDIDO","cliente":"Otro","data":{${ORDER}}}`), expected);
  assert.deepEqual(parseRequest(`{"op":"PEDIDO","data":{${ORDER},"clave":"k1"}}`), {
    op: "PEDIDO",
    order: { ...NEW_ORDER, clave: "k1" },
  });
  assertRefused('{"op":"PEDIDO"}', "invalid_order", "cliente");
  assertRefused(
    '{"op":"PEDIDO","data":{"cliente":"Ana","productos":[]}}',
    "invalid_order",
    "productos",
  );
});

Deno.test("parseRequest() reads ESTADO with its defaults", () => {
  assert.deepEqual(parseRequest('{"op":"ESTADO","id":1}'), {
    op: "ESTADO",
    id: 1,
    esperar: false,
    timeoutMs: 30000,
  });
  assert.deepEqual(parseRequest('{"op":"ESTADO","id":7,"esperar":true,"timeout_ms":1500}'), {
    op: "ESTADO",
    id: 7,
    esperar: true,
    timeoutMs: 1500,
  });
  assert.deepEqual(
    parseRequest('{"op":"ESTADO","id":7,"esperar":null,"timeout_ms":null}'),
    { op: "ESTADO", id: 7, esperar: false, timeoutMs: 30000 },
  );
  assert.equal(
    (parseRequest('{"op":"ESTADO","id":7,"timeout_ms":0}') as { timeoutMs: number }).timeoutMs,
    0,
  );
});

Deno.test("parseRequest() requires ESTADO id to be an integer; one below 1 or past 2^53 names no order", () => {
  assertRefused('{"op":"ESTADO"}', "invalid_request", "id");
  for (const id of ["null", "1.5", "-0.5", '"42"', "true", "[42]", "{}"]) {
    assertRefused(`{"op":"ESTADO","id":${id}}`, "invalid_request", "id");
  }
  // An integer of the right type that no order has: unknown, as §2 says (ids start at 1).
  for (const [id, named] of [["0", " 0"], ["-0", " 0"], ["-1", " -1"], ["-1e400", ""]]) {
    for (const op of ["ESTADO", "CANCELAR", "REINTENTAR"]) {
      const error = assertRefused(`{"op":"${op}","id":${id}}`, "not_found");
      assert.equal(error.message, `❌ No existe el pedido${named}: los ids empiezan en 1.`);
    }
  }
  assert.equal(
    (parseRequest('{"op":"ESTADO","id":9007199254740991}') as { id: number }).id,
    Number.MAX_SAFE_INTEGER,
  );
  // Past it: no order has such an id. The message names none: past 2^53 the
  // number read is not always the one sent (…993 reads as …992). One too
  // large for a double (JSON reads Infinity) is as large as any.
  for (const id of ["9007199254740992", "9007199254740993", "1e20", "1e400"]) {
    for (const op of ["ESTADO", "CANCELAR", "REINTENTAR"]) {
      const error = assertRefused(`{"op":"${op}","id":${id}}`, "not_found");
      assert.equal(
        error.message,
        "❌ No existe ese pedido: el id es mayor que cualquier id posible (2^53 − 1).",
      );
    }
  }
  // Once every other field is valid.
  assertRefused('{"op":"ESTADO","id":1e20,"esperar":"sí"}', "invalid_request", "esperar");
});

Deno.test("parseRequest() reads an order operation's token only when it is shaped like a session token; any other is ignored, as an unknown field", () => {
  const issued = "A".repeat(21) + "-_" + "z9".repeat(10); // 43 characters of base64url
  for (const op of ["ESTADO", "CANCELAR", "REINTENTAR"]) {
    const read = parseRequest(`{"op":"${op}","id":1,"token":"${issued}"}`);
    assert.equal((read as { token?: { reveal(): string } }).token?.reveal(), issued, op);
    for (
      const other of ['"abc"', "7", "true", '""', `"${issued}x"`, `"${issued.slice(1)}="`, "{}"]
    ) {
      const request = parseRequest(`{"op":"${op}","id":1,"token":${other}}`);
      assert.equal("token" in request, false, `${op} with token ${other}`);
    }
  }
  const bare = parseRequest(
    `{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1","token":"abc"}`,
  );
  assert.equal(bare.op, "PEDIDO");
  assert.equal("token" in bare, false, "a bare order's stray token is not stored either");
  const listed = parseRequest(`{"op":"LISTAR","data":{"token":"${issued}"}}`);
  assert.equal((listed as { token?: { reveal(): string } }).token?.reveal(), issued, "in data too");
});

Deno.test("parseRequest() checks ESTADO esperar and timeout_ms", () => {
  for (const esperar of ["1", '"true"', "0", "[]"]) {
    assertRefused(`{"op":"ESTADO","id":1,"esperar":${esperar}}`, "invalid_request", "esperar");
  }
  for (const timeout of ["-1", '"5"', "-1e400", "true", "[]"]) {
    assertRefused(
      `{"op":"ESTADO","id":1,"timeout_ms":${timeout}}`,
      "invalid_request",
      "timeout_ms",
    );
  }
  for (
    const [timeout, expected] of [
      ["600000", 600000],
      ["600001", 600000],
      ["1e300", 600000],
      ["1e400", 600000],
    ]
  ) {
    const request = parseRequest(`{"op":"ESTADO","id":1,"timeout_ms":${timeout}}`);
    assert.equal((request as { timeoutMs: number }).timeoutMs, expected);
  }
});

Deno.test("parseRequest() reads LISTAR with its defaults and optional filters", () => {
  assert.deepEqual(parseRequest('{"op":"LISTAR"}'), { op: "LISTAR", filter: { limit: 50 } });
  assert.deepEqual(
    parseRequest(
      '{"op":"listar","data":{"estado":"en proceso","cliente":" Ana","limit":10,"antes_de":99}}',
    ),
    // The name as stored: trimmed, as an order's cliente is.
    { op: "LISTAR", filter: { estado: "en proceso", cliente: "Ana", limit: 10, antesDe: 99 } },
  );
  // null is absent, and absent keys are left out.
  const request = parseRequest(
    '{"op":"LISTAR","estado":null,"cliente":null,"limit":null,"antes_de":null}',
  );
  assert.deepEqual(request, { op: "LISTAR", filter: { limit: 50 } });
  assert.deepEqual(Object.keys((request as { filter: object }).filter), ["limit"]);
  for (const estado of ["pendiente", "en proceso", "listo", "error"]) {
    assert.deepEqual(parseRequest(`{"op":"LISTAR","estado":"${estado}"}`), {
      op: "LISTAR",
      filter: { estado, limit: 50 },
    });
  }
});

Deno.test("parseRequest() checks LISTAR fields", () => {
  for (const estado of ['"LISTO"', '"en_proceso"', '""', "1", '["listo"]']) {
    assertRefused(`{"op":"LISTAR","estado":${estado}}`, "invalid_request", "estado");
  }
  for (const cliente of ["1", "true", '["Ana"]', '{"a":1}']) {
    assertRefused(`{"op":"LISTAR","cliente":${cliente}}`, "invalid_request", "cliente");
  }
  for (const limit of ["0", "-5", "1.5", '"10"', "-1e400", "true"]) {
    assertRefused(`{"op":"LISTAR","limit":${limit}}`, "invalid_request", "limit");
  }
  for (const antesDe of ["0", "-1", "2.5", '"9"', "-1e400", "false"]) {
    assertRefused(`{"op":"LISTAR","antes_de":${antesDe}}`, "invalid_request", "antes_de");
  }
});

Deno.test("parseRequest() caps LISTAR limit at 1000", () => {
  for (
    const [limit, expected] of [
      [1, 1],
      [1000, 1000],
      [1001, 1000],
      [2 ** 53 - 1, 1000],
      [2 ** 53, 1000],
      [1e20, 1000],
      [1e300, 1000],
      ["1e400", 1000],
    ]
  ) {
    assert.deepEqual(parseRequest(`{"op":"LISTAR","limit":${limit}}`), {
      op: "LISTAR",
      filter: { limit: expected },
    });
  }
});

Deno.test("parseRequest() reads an antes_de beyond every id as no bound below it", () => {
  for (const antesDe of ["1e20", "1e400"]) {
    assert.deepEqual(parseRequest(`{"op":"LISTAR","antes_de":${antesDe}}`), {
      op: "LISTAR",
      filter: { limit: 50, antesDe: Number.MAX_SAFE_INTEGER },
    });
  }
});

Deno.test("parseRequest() names PEDIDO on every error of a PEDIDO request, and no other op", () => {
  for (const text of ['{"op":"PEDIDO","data":5}', '{"op":"pedido","data":[]}']) {
    assert.equal(assertRefused(text, "invalid_request", "data").op, "PEDIDO", text);
  }
  assert.equal(assertRefused("{}", "invalid_order", "cliente").op, "PEDIDO");
  assert.equal(assertRefused('{"op":"ESTADO","data":5}', "invalid_request", "data").op, undefined);
});

Deno.test("parseRequest() reads STATS and PING, ignoring other fields", () => {
  assert.deepEqual(parseRequest('{"op":"STATS"}'), { op: "STATS" });
  assert.deepEqual(parseRequest('{"op":"PING","data":{"x":1},"y":2}'), { op: "PING" });
});

Deno.test("parseRequest() reads TASK sum, upper and lower", () => {
  assert.deepEqual(parseRequest('{"op":"TASK","data":{"task":{"name":"sum","args":[1,2,3.5]}}}'), {
    op: "TASK",
    task: { name: "sum", args: [1, 2, 3.5] },
  });
  assert.deepEqual(parseRequest('{"op":"task","task":{"name":"sum","args":[]}}'), {
    op: "TASK",
    task: { name: "sum", args: [] },
  });
  assert.deepEqual(parseRequest('{"op":"TASK","data":{"task":{"name":"upper","s":"hola"}}}'), {
    op: "TASK",
    task: { name: "upper", s: "hola" },
  });
  assert.deepEqual(
    parseRequest('{"op":"TASK","data":{"task":{"name":"lower","s":"","args":[1],"x":1}}}'),
    { op: "TASK", task: { name: "lower", s: "" } },
  );
});

Deno.test("parseRequest() refuses a TASK without a proper task with invalid_task", () => {
  assertRefused('{"op":"TASK"}', "invalid_task", "task");
  for (const task of ["null", '"sum"', "[1,2]", "5"]) {
    assertRefused(`{"op":"TASK","data":{"task":${task}}}`, "invalid_task", "task");
  }
  for (const name of ["", ',"name":null', ',"name":5', ',"name":["sum"]']) {
    assertRefused(`{"op":"TASK","task":{"args":[1]${name}}}`, "invalid_task", "task.name");
  }
  for (const args of ["", ',"args":null', ',"args":"1,2"', ',"args":[1,"2"]', ',"args":[1,null]']) {
    assertRefused(`{"op":"TASK","task":{"name":"sum"${args}}}`, "invalid_task", "task.args");
  }
  assertRefused(
    '{"op":"TASK","task":{"name":"sum","args":[1,1e400]}}',
    "invalid_task",
    "task.args",
  );
  assertRefused('{"op":"TASK","task":{"name":"sum","args":[-1e400]}}', "invalid_task", "task.args");
  // The message names the item that is wrong, and how.
  assert.match(
    assertRefused(
      '{"op":"TASK","task":{"name":"sum","args":[1,"2",3]}}',
      "invalid_task",
      "task.args",
    )
      .message,
    /args\[1\] no es un número/,
  );
  assert.match(
    assertRefused(
      '{"op":"TASK","task":{"name":"sum","args":[1,2,1e400]}}',
      "invalid_task",
      "task.args",
    )
      .message,
    /args\[2\] de la tarea sum es demasiado grande/,
  );
  for (const s of ["", ',"s":null', ',"s":5', ',"s":["a"]']) {
    assertRefused(`{"op":"TASK","task":{"name":"upper"${s}}}`, "invalid_task", "task.s");
    assertRefused(`{"op":"TASK","task":{"name":"lower"${s}}}`, "invalid_task", "task.s");
  }
});

Deno.test("parseRequest() refuses an unknown task name with unknown_task", () => {
  for (const name of ["SUM", "Upper", "mul", "", " sum"]) {
    const error = assertRefused(
      `{"op":"TASK","task":{"name":${JSON.stringify(name)},"args":[1]}}`,
      "unknown_task",
      "task.name",
    );
    assert.match(error.message, /sum, upper o lower/);
  }
});

Deno.test("parseRequest() handles huge numbers", () => {
  // An integer id past 2^53 is not found, not invalid, however large.
  assertRefused('{"op":"ESTADO","id":1e400}', "not_found");
  assertRefused('{"op":"ESTADO","id":123456789012345678901234567890}', "not_found");
  assertRefused(
    `{${ORDER.replace('["pan"]', '[{"nombre":"pan","cantidad":1e400}]')}}`,
    "invalid_order",
    "productos[0].cantidad",
  );
  assert.deepEqual(parseRequest('{"op":"TASK","task":{"name":"sum","args":[1e308,1e-320]}}'), {
    op: "TASK",
    task: { name: "sum", args: [1e308, 1e-320] },
  });
});

Deno.test("parseRequest() says a TASK text with a lone surrogate is not valid Unicode, not that it is missing", () => {
  const bad = assertRefused(
    '{"op":"TASK","task":{"name":"upper","s":"a\\ud800"}}',
    "invalid_task",
    "task.s",
  );
  assert.match(bad.message, /Unicode válido/);
  const missing = assertRefused('{"op":"TASK","task":{"name":"upper"}}', "invalid_task", "task.s");
  assert.doesNotMatch(missing.message, /Unicode/);
});

Deno.test("parseRequest() says a password with a lone surrogate is not valid Unicode, not that its length is wrong", () => {
  for (const op of ["REGISTRO", "LOGIN"]) {
    const bad = assertRefused(
      `{"op":"${op}","data":{"usuario":"ana","password":"s3cret\\ud800pass"}}`,
      "invalid_user",
      "password",
    );
    assert.match(bad.message, /Unicode válido/);
    assert.doesNotMatch(bad.message, /de 8 a 256/);
    const short = assertRefused(
      `{"op":"${op}","data":{"usuario":"ana","password":"corta"}}`,
      "invalid_user",
      "password",
    );
    assert.match(short.message, /de 8 a 256 caracteres/);
  }
});

Deno.test("parseRequest() refuses a password holding a NUL, which the hash would take for the same password without it", () => {
  for (const op of ["REGISTRO", "LOGIN"]) {
    for (const password of ["s3cret-pass\\u0000", "s3cret\\u0000pass"]) {
      const bad = assertRefused(
        `{"op":"${op}","data":{"usuario":"ana","password":"${password}"}}`,
        "invalid_user",
        "password",
      );
      assert.match(bad.message, /NUL \(U\+0000\)/);
    }
  }
});

Deno.test("parseRequest() says a sum argument too large for a double is too large, not that it is no number", () => {
  const huge = assertRefused(
    '{"op":"TASK","task":{"name":"sum","args":[1,-1e400]}}',
    "invalid_task",
    "task.args",
  );
  assert.match(huge.message, /args\[1\]/);
  assert.match(huge.message, /demasiado grande/);
  const text = assertRefused(
    '{"op":"TASK","task":{"name":"sum","args":[1,"2"]}}',
    "invalid_task",
    "task.args",
  );
  assert.doesNotMatch(text.message, /demasiado grande/);
});

Deno.test("mayBeJson() tells text that cannot be JSON from text JSON.parse must judge", () => {
  for (
    const text of ["x", "hola", "GET / HTTP/1.1", "", "   ", "\u00a0{}", "}", "'a'", "NaN", "+1"]
  ) {
    assert.equal(mayBeJson(text), false, JSON.stringify(text));
    assert.throws(() => JSON.parse(text), SyntaxError, "JSON.parse refuses it too");
  }
  for (
    const text of ['{"op":"PING"}', " \t\r\n[1]", '"s"', "-1", "0", "true", "false", "null", "{x"]
  ) {
    assert.equal(mayBeJson(text), true, JSON.stringify(text));
  }
});
