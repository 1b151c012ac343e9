import assert from "node:assert/strict";
import { findMalformedLine } from "./malformed_env_line.ts";

Deno.test("findMalformedLine() points at a line without = by number and first word", () => {
  const text = "# the port\n\nPEDIDOS_WORKERS=2\nPEDIDOS_PORT 9504\n";
  assert.deepEqual(findMalformedLine(text), { line: 4, start: "PEDIDOS_PORT" });
  assert.deepEqual(findMalformedLine("PEDIDOS_PORT: 1\n"), { line: 1, start: "PEDIDOS_PORT:" });
  assert.deepEqual(findMalformedLine("=5\n"), { line: 1, start: "=5" });
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
