import assert from "node:assert/strict";
import { ProtocolError } from "./errors.ts";
import { validateOrder } from "./validate_order.ts";

const VALID = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1" };

function order(fields: Record<string, unknown>): Record<string, unknown> {
  return { ...VALID, ...fields };
}

/** Asserts that `value` is refused with invalid_order naming `campo`, in Spanish. */
function assertInvalid(value: Record<string, unknown>, campo: string): ProtocolError {
  let error: unknown;
  try {
    validateOrder(value);
  } catch (e) {
    error = e;
  }
  assert.ok(
    error instanceof ProtocolError,
    `expected a ProtocolError for ${JSON.stringify(value)}`,
  );
  assert.equal(error.code, "invalid_order");
  assert.equal(error.campo, campo, error.message);
  assert.match(error.message, /^❌ \S/);
  return error;
}

Deno.test("validateOrder() returns the order normalised", () => {
  assert.deepEqual(
    validateOrder({
      cliente: "  Juan Pérez \t",
      productos: [" pan ", { nombre: " agua ", cantidad: 3 }, { nombre: "sal" }],
      direccion: "\nAv. Siempre Viva 742 ",
      clave: " k-1 ",
    }),
    {
      cliente: "Juan Pérez",
      productos: ["pan", { nombre: "agua", cantidad: 3 }, { nombre: "sal", cantidad: 1 }],
      direccion: "Av. Siempre Viva 742",
      clave: " k-1 ",
    },
  );
});

Deno.test("validateOrder() refuses a missing, non-string or blank cliente", () => {
  const { cliente: _, ...withoutCliente } = VALID;
  const error = assertInvalid(withoutCliente, "cliente");
  assert.equal(error.message, "❌ Falta el cliente (texto de 1 a 200 caracteres).");
  for (const cliente of [null, "", "   ", "\t\n"]) {
    assert.match(assertInvalid(order({ cliente }), "cliente").message, /^❌ Falta el cliente/);
  }
  // Given, but not text: said so, not that it is missing.
  for (const cliente of [5, true, ["Ana"], { nombre: "Ana" }]) {
    assert.equal(
      assertInvalid(order({ cliente }), "cliente").message,
      "❌ El cliente debe ser un texto de 1 a 200 caracteres.",
    );
  }
  assert.match(
    assertInvalid(order({ direccion: 742 }), "direccion").message,
    /^❌ La dirección \(campo "direccion"\) debe ser un texto/,
  );
  assert.match(
    assertInvalid(order({ productos: [{ nombre: 7 }] }), "productos[0].nombre").message,
    /^❌ El nombre del producto productos\[0\] debe ser un texto/,
  );
});

Deno.test("validateOrder() limits cliente to 1..200 code points after trimming", () => {
  assert.equal(validateOrder(order({ cliente: "A" })).cliente, "A");
  assert.equal(validateOrder(order({ cliente: "a".repeat(200) })).cliente, "a".repeat(200));
  assert.match(assertInvalid(order({ cliente: "a".repeat(201) }), "cliente").message, /200/);
  // Trimmed before counting.
  assert.equal(
    validateOrder(order({ cliente: `  ${"a".repeat(200)}  ` })).cliente,
    "a".repeat(200),
  );
  // An emoji is one character (two UTF-16 code units).
  assert.equal(validateOrder(order({ cliente: "🍕".repeat(200) })).cliente, "🍕".repeat(200));
  assertInvalid(order({ cliente: "🍕".repeat(201) }), "cliente");
  assert.equal(validateOrder(order({ cliente: "é".repeat(200) })).cliente, "é".repeat(200));
  assertInvalid(order({ cliente: "a" + "🍕".repeat(200) }), "cliente");
});

Deno.test("validateOrder() trims every kind of Unicode white space, NEL included, and only at the ends", () => {
  // NEL (U+0085) is Unicode White_Space, which String.prototype.trim keeps.
  for (const space of [" ", "\t", "\n", "\r", "\u00a0", "\u2028", "\u3000", "\ufeff", "\u0085"]) {
    assertInvalid(order({ cliente: space.repeat(3) }), "cliente");
    assertInvalid(order({ direccion: space }), "direccion");
    assertInvalid(order({ productos: [space] }), "productos[0]");
    const trimmed = validateOrder(
      order({ cliente: `${space}A${space}B${space}`, productos: [`${space}pan`] }),
    );
    assert.equal(trimmed.cliente, `A${space}B`);
    assert.deepEqual(trimmed.productos, ["pan"]);
  }
  assert.equal(validateOrder(order({ cliente: "\u0085 \u0085Ana \u0085\t" })).cliente, "Ana");
});

