import assert from "node:assert/strict";
import { ESTADOS } from "../../../server/protocol/messages.ts";
import { APP_CSS } from "../static.ts";
import { EstadoBadge, estadoClass } from "./estado_badge.tsx";

Deno.test("EstadoBadge shows the state in words with its class", () => {
  assert.equal(
    String(<EstadoBadge estado="en proceso" />),
    '<span class="estado en-proceso">en proceso</span>',
  );
  assert.equal(
    String(<EstadoBadge estado="cancelado" />),
    '<span class="estado cancelado">cancelado</span>',
  );
});

Deno.test("every state of the protocol has a badge style and a timeline bar style", () => {
  for (const estado of ESTADOS) {
    const css = estadoClass(estado);
    assert.match(APP_CSS, new RegExp(`\\.estado\\.${css} \\{ background: #`), estado);
    if (estado !== "pendiente") {
      // A waiting order has no bar; every other state may have one.
      assert.match(APP_CSS, new RegExp(`\\.tl-bar\\.${css} rect \\{ fill: `), estado);
    }
  }
  assert.match(APP_CSS, /\.estado\.cancelado \{ background: #e5e7eb; color: #374151; \}/, "grey");
});
