import assert from "node:assert/strict";
import { Problem } from "./problem.tsx";

Deno.test("Problem shows one icon, also for a daemon's message that brings its own", () => {
  assert.equal(
    String(<Problem text="❌ El servidor se está deteniendo" />),
    '<p class="banner" role="alert" data-problem="true">⚠️ El servidor se está deteniendo</p>',
  );
  assert.equal(
    String(<Problem text="No hay conexión con el servidor." />),
    '<p class="banner" role="alert" data-problem="true">⚠️ No hay conexión con el servidor.</p>',
  );
});