Deno.test("validateOrder() refuses productos that is not a list of 1..100 items", () => {
  const { productos: _, ...withoutProductos } = VALID;
  assertInvalid(withoutProductos, "productos");
  for (const productos of [null, "pan", 5, { 0: "pan" }, []]) {
    assertInvalid(order({ productos }), "productos");
  }
  // Missing or empty is "missing"; of the wrong type, says it must be a list.
  for (const productos of [null, []]) {
    assert.match(
      assertInvalid(order({ productos }), "productos").message,
      /^❌ Faltan los productos/,
    );
  }
  for (const productos of ["pan", 5, { 0: "pan" }, true]) {
    assert.match(
      assertInvalid(order({ productos }), "productos").message,
      /^❌ El campo "productos" debe ser una lista de 1 a 100 productos/,
    );
  }
  assert.equal(validateOrder(order({ productos: ["pan"] })).productos.length, 1);
  assert.equal(validateOrder(order({ productos: Array(100).fill("pan") })).productos.length, 100);
  const error = assertInvalid(order({ productos: Array(101).fill("pan") }), "productos");
  assert.match(error.message, /101/);
  assert.match(error.message, /100/);
});

Deno.test("validateOrder() checks each string product and trims it", () => {
  assert.deepEqual(validateOrder(order({ productos: ["  pan\t", "🍕"] })).productos, ["pan", "🍕"]);
  assertInvalid(order({ productos: ["pan", ""] }), "productos[1]");
  assertInvalid(order({ productos: ["pan", "agua", "   "] }), "productos[2]");
  assert.deepEqual(validateOrder(order({ productos: ["x".repeat(200)] })).productos, [
    "x".repeat(200),
  ]);
  assertInvalid(order({ productos: ["pan", "x".repeat(201)] }), "productos[1]");
  assert.deepEqual(validateOrder(order({ productos: ["🍕".repeat(200)] })).productos, [
    "🍕".repeat(200),
  ]);
  assertInvalid(order({ productos: ["🍕".repeat(201)] }), "productos[0]");
});

Deno.test("validateOrder() refuses a product that is neither a string nor an object", () => {
  for (const item of [null, 5, true, ["pan"]]) {
    const error = assertInvalid(order({ productos: ["pan", "agua", "sal", item] }), "productos[3]");
    assert.match(error.message, /productos\[3\]/);
  }
});

Deno.test("validateOrder() checks nombre of a product object like a string product", () => {
  for (const nombre of [undefined, null, 5, "", "  ", "x".repeat(201)]) {
    assertInvalid(order({ productos: ["pan", { nombre, cantidad: 1 }] }), "productos[1].nombre");
  }
  assertInvalid(order({ productos: [{ cantidad: 2 }] }), "productos[0].nombre");
  assert.deepEqual(
    validateOrder(order({ productos: [{ nombre: ` ${"x".repeat(200)} ` }] })).productos,
    [{ nombre: "x".repeat(200), cantidad: 1 }],
  );
});

Deno.test("validateOrder() requires cantidad to be a safe integer of at least 1", () => {
  function cantidadOf(cantidad: unknown): unknown {
    return validateOrder(order({ productos: [{ nombre: "pan", cantidad }] })).productos[0];
  }
  assert.deepEqual(cantidadOf(1), { nombre: "pan", cantidad: 1 });
  assert.deepEqual(cantidadOf(250), { nombre: "pan", cantidad: 250 });
  assert.deepEqual(cantidadOf(Number.MAX_SAFE_INTEGER), {
    nombre: "pan",
    cantidad: Number.MAX_SAFE_INTEGER,
  });
  // Absent or null: the default, 1.
  assert.deepEqual(cantidadOf(undefined), { nombre: "pan", cantidad: 1 });
  assert.deepEqual(cantidadOf(null), { nombre: "pan", cantidad: 1 });
  assert.deepEqual(
    validateOrder(order({ productos: [{ nombre: "pan" }] })).productos,
    [{ nombre: "pan", cantidad: 1 }],
  );
  for (const cantidad of [0, -1, 1.5, "2", true, [2], Infinity, NaN, 2 ** 53, 1e400]) {
    const error = assertInvalid(
      order({ productos: ["sal", { nombre: "pan", cantidad }] }),
      "productos[1].cantidad",
    );
    assert.match(error.message, /entero/);
  }
  // As it comes off the wire: 1e400 parses to Infinity.
  assertInvalid(
    JSON.parse('{"cliente":"A","direccion":"B","productos":[{"nombre":"pan","cantidad":1e400}]}'),
    "productos[0].cantidad",
  );
});

Deno.test("validateOrder() keeps only nombre and cantidad of a product object", () => {
  const productos = validateOrder(
    order({ productos: [{ nombre: "pan", cantidad: 2, precio: 3, nota: "x" }] }),
  ).productos;
  assert.deepEqual(productos, [{ nombre: "pan", cantidad: 2 }]);
  assert.deepEqual(Object.keys(productos[0]!), ["nombre", "cantidad"]);
});

Deno.test("validateOrder() limits direccion to 1..500 code points after trimming", () => {
  const { direccion: _, ...withoutDireccion } = VALID;
  assertInvalid(withoutDireccion, "direccion");
  for (const direccion of [null, 5, "", "   ", ["Calle 1"]]) {
    assertInvalid(order({ direccion }), "direccion");
  }
  assert.equal(validateOrder(order({ direccion: "B" })).direccion, "B");
  assert.equal(validateOrder(order({ direccion: "d".repeat(500) })).direccion, "d".repeat(500));
  assertInvalid(order({ direccion: "d".repeat(501) }), "direccion");
  assert.equal(validateOrder(order({ direccion: "🏠".repeat(500) })).direccion, "🏠".repeat(500));
  assertInvalid(order({ direccion: "🏠".repeat(501) }), "direccion");
  assert.equal(
    validateOrder(order({ direccion: ` ${"d".repeat(500)}\n` })).direccion,
    "d".repeat(500),
  );
});

