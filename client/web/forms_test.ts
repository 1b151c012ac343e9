import assert from "node:assert/strict";
import { isTooLarge, parseNumbers, parseProductos, refusal, statusFor } from "./forms.ts";

Deno.test("parseNumbers() reads spaces and semicolons as separators and a decimal comma", () => {
  assert.deepEqual(parseNumbers("1 2 3.5"), [1, 2, 3.5]);
  assert.deepEqual(parseNumbers(" 1;2 ;  3,5\n-4 1e3 .5 "), [1, 2, 3.5, -4, 1000, 0.5]);
  assert.deepEqual(parseNumbers("1 dos 3"), [1, "dos", 3]);
  assert.deepEqual(parseNumbers("   "), []);
  // Past a double's range: kept as typed, never sent as null.
  assert.deepEqual(parseNumbers("1 1e400 -1e400 " + "9".repeat(400)), [
    1,
    "1e400",
    "-1e400",
    "9".repeat(400),
  ]);
  assert.ok(isTooLarge("1e400") && isTooLarge("9".repeat(400) + ",5") && !isTooLarge("dos"));
});

Deno.test("parseProductos() reads one product per line, with an optional count", () => {
  assert.deepEqual(parseProductos("pan\n\n agua x2 \r\nvino ×3\nx2\ncaja 10"), [
    "pan",
    { nombre: "agua", cantidad: 2 },
    { nombre: "vino", cantidad: 3 },
    "x2",
    "caja 10",
  ]);
});

Deno.test("parseProductos() reads a count out of range as a count, for the daemon to refuse, not as part of the name", () => {
  assert.deepEqual(parseProductos("pan x-1\npan x0\npan ×+3\npan x" + "9".repeat(20)), [
    { nombre: "pan", cantidad: -1 },
    { nombre: "pan", cantidad: 0 },
    { nombre: "pan", cantidad: 3 },
    { nombre: "pan", cantidad: 1e20 },
  ]);
  // Only whole digits are a count: a decimal or a grouped thousand is part of the name.
  assert.deepEqual(parseProductos("Tubo x 1,5\nResistencia x 4.7\nClavos x 1.000\npan x 1e400"), [
    "Tubo x 1,5",
    "Resistencia x 4.7",
    "Clavos x 1.000",
    "pan x 1e400",
  ]);
});

Deno.test("parseProductos() takes an x as a count only after a space: Xbox 360 is a name", () => {
  assert.deepEqual(
    parseProductos("Xbox 360\nFox 2\nMax 10\ntornillo 4x40\npan×2\npan X 3\nbox x 4"),
    [
      "Xbox 360",
      "Fox 2",
      "Max 10",
      "tornillo 4x40",
      { nombre: "pan", cantidad: 2 },
      { nombre: "pan", cantidad: 3 },
      { nombre: "box", cantidad: 4 },
    ],
  );
});

Deno.test("statusFor() maps each protocol code to one HTTP status", () => {
  assert.equal(statusFor("invalid_order"), 422);
  assert.equal(statusFor("invalid_user"), 422);
  assert.equal(statusFor("bad_credentials"), 401);
  assert.equal(statusFor("unauthorized"), 401);
  assert.equal(statusFor("user_exists"), 409);
  assert.equal(statusFor("too_large"), 413);
  assert.equal(statusFor("queue_full"), 503);
  assert.equal(statusFor("shutting_down"), 503);
  assert.equal(statusFor("internal"), 502);
  assert.equal(statusFor(undefined), 502);
});

Deno.test("refusal() names a product by its place and the list by how it is typed, not in JSON", () => {
  const refused = (mensaje: string) => refusal({ ok: false, error: "invalid_order", mensaje });
  assert.equal(
    refused("❌ El nombre del producto productos[0] es demasiado largo (máximo 200 caracteres)."),
    "❌ El nombre del producto n.º 1 es demasiado largo (máximo 200 caracteres).",
  );
  assert.equal(
    refused(
      '❌ Faltan los productos (lista de 1 a 100 productos, cada uno un texto o {"nombre": texto, "cantidad": entero ≥ 1}).',
    ),
    "❌ Faltan los productos (de 1 a 100, uno por línea).",
  );
  assert.equal(
    refused("❌ La cantidad del producto productos[11] debe ser un número entero de 1 a 9"),
    "❌ La cantidad del producto n.º 12 debe ser un número entero de 1 a 9",
  );
  // The protocol's field names are for programs, not for the form's reader.
  assert.equal(
    refused('❌ Falta la dirección (campo "direccion", texto de 1 a 500 caracteres).'),
    "❌ Falta la dirección (texto de 1 a 500 caracteres).",
  );
});
