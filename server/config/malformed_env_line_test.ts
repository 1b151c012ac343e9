import assert from "node:assert/strict";
import { assignmentTexts, findMalformedLine } from "./malformed_env_line.ts";

Deno.test("findMalformedLine() points at a line without = by number and first word", () => {
  const text = "# the port\n\nPEDIDOS_WORKERS=2\nPEDIDOS_PORT 9504\n";
  assert.deepEqual(findMalformedLine(text), { line: 4, start: "PEDIDOS_PORT" });
  assert.deepEqual(findMalformedLine("PEDIDOS_PORT: 1\n"), { line: 1, start: "PEDIDOS_PORT" });
  assert.deepEqual(findMalformedLine("=5\n"), { line: 1, start: "" });
});

Deno.test("findMalformedLine() shows no more of a bad line than the name it starts with, never a secret after it", () => {
  assert.deepEqual(findMalformedLine("PGPASSWORD:s3cret\n"), { line: 1, start: "PGPASSWORD" });
  assert.deepEqual(findMalformedLine("root:*:20228:0:99999:7:::\n"), { line: 1, start: "root" });
  assert.deepEqual(findMalformedLine('"quoted value"\n'), { line: 1, start: "" });
});

Deno.test("findMalformedLine() takes assignments, export, comments, blanks and quoted values over lines", () => {
  const text = [
    "  # comment",
    "",
    "PEDIDOS_PORT=1",
    "export PEDIDOS_WORKERS=2",
    "  PEDIDOS_LOG = debug  ",
    "PEDIDOS_PROCESSOR=",
    'PEDIDOS_DB="multi',
    "line value",
    'ends"',
    "PEDIDOS_HOST='x' # trailing",
    'PEDIDOS_X="never closed',
    "\r",
  ].join("\n");
  assert.equal(findMalformedLine(text), null);
  assert.equal(findMalformedLine("A=1\r\nB=2\r\n"), null);
});

Deno.test("findMalformedLine() refuses export followed by a tab, which parseEnv would not read as export", () => {
  // parseEnv names this variable "export\tPEDIDOS_WORKERS": PEDIDOS_WORKERS would stay unset.
  assert.deepEqual(findMalformedLine("export\tPEDIDOS_WORKERS=2\n"), {
    line: 1,
    start: "export",
  });
  assert.equal(findMalformedLine("export \tPEDIDOS_WORKERS=2\nexport  PEDIDOS_PORT=1\n"), null);
  assert.equal(findMalformedLine("export=1\n"), null);
});

Deno.test("assignmentTexts() gives each assignment's text, quoted values over lines whole", () => {
  const text = '# c\nA=1\n\nexport B="two\nlines"\nA=3\r\nnot an assignment\n';
  assert.deepEqual(assignmentTexts(text), ["A=1", 'export B="two\nlines"', "A=3\r"]);
});