Deno.test("validateOrder() accepts dirección as direccion, and direccion wins", () => {
  const { direccion: _, ...base } = VALID;
  assert.equal(validateOrder({ ...base, "dirección": " Calle 2 " }).direccion, "Calle 2");
  assert.equal(
    validateOrder({ ...base, direccion: "Calle 1", "dirección": "Calle 2" }).direccion,
    "Calle 1",
  );
  assertInvalid({ ...base, direccion: "", "dirección": "Calle 2" }, "direccion");
  assertInvalid({ ...base, "dirección": "" }, "direccion");
  assertInvalid({ ...base, "dirección": "d".repeat(501) }, "direccion");
  // A null direccion counts as absent.
  assert.equal(
    validateOrder({ ...base, direccion: null, "dirección": "Calle 2" }).direccion,
    "Calle 2",
  );
});

Deno.test("validateOrder() limits clave to 1..128 code points, not trimmed", () => {
  assert.equal(validateOrder(VALID).clave, null);
  assert.equal(validateOrder(order({ clave: null })).clave, null);
  assert.equal(validateOrder(order({ clave: "k" })).clave, "k");
  assert.equal(validateOrder(order({ clave: "k".repeat(128) })).clave, "k".repeat(128));
  assert.equal(validateOrder(order({ clave: "🔑".repeat(128) })).clave, "🔑".repeat(128));
  assert.equal(validateOrder(order({ clave: "  " })).clave, "  ");
  assertInvalid(order({ clave: "" }), "clave");
  assertInvalid(order({ clave: "k".repeat(129) }), "clave");
  assertInvalid(order({ clave: "🔑".repeat(129) }), "clave");
  for (const clave of [5, true, ["k"], { k: 1 }]) assertInvalid(order({ clave }), "clave");
});

Deno.test("validateOrder() checks fields in the order cliente, productos, direccion, clave", () => {
  const bad = { cliente: "", productos: [], direccion: "", clave: "" };
  assertInvalid(bad, "cliente");
  assertInvalid({ ...bad, cliente: "Ana" }, "productos");
  assertInvalid({ ...bad, cliente: "Ana", productos: [""] }, "productos[0]");
  assertInvalid({ ...bad, cliente: "Ana", productos: ["pan", "", 5] }, "productos[1]");
  assertInvalid({ ...bad, cliente: "Ana", productos: ["pan"] }, "direccion");
  assertInvalid({ ...bad, cliente: "Ana", productos: ["pan"], direccion: "C" }, "clave");
  assertInvalid({}, "cliente");
});

Deno.test("validateOrder() drops unknown fields", () => {
  const result = validateOrder(order({ op: "PEDIDO", extra: 1, nota: { a: 1 }, id: 99 }));
  assert.deepEqual(Object.keys(result).sort(), ["clave", "cliente", "direccion", "productos"]);
});

Deno.test("validateOrder() ignores a __proto__ field and inherited properties", () => {
  // JSON.parse makes "__proto__" an ordinary own property; it must not supply fields.
  const sneaky = JSON.parse(
    '{"__proto__":{"cliente":"Ana","productos":["pan"],"direccion":"Calle 1"}}',
  );
  assertInvalid(sneaky, "cliente");
  const inherited = Object.create({ cliente: "Ana", productos: ["pan"], direccion: "Calle 1" });
  assertInvalid(inherited, "cliente");
  const result = validateOrder(
    JSON.parse(
      '{"__proto__":{"x":1},"cliente":"Ana","productos":[{"nombre":"pan","__proto__":{"cantidad":5}}],"direccion":"Calle 1"}',
    ),
  );
  assert.deepEqual(result.productos, [{ nombre: "pan", cantidad: 1 }]);
  assert.equal(Object.getPrototypeOf(result), Object.prototype);
  assert.equal(Object.hasOwn(result, "__proto__"), false);
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

Deno.test("validateOrder() refuses a NUL in any text field, naming the field", () => {
  // node:sqlite would read such a text back cut at the NUL.
  assert.match(assertInvalid(order({ cliente: "A\u0000na" }), "cliente").message, /NUL/);
  assertInvalid(order({ direccion: "C\u00001" }), "direccion");
  assertInvalid(order({ dirección: "C\u00001", direccion: undefined }), "direccion");
  assertInvalid(order({ productos: ["pan", "a\u0000b"] }), "productos[1]");
  assertInvalid(order({ productos: [{ nombre: "\u0000" }] }), "productos[0].nombre");
  assertInvalid(order({ clave: "k\u0000" }), "clave");
  // Other control characters are kept as sent.
  assert.equal(validateOrder(order({ cliente: "A\u0001\u007fB" })).cliente, "A\u0001\u007fB");
});
