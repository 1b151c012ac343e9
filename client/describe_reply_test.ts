import assert from "node:assert/strict";
import { describeFinal, describeReply } from "./describe_reply.ts";
import type { Reply } from "../server/protocol/replies.ts";
import { SAMPLE_PEDIDO } from "./testing/cli_harness.ts";

Deno.test("describeReply() shows an error's mensaje, code and campo", () => {
  assert.equal(
    describeReply({ ok: false, error: "invalid_order", mensaje: "❌ Falta.", campo: "cliente" }),
    "❌ Falta. (invalid_order, campo cliente)\n",
  );
});

Deno.test("describeReply() shows a refusal without mensaje or code in words, never undefined", () => {
  const text = describeReply({ ok: false } as unknown as Reply);
  assert.doesNotMatch(text, /undefined/);
  assert.equal(text, "❌ El servidor rechazó la solicitud. (sin código)\n");
});

Deno.test("describeReply() shows control characters in an order as escapes, never as themselves", () => {
  const pedido = {
    ...SAMPLE_PEDIDO,
    cliente: "evil\u001b[2J\u001b[31mX",
    productos: ["pan\r\nagua", { nombre: "\u202eoñi", cantidad: 2 }],
    direccion: "C 1\u0007",
  };
  for (
    const text of [
      describeReply({ ok: true, pedidos: [pedido] } as unknown as Reply),
      describeReply({ ok: true, pedido } as unknown as Reply),
    ]
  ) {
    // deno-lint-ignore no-control-regex -- none may be left
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f\u202e]/, JSON.stringify(text));
    assert.match(text, /evil\\u001b\[2J/);
    assert.match(text, /pan\\r\\nagua/);
    assert.match(text, /\\u202eoñi ×2/);
  }
});

Deno.test("describeReply() shows every bidi control, invisible format character and line separator as an escape", () => {
  // Unicode's Bidi_Control list, the zero-width characters, the word joiner, the byte order
  // mark, a soft hyphen, the line and paragraph separators, NEL, and a tag character.
  const hidden = [
    "\u061c",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2060",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\ufeff",
    "\u00ad",
    "\u2028",
    "\u2029",
    "\u0085",
  ];
  const pedido = {
    ...SAMPLE_PEDIDO,
    cliente: `A${hidden.join("")}na`,
    productos: ["pan\u200b", { nombre: "agua\u{e0041}", cantidad: 2 }],
  };
  for (
    const text of [
      describeReply({ ok: true, pedidos: [pedido] } as unknown as Reply),
      describeReply({ ok: true, pedido } as unknown as Reply),
    ]
  ) {
    assertInert(text);
    assert.match(text, /pan\\u200b, agua\\u\{e0041\} ×2/);
  }
  // Each one as \u and its code, where a column does not cut it short (ESTADO's lines).
  const escaped = hidden.map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const estado = describeReply({ ok: true, pedido } as unknown as Reply);
  assert.ok(estado.includes(`cliente:        A${escaped.join("")}na\n`), JSON.stringify(estado));
  // What is seen is left as it is: accents, other scripts, emoji, a variation selector.
  const seen = "José Ñandú Ελένη مرحبا 東京 👍🏽 ❤️";
  assert.match(
    describeReply({ ok: true, pedido: { ...SAMPLE_PEDIDO, cliente: seen } }),
    new RegExp(seen),
  );
});

Deno.test("describeReply() keeps the joiners of words and emoji as they are, and escapes one where it joins nothing", () => {
  // Persian (a non-joiner inside a word), Devanagari, emoji joined into one (a skin tone, ❤️‍🔥 too).
  const words = "می\u200cخواهم क्\u200dष 👩\u200d💻 👨\u200d👩\u200d👧 👨🏽\u200d💻 ❤️\u200d🔥";
  const shown = describeReply({ ok: true, pedido: { ...SAMPLE_PEDIDO, cliente: words } });
  assert.ok(shown.includes(`cliente:        ${words}\n`), JSON.stringify(shown));
  // Next to ASCII, at an end, beside another invisible character: escaped.
  for (
    const [cliente, escaped] of [
      ["A\u200dna", "A\\u200dna"],
      ["\u200cAna", "\\u200cAna"],
      ["مر\u200c", "مر\\u200c"],
      ["م\u200c\u200bر", "م\\u200c\\u200bر"],
      ["👩\u200d\u200d💻", "👩\\u200d\\u200d💻"],
      // Between letters that do not join (accented Latin, Cyrillic, Han): escaped.
      ["Mü\u200dñoz", "Mü\\u200dñoz"],
      ["Ан\u200cна", "Ан\\u200cна"],
      ["東\u200d京", "東\\u200d京"],
    ] as const
  ) {
    const text = describeReply({ ok: true, pedido: { ...SAMPLE_PEDIDO, cliente } });
    assert.ok(text.includes(`cliente:        ${escaped}\n`), JSON.stringify(text));
  }
});

