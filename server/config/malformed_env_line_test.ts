import assert from "node:assert/strict";
import { assignmentTexts, findMalformedLine } from "./malformed_env_line.ts";

Deno.test("findMalformedLine() points at a line without = by number and first word", () => {
  const text = "# the port\n\nPEDIDOS_WORKERS=2\nPEDIDOS_PORT 9504\n";
  assert.deepEqual(findMalformedLine(text), { line: 4, start: "PEDIDOS_PORT", problem: "form" });
  assert.deepEqual(findMalformedLine("PEDIDOS_PORT: 1\n"), {
    line: 1,
    start: "PEDIDOS_PORT",
    problem: "form",
  });
  assert.deepEqual(findMalformedLine("=5\n"), { line: 1, start: "", problem: "form" });
});

Deno.test("findMalformedLine() shows no more of a bad line than the name it starts with, never a secret after it", () => {
  assert.deepEqual(findMalformedLine("PGPASSWORD:s3cret\n"), {
    line: 1,
    start: "PGPASSWORD",
    problem: "form",
  });
  assert.deepEqual(findMalformedLine("root:*:20228:0:99999:7:::\n"), {
    line: 1,
    start: "root",
    problem: "form",
  });
  assert.deepEqual(findMalformedLine('"quoted value"\n'), { line: 1, start: "", problem: "form" });
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
    problem: "form",
  });
  assert.equal(findMalformedLine("export \tPEDIDOS_WORKERS=2\nexport  PEDIDOS_PORT=1\n"), null);
  assert.equal(findMalformedLine("export=1\n"), null);
});

Deno.test("assignmentTexts() gives each assignment's text, quoted values over lines whole", () => {
  const text = '# c\nA=1\n\nexport B="two\nlines"\nA=3\r\nnot an assignment\n';
  assert.deepEqual(assignmentTexts(text), ["A=1", 'export B="two\nlines"', "A=3\r"]);
});

Deno.test("findMalformedLine() refuses an unquoted value that a # would cut short, naming only the variable", () => {
  assert.deepEqual(findMalformedLine("PEDIDOS_DB=p#q.db\n"), {
    line: 1,
    start: "PEDIDOS_DB",
    problem: "hash",
  });
  assert.deepEqual(
    findMalformedLine("# x\nexport PEDIDOS_DB=postgres://ana:pa#ss@db/x\n"),
    { line: 2, start: "PEDIDOS_DB", problem: "hash" },
  );
  assert.deepEqual(findMalformedLine("PEDIDOS_PROCESSOR=#mod\n"), {
    line: 1,
    start: "PEDIDOS_PROCESSOR",
    problem: "hash",
  });
  // A comment after a space, and a # inside quotes, are what they look like.
  assert.equal(findMalformedLine("PEDIDOS_PORT=9504 # the port\nPEDIDOS_LOG= # none\n"), null);
  assert.equal(findMalformedLine("PEDIDOS_DB=\"p#q.db\"\nPEDIDOS_HOST='a#b' # c\n"), null);
  // Only the first "#" counts: a comment may hold more.
  const comments = [
    "PEDIDOS_WORKERS=3 ## workers",
    "PEDIDOS_PORT=9504 # see issue#3",
    "PEDIDOS_WORKERS=3 # https://example.com/#x",
  ];
  assert.equal(findMalformedLine(comments.join("\n")), null);
  // Another program's variables in a shared file are not pedidos' to refuse.
  assert.equal(findMalformedLine("VITE_COLOR=#fff\nAPP_URL=https://x/#/route\n"), null);
});
