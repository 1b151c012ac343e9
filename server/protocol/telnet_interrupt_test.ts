import assert from "node:assert/strict";
import { RequestFramer } from "./framing.ts";
import { findTelnetInterrupt, telnetTail } from "./telnet_interrupt.ts";

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(
    parts.flatMap((part) => typeof part === "string" ? [...new TextEncoder().encode(part)] : part),
  );
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("findTelnetInterrupt() finds telnet's Ctrl-C (IAC IP, IAC DO TIMING-MARK) and what is around it", () => {
  const found = findTelnetInterrupt(bytes('{"op":"PI', [0xff, 0xf4, 0xff, 0xfd, 0x06], "x\n"));
  assert.ok(found);
  assert.equal(text(found.before), '{"op":"PI');
  assert.equal(text(found.after), "x\n");
  assert.deepEqual([found.interrupted, found.timingMark], [true, true]);
  const mark = findTelnetInterrupt(bytes([0xff, 0xfd, 0x06]));
  assert.deepEqual([mark?.interrupted, mark?.timingMark], [false, true]);
});

Deno.test("findTelnetInterrupt() leaves every other byte FF to the framing (invalid UTF-8)", () => {
  assert.equal(findTelnetInterrupt(bytes('{"op":"PING"}\n')), null);
  for (
    const junk of [[0xff, 0xfe, 0x7b], [0xff], [0xff, 0xfd], [0xff, 0xfd, 0x07], [0xff, 0xff]]
  ) {
    assert.equal(findTelnetInterrupt(bytes("{", junk, "}\n")), null, String(junk));
  }
  // A byte FF that is not one comes before one that is.
  const later = findTelnetInterrupt(bytes([0xff, 0xfe], "a", [0xff, 0xf4], "b"));
  assert.deepEqual([...later!.before], [0xff, 0xfe, 0x61]);
  assert.equal(text(later!.after), "b");
});

Deno.test("RequestFramer.dropPartial() abandons the request being typed, not those framed before", () => {
  const framer = new RequestFramer();
  assert.deepEqual(framer.push(bytes('{"op":"PING"}\n{"cliente":')), [
    { kind: "request", text: '{"op":"PING"}' },
  ]);
  framer.dropPartial();
  assert.equal(framer.bufferedBytes, 0);
  assert.deepEqual(framer.push(bytes('{"op":"STATS"}\n')), [
    { kind: "request", text: '{"op":"STATS"}' },
  ]);
});

Deno.test("telnetTail() holds back the end of a read that may start telnet's Ctrl-C, and nothing else", () => {
  assert.equal(telnetTail(bytes('{"op":"ST', [0xff])), 1, "IAC");
  assert.equal(telnetTail(bytes('{"op":"ST', [0xff, 0xfd])), 2, "IAC DO");
  assert.equal(telnetTail(bytes('{"op":"ST', [0xff, 0xf4])), 0, "IAC IP is whole");
  assert.equal(telnetTail(bytes('{"op":"PING"}\n')), 0);
  assert.equal(telnetTail(bytes([0xfd])), 0, "DO alone is not telnet's");
  assert.equal(telnetTail(new Uint8Array()), 0);
});