/** No character a terminal would act on or draw as nothing, but the newlines between lines. */
function assertInert(shown: string): void {
  const acting = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
  assert.doesNotMatch(shown.replaceAll("\n", ""), acting);
  assert.doesNotMatch(shown, /undefined/);
}

Deno.test("describeReply() shows only the fields the request's operation has, whatever else a hostile server adds", () => {
  const escape = "\u001b[2J\u001b]0;pwn\u0007";
  // An order's reply with a LISTAR's and a STATS's fields too: it is shown as an order's.
  for (const extra of [{ pedidos: null }, { stats: null }, { pedidos: [{ id: escape }] }]) {
    const shown = describeReply(
      { ok: true, id: 1, estado: "pendiente", ...extra } as never,
      "PEDIDO",
    );
    assert.equal(shown, "✅ Pedido 1 recibido (pendiente)\n");
  }
  // A reply to an operation this client does not know, or an account's: its JSON, made inert.
  for (const op of ["FOO", "LOGIN", null]) {
    const shown = describeReply(
      { ok: true, pedido: null, x: `\u009b${escape}\u202e` } as never,
      op,
    );
    assert.match(shown, /^\{"ok":true,"pedido":null,"x":/);
    assertInert(shown);
  }
});

Deno.test("describeReply() and describeFinal() make every key and value inert, and show what a server left out as such", () => {
  const escape = "\u001b[2J";
  const pedido = {
    id: 7,
    estado: "listo",
    cliente: "Ana",
    productos: [{ nombre: "pan" }, { nombre: `vino${escape}`, cantidad: 2 }],
    direccion: "Calle 1",
    fecha_recibido: "2026-12-06T04:05:06.789Z",
    duracion_ms: 5,
    [escape]: escape,
  };
  const estado = describeReply({ ok: true, pedido } as never, "ESTADO");
  assertInert(estado);
  assert.match(estado, /pan, vino\\u001b\[2J ×2/);
  assertInert(describeReply({ ok: true, pedidos: [pedido] } as never, "LISTAR"));
  assertInert(describeFinal({ ok: true, pedido } as never));
  assert.equal(describeFinal({ ok: true, pedido } as never), "✅ Pedido 7 listo en 5 ms\n");
  const stats = describeReply(
    { ok: true, stats: { recibidos: 1, duracion_ms: { [escape]: 1, p50: null } } } as never,
    "STATS",
  );
  assertInert(stats);
  assert.match(stats, /\\u001b\[2J 1 · p50 —/);
});

/**
 * The terminal columns of the text of the test below, counted apart from
 * the code under test: its CJK characters and emoji take 2, its combining
 * accent 0, the rest 1.
 */
function shownColumns(text: string): number {
  let total = 0;
  for (const c of text) {
    if (/[\u3040-\u30ff\u4e00-\u9fff]|\p{Emoji_Presentation}/u.test(c)) total += 2;
    else if (c !== "\u0301") total += 1;
  }
  return total;
}

Deno.test("describeReply() lines up LISTAR's columns after wide names (CJK, emoji) and combining accents", () => {
  const pedidos = [
    { ...SAMPLE_PEDIDO, id: 1, cliente: "山田太郎", productos: ["寿司"] },
    { ...SAMPLE_PEDIDO, id: 2, cliente: "🍣".repeat(30), productos: ["pan"] },
    { ...SAMPLE_PEDIDO, id: 3, cliente: "Jose\u0301", productos: ["🍞", "agua"] },
    { ...SAMPLE_PEDIDO, id: 4, cliente: "Ana", productos: ["pan"] },
  ];
  const shown = describeReply({ ok: true, pedidos } as unknown as Reply, "LISTAR");
  const lines = shown.split("\n").slice(0, 5);
  const at = (line: string, text: string) => shownColumns(line.slice(0, line.indexOf(text)));
  const recibido = at(lines[0]!, "RECIBIDO");
  const productos = at(lines[0]!, "PRODUCTOS");
  for (const line of lines.slice(1)) {
    assert.equal(at(line, "2026-11-23T13:16:00.123Z"), recibido, shown);
  }
  for (const [line, first] of [[lines[1], "寿司"], [lines[2], "pan"], [lines[3], "🍞"]] as const) {
    assert.equal(at(line!, first), productos, shown);
  }
  // The name cut to the column's 24: 11 emoji and the ellipsis, 23 columns.
  assert.ok(lines[2]!.includes(`${"🍣".repeat(11)}…`), shown);
  assert.ok(!lines[2]!.includes("🍣".repeat(12)), shown);
});
