import assert from "node:assert/strict";
import { invalidTextField } from "./form_text.ts";

const URLENCODED = "application/x-www-form-urlencoded";

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

Deno.test("invalidTextField() names the field whose value is no UTF-8", () => {
  assert.equal(invalidTextField(bytes("a=1&cliente=%ff%fe%80&b=2"), URLENCODED), "cliente");
  assert.equal(invalidTextField(bytes("cliente=%C3"), URLENCODED), "cliente", "a cut sequence");
  assert.equal(invalidTextField(bytes("x=%ED%A0%80"), URLENCODED), "x", "a surrogate's bytes");
});

Deno.test("invalidTextField() passes text, accents and emoji, encoded or raw, and odd percent signs", () => {
  assert.equal(
    invalidTextField(bytes("cliente=Jos%C3%A9+%F0%9F%8D%95&dir=%&x=%zz&y&=z&Ñandú=sí"), URLENCODED),
    null,
  );
  assert.equal(invalidTextField(bytes(""), URLENCODED), null);
  assert.equal(invalidTextField(bytes('{"a":1}'), "application/json"), null, "no form");
});

Deno.test("invalidTextField() names a field whose name is no UTF-8", () => {
  assert.equal(invalidTextField(bytes("ok=1&%ff=2"), URLENCODED), "\ufffd");
});

Deno.test("invalidTextField() reads the text parts of a multipart form, not its files", () => {
  const body = (value: Uint8Array, file = false) =>
    new Uint8Array([
      ...bytes(
        `--XX\r\nContent-Disposition: form-data; name="cliente"${
          file ? '; filename="a.bin"' : ""
        }\r\n\r\n`,
      ),
      ...value,
      ...bytes("\r\n--XX--\r\n"),
    ]);
  const type = "multipart/form-data; boundary=XX";
  assert.equal(invalidTextField(body(new Uint8Array([0xff, 0xfe, 0x80])), type), "cliente");
  assert.equal(invalidTextField(body(bytes("José")), type), null);
  assert.equal(invalidTextField(body(new Uint8Array([0xff]), true), type), null);
});

/** A multipart body as a browser sends it, from a FormData, and its `Content-Type`. */
async function multipart(fields: Record<string, string>) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  const response = new Response(form);
  const type = response.headers.get("content-type")!;
  return { body: new Uint8Array(await response.arrayBuffer()), type };
}

Deno.test("invalidTextField() passes multipart text whose UTF-8 has bytes 0x80-0x9f (€, emoji)", async () => {
  const { body, type } = await multipart({
    tarea: "upper",
    texto: "precio 5 € 😀",
    "añadido": "ü",
  });
  assert.ok(body.some((b) => b >= 0x80 && b <= 0x9f), "the body has such bytes");
  assert.equal(invalidTextField(body, type), null);
});

Deno.test("invalidTextField() names a multipart field that is no UTF-8, after fields that are", () => {
  const type = "multipart/form-data; boundary=B";
  const part = (name: string, value: Uint8Array) => [
    ...bytes(`--B\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`),
    ...value,
    ...bytes("\r\n"),
  ];
  const body = new Uint8Array([
    ...part("tarea", bytes("5 € 😀")),
    ...part("texto", new Uint8Array([0x41, 0x80, 0x9f])),
    ...bytes("--B--\r\n"),
  ]);
  assert.equal(invalidTextField(body, type), "texto");
  const cut = new Uint8Array([...part("texto", new Uint8Array([0xe2, 0x82])), ...bytes("--B--")]);
  assert.equal(invalidTextField(cut, type), "texto", "a cut sequence");
});
